"""What the case use cases share: finding a case the caller may see, building its view,
the audit and notification calls, clocks bookkeeping and applying a withdrawal.

The use cases themselves are in ``case_intake``, ``case_review`` and ``victim_access``; the
contract (names, dataclasses) is ``deepshield.services.cases``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from deepshield.cases import clocks as clock_rules
from deepshield.cases import intake
from deepshield.cases.numbers import parse_case_number
from deepshield.cases.states import CaseState
from deepshield.errors import Conflict, InvalidRequest, NotFound
from deepshield.services.access import Principal, case_in_scope
from deepshield.services.banks import EntryInfo, Origin, SignalInput, add_signals_in
from deepshield.services.cases import (
    NOT_VISIBLE,
    AppealView,
    CaseView,
    ClockView,
    HistoryItem,
    LocationView,
    PauseView,
)
from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from deepshield.store import audit_repository as audit
from deepshield.store import bank_repository
from deepshield.store import case_repository as repo
from deepshield.store.models import Bank, Case, CaseClock, CaseContact, utcnow

#: The actor of what the system does on its own (clocks, withdrawals after the cool-off).
SYSTEM_ACTOR = "system:cases"
#: ``Case.filed_by`` of a request filed without a key (a victim or her representative).
PUBLIC_FILER = "public"
#: Audit actions that read rather than change a case: left out of its history.
READ_ACTIONS = frozenset({"case.read", "case.list", "case.read_contact", "victim.login",
                          "victim.login_failed", "victim.locked"})
_PENDING_HASHES = "pending_hashes"


def current_time(now: datetime | None) -> datetime:
    """``now`` (UTC-aware, as tests pass it) or the clock's time."""
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise InvalidRequest("times must carry a time zone (UTC)")
    return now.astimezone(UTC)


def check_text(value: Any, field: str, *, min_chars: int, max_chars: int) -> str:
    """A trimmed free-text answer of a reviewer or requester, within bounds, or InvalidRequest."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: must be text")
    text = value.strip()
    if len(text) < min_chars:
        raise InvalidRequest(f"{field}: give at least {min_chars} characters")
    if len(text) > max_chars:
        raise InvalidRequest(f"{field}: at most {max_chars} characters; got {len(text)}")
    if any(ord(char) < 32 and char not in "\n\r\t" for char in text):
        raise InvalidRequest(f"{field}: must not contain control characters")
    return text


# --- finding a case -----------------------------------------------------------------------------


def visible(case: Case, principal: Principal) -> bool:
    """Whether ``principal`` may see ``case``: a victim her own, a helpline the cases it filed,
    the platform's reviewers and the operator every case. The rule is ``access.case_in_scope``,
    which the bank service asks too (for entries and case references)."""
    return case_in_scope(principal, case_number=case.case_number, filed_by=case.filed_by)


def load_visible(session: Session, case_number: str, principal: Principal, *,
                 for_update: bool = False) -> Case:
    """The case with this number if ``principal`` may see it; otherwise ``NotFound`` worded
    exactly as for a number that does not exist, so probing learns nothing."""
    number = parse_case_number(case_number)
    case = repo.get_by_number(session, number, for_update=for_update) if number else None
    if case is None or not visible(case, principal):
        raise NotFound(NOT_VISIBLE)
    return case


# --- the stored request -------------------------------------------------------------------------


def answers_of(case: Case) -> dict[str, Any]:
    try:
        answers = json.loads(case.answers or "{}")
    except ValueError:
        answers = {}
    return answers if isinstance(answers, dict) else {}


def set_answers(case: Case, form: intake.RequestForm, pending: Sequence[intake.HashInput]) -> None:
    """Keep the form's non-PII answers on the case, with hashes not yet banked (an incomplete
    request's) until it completes."""
    answers = form.answers()
    if pending:
        answers[_PENDING_HASHES] = [[h.signal_type, h.value, h.quality] for h in pending]
    case.answers = json.dumps(answers, sort_keys=True)


def in_danger(case: Case) -> bool:
    """Whether the requester answered being in immediate danger."""
    return bool((answers_of(case).get("safety_check") or {}).get("in_immediate_danger"))


def pending_hashes(case: Case) -> list[intake.HashInput]:
    rows = answers_of(case).get(_PENDING_HASHES) or []
    return [intake.HashInput(str(row[0]), str(row[1]), row[2]) for row in rows]


def stored_form(session: Session, case: Case, contact: CaseContact | None = None) -> intake.RequestForm:
    """The request as it stands: answers, contact, locations and not-yet-banked hashes."""
    contact = contact or repo.get_contact(session, case.id)
    return intake.from_answers(
        answers_of(case),
        signature_name=contact.signature_name if contact else "",
        contact_email=contact.contact_email if contact else "",
        webhook_url=contact.webhook_url if contact else "",
        locations=[intake.LocationInput(row.kind, row.location)
                   for row in repo.locations_of(session, case.id)],
        hashes=pending_hashes(case),
    )


