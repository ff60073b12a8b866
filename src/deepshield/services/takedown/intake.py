"""Use cases: taking a takedown request, completing an incomplete one, and expiring drafts.

A request is written whole or not at all: the case, its locations, its contact details, its
clocks, its hashes in the reports bank, the audit events and the receipt in the outbox share
one transaction. Once it commits, a match of the content finds the case's hashes at once.

The public (keyless) door keeps incomplete requests, as the law wants, but is not a free write
amplifier: one address may open at most ``cases.public_cases_per_address_per_day`` new cases a
UTC day (429 with ``Retry-After`` beyond; counted in the database, so across workers and
restarts, under an HMAC of day and address with the installation's hash key, never the
address), and a public
request nobody completed is erased ``cases.draft_expiry_hours`` after it was filed
(``expire_public_drafts``: the server's background round and ``deepshield cases tick``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deepshield.cases import intake, misuse, pins
from deepshield.cases.clocks import jurisdictions_for
from deepshield.cases.numbers import new_case_number
from deepshield.cases.states import UPDATABLE, CaseState, require_move, require_state
from deepshield.errors import Forbidden, InvalidRequest, InvalidSignal, LowQualityHash, RateLimited
from deepshield.services.access import Action, Principal, Role, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.spread.banks import SignalInput, validate_signal
from deepshield.services.takedown import (
    case_answers,
    case_clocks,
    case_events,
    case_hashes,
    case_lookup,
    case_reading,
)
from deepshield.services.takedown.records import CaseView, FiledCase
from deepshield.store import case_repository as repo
from deepshield.store import public_filing_repository as filings
from deepshield.store.hash_sealing import HashKeyUnavailable
from deepshield.store.models import Case, CaseContact

_MAX_REQUEST_KEY_CHARS = 200
#: The largest request form (JSON) a door reads, in bytes: room for a long video's vPDQ hash
#: (``cases.intake.MAX_VPDQ_CHARS``, one line a second) and the rest of the form.
MAX_INTAKE_BODY_BYTES = intake.MAX_VPDQ_CHARS + 512 * 1024
_REPORTS_BANK_DESCRIPTION = "Hashes of takedown requests (victims' devices and helplines), for review"


def file_request(ctx: ServiceContext, form: dict[str, Any], principal: Principal | None, *,
                 request_key: str | None = None, now: datetime | None = None,
                 address: str | None = None) -> FiledCase:
    """Take a request. ``principal`` None is a victim or representative filing without a key,
    from ``address`` (counted against the public door's daily cap per address).

    Malformed input raises ``InvalidRequest`` naming the field and writes nothing. A request
    lacking required items is kept as ``incomplete`` with ``missing`` saying what to add; a
    complete one is ``valid`` with its clocks running and its hashes banked; one about a
    person under 18 is ``referred`` to NCMEC's Take It Down and handled no further. The same
    ``request_key`` from the same filer returns the first case (``pin`` None).

    Without a principal (the public door), ``address`` is the caller's address as the door
    resolved it: a new case over the day's cap for it raises ``RateLimited``; a retry with the
    same ``request_key`` still gets its case.
    """
    now = case_clocks.current_time(now)
    if principal is not None:
        authorize(principal, Action.CASE_FILE)
    filed_by = principal.actor if principal is not None else case_events.PUBLIC_FILER
    key_digest = _request_key_digest(filed_by, request_key, form)
    form_in = intake.parse_form(form)
    _check_role(form_in, principal)
    hashes = _validated_hashes(ctx, form_in.hashes)
    form_in = replace(form_in, hashes=hashes)

    if key_digest is not None:
        existing = _existing(ctx, key_digest)
        if existing is not None:
            return existing
    slot = _public_slot(ctx, address, now) if principal is None else None
    if slot is not None:
        with ctx.store.transaction() as session:  # before the PIN's KDF: no work for a refusal
            if filings.count_for(session, slot.day, slot.address_hash) >= slot.cap:
                raise _over_cap(slot, now)
    reporter = principal.actor if principal is not None else (
        misuse.reporter_ref_for_email(form_in.contact_email) if form_in.contact_email else None)
    if reporter is not None:
        with ctx.store.transaction() as session:
            _refuse_suspended(session, reporter, now)

    referred = intake.is_under_18(form_in)
    lacking = [] if referred else intake.missing(form_in)
    state = CaseState.REFERRED if referred else CaseState.INCOMPLETE if lacking else CaseState.VALID
    require_move(CaseState.RECEIVED.value, state.value, f"become {state.value}")
    if state is CaseState.VALID and hashes:
        case_hashes.ensure_bank(ctx, ctx.settings.cases.reports_bank, _REPORTS_BANK_DESCRIPTION)
    pin = pins.new_pin()
    # The KDF runs before the transaction: no lock is held while it works.
    pin_hash = pins.hash_pin(pin, ctx.settings.cases.pin_kdf_log2_n)

    try:
        with ctx.store.transaction() as session:
            if slot is not None and not filings.take(session, slot.day, slot.address_hash, slot.cap):
                raise _over_cap(slot, now)
            case_number = _unused_case_number(session)
            case = repo.add_case(session, Case(
                case_number=case_number, state=state.value,
                requester_role=form_in.requester_role or "", filed_by=filed_by[:64],
                received_at=now, pin_hash=pin_hash, pin_failures=0, request_key=key_digest,
                legal_hold=False))
            contact = None
            if referred:
                # Nothing identifying and no content details are kept for a child's case:
                # only that it was referred, and where.
                kept = intake.RequestForm(requester_role=form_in.requester_role, depicted_under_18=True)
                case_answers.set_answers(case, kept, [])
            else:
                repo.add_locations(session, case.id, [(loc.kind, loc.location) for loc in form_in.locations])
                contact = _save_contact(session, case.id, form_in)
                case_answers.set_answers(case, form_in, hashes if lacking else [])
                case.jurisdictions = ",".join(sorted(
                    jurisdictions_for(form_in.countries)))
            case_events.record(session, principal.actor if principal else case_events.PUBLIC_FILER,
                               "case.file", case,
                          state=case.state, requester_role=case.requester_role,
                          locations=len(form_in.locations) if not referred else 0,
                          hashes=len(hashes) if not referred else 0, missing=len(lacking),
                          in_immediate_danger=bool(form_in.in_immediate_danger))
            if state is CaseState.VALID:
                _complete(session, ctx, case, form_in, filed_by, now)
            case_events.notify(session, ctx.settings, "received", case, contact,
                          _receipt_detail(session, case, form_in, lacking))
            case_id = case.id
    except IntegrityError:
        # Two retries with one key raced: the first one's case is the answer.
        if key_digest is not None:
            existing = _existing(ctx, key_digest)
            if existing is not None:
                return existing
        raise
    return FiledCase(case_reading.read_case_by_id(ctx, case_id), pin)


def update_request(ctx: ServiceContext, case_number: str, changes: dict[str, Any],
                   principal: Principal, *, now: datetime | None = None) -> CaseView:
    """Add what an incomplete request lacked (same fields as the form; locations and hashes are
    added to those given before). When nothing is missing any more the case becomes ``valid``
    and its clocks start now; answering that the person is under 18 refers it instead."""
    now = case_clocks.current_time(now)
    authorize(principal, Action.CASE_UPDATE)
    change = intake.parse_form(changes)
    if change.requester_role is not None:
        _check_role(change, principal)
    change = replace(change, hashes=_validated_hashes(ctx, change.hashes))
    # The bank a completed request's hashes go to; creating it is harmless if this stays incomplete.
    case_hashes.ensure_bank(ctx, ctx.settings.cases.reports_bank, _REPORTS_BANK_DESCRIPTION)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        require_state(case.state, UPDATABLE, "be updated: only an incomplete request can be")
        if case.filed_by == case_events.PUBLIC_FILER:
            if change.requester_role == "helpline":
                raise Forbidden("requester_role: a request filed without a key cannot become a helpline's")
            if change.contact_email:
                _refuse_suspended(session, misuse.reporter_ref_for_email(change.contact_email), now)
        stored = case_answers.stored_form(session, case)
        merged = stored.merged(change)
        if merged.webhook_url and merged.requester_role != "helpline":
            raise InvalidRequest("contact.webhook_url: only a helpline's request may give a webhook")
        under_18 = intake.is_under_18(merged)
        lacking = [] if under_18 else intake.missing(merged)
        new_locations = [loc for loc in merged.locations if loc not in stored.locations]
        changed = sorted(name for name, value in change.__dict__.items() if value not in (None, ()))
        contact = None
        if under_18:
            require_move(case.state, CaseState.REFERRED.value, "be referred")
            _refer(session, case, merged)
        else:
            repo.add_locations(session, case.id, [(loc.kind, loc.location) for loc in new_locations])
            contact = _save_contact(session, case.id, merged)
            case.requester_role = merged.requester_role or ""
            case_answers.set_answers(case, merged, merged.hashes if lacking else [])
            case.jurisdictions = ",".join(sorted(jurisdictions_for(merged.countries)))
            if not lacking:
                require_move(case.state, CaseState.VALID.value, "become valid")
                case.state = CaseState.VALID.value
        case_events.record(session, principal.actor, "case.update", case, state=case.state, fields=changed,
                      locations_added=len(new_locations), missing=len(lacking))
        if case.state == CaseState.VALID.value:
            _complete(session, ctx, case, merged, principal.actor, now)
        if case.state in (CaseState.VALID.value, CaseState.REFERRED.value):
            # The receipt of the now complete (or referred) request.
            case_events.notify(session, ctx.settings, "received", case, contact,
                          _receipt_detail(session, case, merged, lacking))
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


def expire_public_drafts(ctx: ServiceContext, *, now: datetime | None = None) -> int:
    """Erase the public requests nobody completed within ``cases.draft_expiry_hours`` of filing
    (state still received or incomplete, no legal hold): the case, its PIN, contact details,
    locations and queued messages go; an automated ``case.expire`` audit event stays. Also
    forgets the per-address filing counts of past days. Idempotent and safe in several
    processes at once. Returns how many requests were erased."""
    now = case_clocks.current_time(now)
    cutoff = now - timedelta(hours=ctx.settings.cases.draft_expiry_hours)
    erased = 0
    with ctx.store.transaction() as session:
        filings.prune_before(session, _day(now))
        stale = repo.stale_drafts(session, filed_by=case_events.PUBLIC_FILER, states=_DRAFT_STATES,
                                  received_before=cutoff, limit=_EXPIRE_BATCH)
    for case_id in stale:
        with ctx.store.transaction() as session:
            case = repo.get_by_id(session, case_id, for_update=True)
            # Checked again under the lock: completed, held or erased meanwhile is left alone.
            if (case is None or case.filed_by != case_events.PUBLIC_FILER or case.state not in _DRAFT_STATES
                    or case.legal_hold or case.received_at >= cutoff):
                continue
            age_hours = round((now - case.received_at).total_seconds() / 3600, 1)
            case_events.record(session, case_events.SYSTEM_ACTOR, "case.expire", case, automated=True,
                          state=case.state, age_hours=age_hours,
                          expiry_hours=ctx.settings.cases.draft_expiry_hours)
            repo.erase_case(session, case_id)
            erased += 1
    return erased


# --- the public door's daily cap -------------------------------------------------------------------

#: States of a request that nobody has completed yet.
_DRAFT_STATES = (CaseState.RECEIVED.value, CaseState.INCOMPLETE.value)
#: Drafts erased per round at most; the next round takes the rest.
_EXPIRE_BATCH = 500


@dataclass(frozen=True)
class _Slot:
    day: str
    address_hash: str
    cap: int


def _public_slot(ctx: ServiceContext, address: str | None, now: datetime) -> _Slot | None:
    """Where a public filing from ``address`` is counted today; None when there is no cap."""
    cap = ctx.settings.cases.public_cases_per_address_per_day
    if cap <= 0:
        return None
    keyring = ctx.store.hash_keyring
    if keyring is None:
        raise HashKeyUnavailable("this store has no hash key configured: it keys the public "
                                 "filers' address counts too")
    day = _day(now)
    # Keyed by the installation's hash key (store/hash_sealing.py), which lives outside the
    # database: a copy of the database alone cannot test which addresses filed.
    digest = keyring.keyed_digest(b"public-filing", f"{day}\x00{address_group(address)}".encode())
    return _Slot(day, digest, cap)


def _day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def address_group(address: str | None) -> str:
    """What one filer is counted as: the IPv4 address, or the IPv6 /64 (one household or
    device gets a whole /64, and could otherwise file from each of its addresses)."""
    text = (address or "").strip() or "unknown"
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return text[:200]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def _over_cap(slot: _Slot, now: datetime) -> RateLimited:
    tomorrow = datetime.fromisoformat(slot.day).replace(tzinfo=UTC) + timedelta(days=1)
    wait = max(1, int((tomorrow - now).total_seconds()) + 1)
    return RateLimited(
        f"this address has already filed {slot.cap} new requests today, the most allowed without an "
        f"account. To add to a request you filed, use its case number and PIN (PATCH "
        f"/v1/cases/{{case_number}}); a helpline can also file for you. New requests open again at "
        f"midnight UTC, in {wait // 3600} h {wait % 3600 // 60} min", wait)


# --- helpers ------------------------------------------------------------------------------------


def _complete(session: Session, ctx: ServiceContext, case: Case, form: intake.RequestForm, actor: str,
              now: datetime) -> None:
    """The request is complete: start its clocks from now and bank its hashes for review."""
    case.completed_at = now
    clocks = case_clocks.start_clocks(session, ctx.settings, case, form, now)
    entries = case_hashes.bank_hashes(session, ctx.settings, case, form.hashes,
                                 bank_name=ctx.settings.cases.reports_bank,
                                 origin=case_hashes.origin_for(form.requester_role), actor=actor)
    case_events.record(session, case_events.SYSTEM_ACTOR, "case.valid", case, automated=True,
                  clocks=[{"jurisdiction": c.jurisdiction, "duty": c.duty, "due_at": c.due_at.isoformat()}
                          for c in clocks],
                  entry_ids=[entry.id for entry in entries])


def _refer(session: Session, case: Case, form: intake.RequestForm) -> None:
    """Turn an incomplete request into an under-18 referral: nothing identifying is kept."""
    case.state = CaseState.REFERRED.value
    contact = repo.get_contact(session, case.id)
    if contact is not None:
        session.delete(contact)
    for location in repo.locations_of(session, case.id):
        session.delete(location)
    case_answers.set_answers(case, intake.RequestForm(requester_role=form.requester_role,
                                                      depicted_under_18=True),
                       [])
    case.jurisdictions = ""
    session.flush()


def _receipt_detail(session: Session, case: Case, form: intake.RequestForm,
                    lacking: list[str]) -> dict[str, Any]:
    """What the receipt says: the state, what is missing, the deadlines, and where to go."""
    detail: dict[str, Any] = {"state": case.state, "missing": list(lacking),
                              "clocks": [{"jurisdiction": c.jurisdiction, "duty": c.duty, "due_at": c.due_at}
                                         for c in repo.clocks_of(session, case.id)]}
    if case.state == CaseState.REFERRED.value:
        detail["referral"] = intake.UNDER_18_REFERRAL
    if form.in_immediate_danger:
        detail["safety_advice"] = intake.SAFETY_ADVICE
    if case.due_at is not None:
        detail["due_at"] = case.due_at.isoformat()
    return detail


def _save_contact(session: Session, case_id: int, form: intake.RequestForm) -> CaseContact:
    return repo.save_contact(session, case_id, signature_name=form.signature_name or "",
                             contact_email=form.contact_email or "", webhook_url=form.webhook_url or "")


def _check_role(form: intake.RequestForm, principal: Principal | None) -> None:
    if form.requester_role == "helpline" and (principal is None
                                              or principal.role not in (Role.HELPLINE, Role.ADMIN)):
        raise Forbidden("requester_role: only a helpline's key may file as a helpline")
    if form.webhook_url and form.requester_role not in (None, "helpline"):
        raise InvalidRequest("contact.webhook_url: only a helpline's request may give a webhook")
    if form.webhook_url and (principal is None or principal.role not in (Role.HELPLINE, Role.ADMIN)):
        raise InvalidRequest("contact.webhook_url: only a helpline's request may give a webhook")


def _validated_hashes(ctx: ServiceContext,
                      hashes: tuple[intake.HashInput, ...]) -> tuple[intake.HashInput, ...]:
    """Each hash checked as the banks check it (shape, bits set, quality), normalised."""
    min_quality = ctx.settings.match.pdq_min_quality
    checked = []
    for index, item in enumerate(hashes):
        try:
            signal_type, value, quality = validate_signal(
                SignalInput(item.signal_type, item.value, item.quality), min_quality)
        except (InvalidSignal, LowQualityHash) as exc:
            raise InvalidRequest(f"hashes[{index}]: {exc.detail}") from exc
        checked.append(intake.HashInput(signal_type, value, quality))
    return tuple(dict.fromkeys(checked))


def _request_key_digest(filed_by: str, request_key: str | None, form: object) -> str | None:
    """The stored idempotency key, scoped to the filer: one filer's key never finds another's
    case. Every filer without an API key shares one scope, so there the key alone must not
    find a case: it is bound to the form too (a retry sends the same form with the same key;
    anyone else would need to know both)."""
    if request_key is None:
        return None
    if (not isinstance(request_key, str) or not request_key.strip()
            or len(request_key) > _MAX_REQUEST_KEY_CHARS or not request_key.isprintable()):
        raise InvalidRequest(f"request_key: 1-{_MAX_REQUEST_KEY_CHARS} printable characters")
    form_digest = ""
    if filed_by == case_events.PUBLIC_FILER:
        form_digest = hashlib.sha256(json.dumps(form, sort_keys=True, default=str).encode()).hexdigest()
    return hashlib.sha256(f"{filed_by}\x00{request_key.strip()}\x00{form_digest}".encode()).hexdigest()


def _existing(ctx: ServiceContext, key_digest: str) -> FiledCase | None:
    with ctx.store.transaction() as session:
        case = repo.get_by_request_key(session, key_digest)
        if case is None:
            return None
        case_events.record(session, case.filed_by, "case.read", case, retry=True)
        return FiledCase(case_reading.read_case(session, ctx.settings, case), None)


def _unused_case_number(session: Any) -> str:
    while True:  # 60 random bits: a clash is all but impossible, but costs nothing to rule out
        number = new_case_number()
        if repo.get_by_number(session, number) is None:
            return number


def _refuse_suspended(session: Session, subject_ref: str, now: datetime) -> None:
    """``Forbidden`` while the reporter (a key's actor, or a public filer's hashed email) is suspended."""
    strikes = [misuse.PastStrike(strike.kind, strike.at, strike.until)
               for strike in repo.strikes_for(session, "reporter", subject_ref)]
    suspended, until = misuse.suspended_until(strikes, now)
    if suspended:
        when = f"{until:%Y-%m-%d %H:%M} UTC" if until is not None else "an operator lifts the suspension"
        raise Forbidden(f"this reporter is suspended until {when}")