def origin_for(requester_role: str | None) -> Origin:
    return Origin.HELPLINE if requester_role == "helpline" else Origin.VICTIM_DEVICE


def bank_hashes(session: Session, settings: Settings, case: Case, hashes: Sequence[intake.HashInput], *,
                bank_name: str, origin: Origin, actor: str) -> list[EntryInfo]:
    """Add the case's hashes to ``bank_name`` in the caller's transaction (the bank exists)."""
    if not hashes:
        return []
    signals = [SignalInput(h.signal_type, h.value, h.quality) for h in hashes]
    return add_signals_in(session, bank_name, signals, origin=origin, case_ref=repo.case_ref(case.id),
                          actor=actor[:64], min_quality=settings.match.pdq_min_quality)


def ensure_bank(ctx: ServiceContext, name: str, description: str) -> None:
    """Create bank ``name`` if it does not exist yet, in a transaction of its own (an empty
    bank is harmless, and two processes creating it at once must both go on)."""
    with ctx.store.transaction() as session:
        if session.scalar(select(Bank.id).where(Bank.name == name)) is not None:
            return
    try:
        with ctx.store.transaction() as session:
            bank_repository.create_bank(session, name, description)
            audit.record_event(session, SYSTEM_ACTOR, "bank.create", f"bank:{name}", automated=True)
    except (Conflict, SQLAlchemyError):  # another process created it first: fine if it now exists
        with ctx.store.transaction() as session:
            bank_repository.get_bank(session, name)


def active_case_signals(session: Session, case: Case, bank_name: str) -> list[SignalInput]:
    """The case's active hashes in ``bank_name``, as signals."""
    return [SignalInput(entry.signal_type, entry.value, entry.quality)
            for entry, _ in repo.entries_for_case(session, case.id, bank_name=bank_name)
            if entry.enabled]


# --- clocks -------------------------------------------------------------------------------------


def clock_times(clock: CaseClock) -> clock_rules.ClockTimes:
    return clock_rules.ClockTimes(clock.started_at, clock.due_at, clock.met_at, clock.escalated_at,
                                  clock.breached_at)


def start_clocks(session: Session, settings: Settings, case: Case, form: intake.RequestForm,
                 at: datetime) -> list[CaseClock]:
    """Start the clocks a complete request's jurisdiction answers call for, from ``at``."""
    plans = clock_rules.plan_clocks(form.countries, settings.cases)
    clocks = [repo.add_clock(session, case.id, jurisdiction=plan.jurisdiction, duty=plan.duty,
                             started_at=at, due_at=clock_rules.due_at(plan, at)) for plan in plans]
    case.jurisdictions = ",".join(sorted(plan.jurisdiction for plan in plans))
    refresh_due(session, case)
    return clocks


def meet_clocks(session: Session, case: Case, act: str, at: datetime) -> list[CaseClock]:
    """Mark the clocks ``act`` fulfils as met at ``at``; returns those newly met."""
    duties = clock_rules.duties_met_by(act)
    met = []
    for clock in repo.clocks_of(session, case.id):
        if clock.met_at is None and clock.duty in duties:
            clock.met_at = at
            met.append(clock)
    refresh_due(session, case)
    return met


def refresh_due(session: Session, case: Case) -> None:
    session.flush()
    case.due_at = clock_rules.earliest_open_due(clock_times(c) for c in repo.clocks_of(session, case.id))


def paused_total(pauses: Iterable[Any]) -> timedelta:
    """How long the case's ended pauses lasted, together."""
    return sum((p.ended_at - p.started_at for p in pauses if p.ended_at is not None), timedelta(0))


# --- audit and notifications --------------------------------------------------------------------


def record(session: Session, actor: str, action: str, case: Case, *, automated: bool = False,
           **detail: Any) -> None:
    """Audit an act on ``case`` (target ``case:<id>``): ids, states and counts, never PII or hashes."""
    audit.record_event(session, actor, action, repo.case_ref(case.id), automated=automated, **detail)


def notify(session: Session, settings: Settings, event: str, case: Case,
           contact: CaseContact | None, detail: dict[str, Any]) -> int:
    """Queue the messages ``event`` calls for, in the caller's transaction (the outbox)."""
    from deepshield.services.notifications import queue_case_event

    return queue_case_event(session, settings, event=event, case=case, contact=contact, detail=detail)


# --- withdrawal ---------------------------------------------------------------------------------


def apply_withdrawal(session: Session, settings: Settings, case: Case, *, actor: str, at: datetime,
                     automated: bool) -> int:
    """Withdraw the case now: every bank entry carrying its reference, in every bank, is
    withdrawn (so it stops matching and partners' feeds show it as deleted), its hashes not yet
    banked are dropped, and its contact details are erased unless a legal hold keeps them.
    Returns how many entries were withdrawn."""
    entries = repo.entries_for_case(session, case.id)
    for entry, _ in entries:
        bank_repository.withdraw_entry(session, entry, at)
    answers = answers_of(case)
    answers.pop(_PENDING_HASHES, None)
    case.answers = json.dumps(answers, sort_keys=True)
    from_state = case.state
    case.state = CaseState.WITHDRAWN.value
    case.withdrawn_at = at
    if case.withdraw_requested_at is None:
        case.withdraw_requested_at = at
    case.withdraw_effective_at = at
    case.due_at = None
    pause = repo.open_pause(session, case.id)
    if pause is not None:
        pause.ended_at = at
    contact = repo.get_contact(session, case.id)
    # The requester hears of it before her details go.
    notify(session, settings, "withdrawn", case, contact,
           {"entries_withdrawn": len(entries), "automated": automated})
    erased = False if case.legal_hold else repo.erase_contact(session, case.id, at)
    record(session, actor, "case.withdraw", case, automated=automated, from_state=from_state,
           entry_ids=[entry.id for entry, _ in entries], banks=sorted({name for _, name in entries}),
           contact_erased=erased, legal_hold=case.legal_hold)
    return len(entries)


# --- views --------------------------------------------------------------------------------------


def case_view(session: Session, settings: Settings, case: Case, *, full: bool = True) -> CaseView:
    """The case as the doors show it (no contact details, no hash values). ``full`` adds
    pauses, appeals and history (a list leaves them out)."""
    open_pause = repo.open_pause(session, case.id)
    clock_rows = repo.clocks_of(session, case.id)
    missing: list[str] = []
    if case.state in (CaseState.RECEIVED.value, CaseState.INCOMPLETE.value):
        missing = intake.missing(stored_form(session, case))
    if case.state == CaseState.WITHDRAWN.value:
        hash_count = 0
    elif case.completed_at is not None:
        hash_count = repo.count_active_entries(session, case.id, settings.cases.reports_bank)
    else:
        hash_count = len(pending_hashes(case))
    view = CaseView(
        case_number=case.case_number,
        state=case.state,
        requester_role=case.requester_role,
        jurisdictions=[j for j in case.jurisdictions.split(",") if j],
        received_at=case.received_at,
        completed_at=case.completed_at,
        due_at=case.due_at,
        acknowledged_at=case.acknowledged_at,
        decision=case.decision,
        decision_reasons=case.decision_reasons,
        decided_by=case.decided_by,
        decision_automated=case.decision_automated,
        actioned_at=case.actioned_at,
        closed_at=case.closed_at,
        withdraw_requested_at=case.withdraw_requested_at,
        withdraw_effective_at=case.withdraw_effective_at,
        withdrawn_at=case.withdrawn_at,
        legal_hold=case.legal_hold,
        missing=missing,
        referral=intake.UNDER_18_REFERRAL if case.state == CaseState.REFERRED.value else None,
        hash_count=hash_count,
        clocks=[ClockView(c.jurisdiction, c.duty, c.started_at, c.due_at, c.met_at, c.escalated_at,
                          c.breached_at, open_pause is not None and c.met_at is None) for c in clock_rows],
        locations=[LocationView(row.id, row.kind, row.location, row.status)
                   for row in repo.locations_of(session, case.id)],
        safety_advice=intake.SAFETY_ADVICE if in_danger(case) else None,
    )
    if not full:
        return view
    return replace(
        view,
        pauses=[PauseView(p.reason, p.paused_by, p.started_at, p.ended_at)
                for p in repo.pauses_of(session, case.id)],
        appeals=[AppealView(a.id, a.kind, a.filed_by_party, a.statement, a.filed_at, a.reviewer, a.outcome,
                            a.outcome_reasons, a.decided_at) for a in repo.appeals_of(session, case.id)],
        history=history_of(session, case),
    )


def view_by_id(ctx: ServiceContext, case_id: int) -> CaseView:
    """The case's view read after a change committed, so its history holds that change."""
    with ctx.store.transaction() as session:
        case = repo.get_by_id(session, case_id)
        if case is None:  # pragma: no cover - cases are never deleted
            raise NotFound(NOT_VISIBLE)
        return case_view(session, ctx.settings, case)


def history_of(session: Session, case: Case) -> list[HistoryItem]:
    """The case's state changes from the audit log, oldest first (reads left out)."""
    items = []
    for event in audit.events_for_target(session, repo.case_ref(case.id)):
        if event.action in READ_ACTIONS:
            continue
        try:
            detail = json.loads(event.detail or "{}")
        except ValueError:
            detail = {}
        items.append(HistoryItem(int(event.seq), event.at, event.actor, event.action, bool(event.automated),
                                 detail if isinstance(detail, dict) else {}))
    return items
