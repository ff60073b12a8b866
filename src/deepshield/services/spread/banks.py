"""Use cases: hash banks. Create banks, add, withdraw, disable and enable entries, export, import.

Who may change what is decided here, with the rules of ``services.access``:

- Every use case a door calls for someone (``create_bank``, ``list_banks``, ``add_signals``,
  ``add_media``, ``withdraw_entry``, ``set_entry_enabled``, ``export_bank``,
  ``import_records``) takes the caller as a ``Principal`` and is authorised and scoped here;
  the CLI passes its local operator, the API the key's principal. Only ``add_signals_in``, which
  runs inside the case workflow's own transaction, takes an actor string.
- The system banks (``settings.cases.reports_bank`` and ``block_bank``), which the takedown
  workflow fills, take entries only from that workflow (``add_signals_in``) and the operator.
- A case reference that names a DeepShield case (``case:<id>``, or a case number, which is
  stored as ``case:<id>``) must name a case the caller may act on (``access.case_in_scope``,
  the rule of ``/v1/cases``); anything else answers like a case that does not exist.
- Only the operator may withdraw or disable any entry; anyone else an entry it added, or one
  of a case in its scope, outside the system banks. An entry the caller may not act on
  answers exactly like an entry that does not exist, so sequential entry ids give nothing away.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from deepshield.cases.numbers import parse_case_number
from deepshield.cases.references import case_id_of, claims_case_prefix
from deepshield.cases.states import CaseState
from deepshield.errors import Conflict, Forbidden, InvalidRequest, InvalidSignal, LowQualityHash, NotFound
from deepshield.services.access import (
    NOT_VISIBLE,
    Action,
    Principal,
    Role,
    authorize,
    case_in_scope,
    may_change_entry,
    may_write_bank,
)
from deepshield.services.context import ServiceContext
from deepshield.services.spread.hashing import MediaSignals, hash_media
from deepshield.signals.pdq import require_quality
from deepshield.signals.types import SignalType, normalize_hex_signal, parse_signal_type
from deepshield.signals.vpdq import parse_vpdq, serialize_vpdq, unique_good_frames
from deepshield.store import audit_repository as audit
from deepshield.store import bank_repository as repo
from deepshield.store import case_repository as case_repo
from deepshield.store.models import BankEntry, Case

_BANK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CASE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:#-]{0,127}$")
#: The reference a case's bank entries carry (``case_repository.case_ref``); the prefix is reserved.
# A real PDQ hash sets about half its bits (each bit is "above the median").
_PDQ_MIN_ONES, _PDQ_MAX_ONES = 32, 224

#: The largest row id there can be: ``bank_entries.id`` and ``cases.id`` are INTEGER columns,
#: 32-bit on PostgreSQL (which refuses a larger parameter with an error, not an empty answer).
#: A larger id is not looked up at all: it answers like any missing row, on every store.
MAX_ENTRY_ID = 2**31 - 1
#: The largest request adding signals (JSON) a door reads, in bytes: 100,000 PDQ hashes with
#: their references take about 12 MB, a long video's vPDQ hash up to 9 MB. A longer list is
#: imported from a file (``bulk_import``).
MAX_ADD_BODY_BYTES = 32 * 1024 * 1024


class Origin(StrEnum):
    VICTIM_DEVICE = "victim_device"
    HELPLINE = "helpline"
    PLATFORM = "platform"
    IMPORT = "import"


@dataclass(frozen=True)
class SignalInput:
    """A signal to bank, as given by a caller: not yet validated."""

    signal_type: str
    value: str
    quality: int | None = None
    case_ref: str | None = None  # overrides the case reference given for the whole batch


@dataclass(frozen=True)
class BankInfo:
    name: str
    description: str
    created_at: datetime
    active_entries: int


@dataclass(frozen=True)
class EntryInfo:
    id: int
    bank: str
    signal_type: str
    quality: int | None
    origin: str
    case_ref: str | None
    created_at: datetime
    withdrawn_at: datetime | None
    enabled: bool
    created: bool = True  # False when the value was already in the bank

    @classmethod
    def of(cls, entry: BankEntry, bank_name: str, created: bool = True) -> EntryInfo:
        return cls(entry.id, bank_name, entry.signal_type, entry.quality, entry.origin,
                   entry.case_ref, entry.created_at, entry.withdrawn_at, entry.enabled, created)


def parse_origin(name: str) -> Origin:
    try:
        return Origin(name.strip().lower())
    except ValueError:
        known = ", ".join(o.value for o in Origin)
        raise InvalidRequest(f"unknown origin {name!r}; origins are {known}") from None


def check_bank_name(name: str) -> str:
    if not isinstance(name, str) or not _BANK_NAME.match(name):
        raise InvalidRequest(
            "a bank name is 1-64 characters: letters, digits, '_', '.', '-', starting with a "
            f"letter or digit; got {name!r}"
        )
    return name


def check_case_ref(case_ref: str | None) -> str | None:
    if case_ref is None or case_ref == "":
        return None
    if not isinstance(case_ref, str) or not _CASE_REF.match(case_ref):
        raise InvalidRequest(
            "a case reference is 1-128 characters of letters, digits and _ . / : # - "
            "(an opaque reference, never a name or contact detail)"
        )
    return case_ref


def validate_signal(item: SignalInput, min_quality: int) -> tuple[str, str, int | None]:
    """Check one signal and return ``(type, normalised value, quality)``.

    Raises ``InvalidSignal`` for a malformed signal and ``LowQualityHash`` for one too weak
    to match safely.
    """
    signal_type = parse_signal_type(str(item.signal_type))
    quality = item.quality
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)
                                or not 0 <= quality <= 100):
        raise InvalidSignal(f"quality must be a whole number from 0 to 100; got {quality!r}")
    if signal_type is SignalType.VPDQ:
        features = parse_vpdq(item.value)
        if not unique_good_frames(features, min_quality):
            raise LowQualityHash(
                f"no frame of the video hash has PDQ quality of at least {min_quality}"
            )
        value = serialize_vpdq(features)
        quality = max(f.quality for f in features)
    else:
        value = normalize_hex_signal(signal_type, item.value)
    if signal_type is SignalType.PDQ:
        ones = int(value, 16).bit_count()
        if not _PDQ_MIN_ONES <= ones <= _PDQ_MAX_ONES:
            raise LowQualityHash(
                f"the PDQ hash has {ones} of 256 bits set; real hashes set about half, so this "
                "one is degenerate (a blank or synthetic image) and would match noise"
            )
        require_quality(quality, min_quality)
    return signal_type.value, value, quality


def signals_of_media(media: MediaSignals, min_quality: int) -> list[SignalInput]:
    """The signals to bank for hashed media; refuses media whose perceptual hash is unusable."""
    if media.pdq is not None:
        require_quality(media.pdq.quality, min_quality, "the image")
    signals = [SignalInput(t.value, v, q) for t, v, q in media.as_signals()]
    # The hash set's crops are ordinary PDQ entries; one too featureless to match on is left out.
    signals += [SignalInput(SignalType.PDQ.value, h.hex, h.quality)
                for _, h in media.pdq_hash_set if h.quality >= min_quality]
    return signals


def create_bank(ctx: ServiceContext, name: str, description: str, principal: Principal) -> BankInfo:
    """Create an empty bank; ``Forbidden`` unless ``principal`` may (admin), ``Conflict`` if it exists."""
    authorize(principal, Action.BANK_CREATE)
    check_bank_name(name)
    if len(description) > 500:
        raise InvalidRequest("a bank description is at most 500 characters")
    with ctx.store.transaction() as session:
        bank = repo.create_bank(session, name, description)
        audit.record_event(session, principal.actor, "bank.create", f"bank:{name}")
        return BankInfo(bank.name, bank.description, bank.created_at, 0)


def list_banks(ctx: ServiceContext, principal: Principal) -> list[BankInfo]:
    """Every bank with its count of active entries (any key's role; ``Forbidden`` otherwise)."""
    authorize(principal, Action.BANK_LIST)
    with ctx.store.transaction() as session:
        return [
            BankInfo(bank.name, bank.description, bank.created_at, count)
            for bank, count in repo.list_banks(session)
        ]


def system_banks(ctx: ServiceContext) -> frozenset[str]:
    """The banks the takedown workflow writes: only it and the operator may change them."""
    return frozenset({ctx.settings.cases.reports_bank, ctx.settings.cases.block_bank})


def _check_may_add(ctx: ServiceContext, bank_name: str, principal: Principal) -> None:
    authorize(principal, Action.BANK_ADD)
    _check_may_write(ctx, bank_name, principal)


def check_may_import(ctx: ServiceContext, bank_name: str, principal: Principal) -> None:
    """Raise ``Forbidden`` unless ``principal`` may import a hash list into ``bank_name``
    (``Action.BANK_IMPORT``, and the system banks' rule of ``access.may_write_bank``). Both
    imports (``import_records`` and ``bulk_import.import_file``) ask here before any work."""
    authorize(principal, Action.BANK_IMPORT)
    _check_may_write(ctx, bank_name, principal)


def _check_may_write(ctx: ServiceContext, bank_name: str, principal: Principal) -> None:
    if not may_write_bank(principal, system_bank=bank_name in system_banks(ctx)):
        raise Forbidden(f"the bank {bank_name!r} is filled by the takedown workflow: only a case's "
                        "review (or the operator) adds to it; file a request instead")


def add_signals(
    ctx: ServiceContext,
    bank_name: str,
    signals: Sequence[SignalInput],
    *,
    origin: Origin,
    case_ref: str | None,
    principal: Principal,
) -> list[EntryInfo]:
    """Validate every signal, then add them all in one transaction (all or nothing).

    ``principal`` is the caller (see the module's notes): ``Forbidden`` for a role that may not
    add or a system bank it may not write; ``NotFound(NOT_VISIBLE)`` for a case reference naming
    a case it may not act on (or none); ``Conflict`` for a withdrawn case's reference."""
    _check_may_add(ctx, bank_name, principal)
    return _add(ctx, bank_name, signals, origin=origin, case_ref=case_ref, principal=principal)


def _add(ctx: ServiceContext, bank_name: str, signals: Sequence[SignalInput], *, origin: Origin,
         case_ref: str | None, principal: Principal, resolve_cases: bool = True) -> list[EntryInfo]:
    new_entries = _new_entries(signals, origin, case_ref, ctx.settings.match.pdq_min_quality)
    with ctx.store.transaction() as session:
        repo.get_bank(session, bank_name)  # an unknown bank is 404 before any case is looked at
        if resolve_cases:
            new_entries = _resolve_case_refs(session, new_entries, principal)
        results = _write_entries(session, bank_name, new_entries, origin, principal.actor)
        return [_as_seen_by(session, ctx, info, principal) for info in results]


def resolve_case_ref(session: Session, case_ref: str, principal: Principal) -> str:
    """``case_ref`` as stored: a reference naming a DeepShield case (``case:<id>``, or its case
    number) becomes ``case:<id>`` once the case is found in ``principal``'s scope; any other
    reference (a helpline's own, say) is kept as it is.

    Raises ``NotFound(NOT_VISIBLE)`` for a case that does not exist or is outside the scope
    (the same answer, as on ``/v1/cases``), ``Conflict`` for a withdrawn case, and
    ``InvalidRequest`` for a malformed ``case:`` reference (the prefix is reserved)."""
    if claims_case_prefix(case_ref):
        if case_id_of(case_ref) is None:
            raise InvalidRequest("a case reference starting with 'case:' names a DeepShield case, "
                                 "written case:<id>; use the case number, or a reference of your own")
        case = _case_of_ref(session, case_ref)
    else:
        number = parse_case_number(case_ref)
        if number is None:
            return case_ref
        case = case_repo.get_by_number(session, number)
    if case is None or not case_in_scope(principal, case_number=case.case_number, filed_by=case.filed_by):
        raise NotFound(NOT_VISIBLE)
    if case.state == CaseState.WITHDRAWN.value:
        raise Conflict("that case was withdrawn: its hashes may not be banked again")
    return case_repo.case_ref(case.id)


def _case_of_ref(session: Session, case_ref: str) -> Case | None:
    """The case a ``case:<id>`` reference names, or None (no such case, or not that form)."""
    case_id = case_id_of(case_ref)
    if case_id is None or case_id > MAX_ENTRY_ID:
        return None
    return case_repo.get_by_id(session, case_id)


def _resolve_case_refs(session: Session, new_entries: list[repo.NewEntry],
                       principal: Principal) -> list[repo.NewEntry]:
    resolved: dict[str, str] = {}
    out = []
    for new in new_entries:
        if new.case_ref is None:
            out.append(new)
            continue
        if new.case_ref not in resolved:
            resolved[new.case_ref] = resolve_case_ref(session, new.case_ref, principal)
        out.append(replace(new, case_ref=resolved[new.case_ref]))
    return out


def _as_seen_by(session: Session, ctx: ServiceContext, info: EntryInfo, principal: Principal) -> EntryInfo:
    """An entry as ``principal`` is shown it. A value the bank already held may be another
    caller's entry: its case reference is not this caller's to read."""
    if info.created:
        return info
    entry = session.get(BankEntry, info.id)
    if entry is not None and _may_change(session, ctx, info.bank, entry, principal):
        return info
    return replace(info, case_ref=None)


def add_signals_in(
    session: Session,
    bank_name: str,
    signals: Sequence[SignalInput],
    *,
    origin: Origin,
    case_ref: str | None,
    actor: str,
    min_quality: int,
) -> list[EntryInfo]:
    """``add_signals`` inside the caller's transaction, so that the entries are written with
    (and only with) the caller's other changes, e.g. a takedown case. The store's generation
    moves on when that transaction commits, so the next match sees the entries at once.

    Duplicates are looked for within ``case_ref`` only: each case keeps its own entry of a
    value that another case also reported, so one case's withdrawal leaves the other's."""
    new_entries = _new_entries(signals, origin, case_ref, min_quality)
    return _write_entries(session, bank_name, new_entries, origin, actor, per_case=True)


def _new_entries(signals: Sequence[SignalInput], origin: Origin, case_ref: str | None,
                 min_quality: int) -> list[repo.NewEntry]:
    if not signals:
        raise InvalidRequest("nothing to add: give at least one file or signal")
    case_ref = check_case_ref(case_ref)
    new_entries = []
    for position, item in enumerate(signals):
        try:
            signal_type, value, quality = validate_signal(item, min_quality)
            entry_case_ref = check_case_ref(item.case_ref) or case_ref
        except (InvalidSignal, LowQualityHash, InvalidRequest) as exc:
            raise type(exc)(f"signal {position + 1}: {exc.detail}") from exc
        new_entries.append(repo.NewEntry(signal_type, value, quality, origin.value, entry_case_ref))
    return new_entries


def _write_entries(session: Session, bank_name: str, new_entries: list[repo.NewEntry], origin: Origin,
                   actor: str, *, per_case: bool = False) -> list[EntryInfo]:
    bank = repo.get_bank(session, bank_name)
    results = repo.add_entries(session, bank, new_entries, actor, per_case=per_case)  # marks the change
    created_ids = [entry.id for entry, created in results if created]
    audit.record_event(session, actor, "bank.add", f"bank:{bank_name}",
                       entry_ids=created_ids, origin=origin.value,
                       duplicates=len(results) - len(created_ids))
    return [EntryInfo.of(entry, bank_name, created) for entry, created in results]


def add_media(ctx: ServiceContext, bank_name: str, data: bytes, origin: str,
              case_ref: str | None, principal: Principal, *, hash_set: bool = False) -> list[EntryInfo]:
    """Hash media bytes (kept only in memory) and add their signals to a bank, as ``add_signals``.

    With ``hash_set``, an image's repost hash set (signals.repost) is banked beside its hash.
    """
    _check_may_add(ctx, bank_name, principal)  # before the work of hashing
    parsed_origin = parse_origin(origin)
    media = hash_media(data, ctx.settings.limits,
                       seconds_per_video_hash=ctx.settings.seconds_per_video_hash, hash_set=hash_set)
    signals = signals_of_media(media, ctx.settings.match.pdq_min_quality)
    return add_signals(ctx, bank_name, signals, origin=parsed_origin, case_ref=case_ref,
                       principal=principal)


def _may_change(session: Session, ctx: ServiceContext, bank_name: str, entry: BankEntry,
                principal: Principal) -> bool:
    system_bank = bank_name in system_banks(ctx)
    if principal.role is Role.ADMIN or system_bank or entry.added_by == principal.actor:
        return may_change_entry(principal, system_bank=system_bank, added_by=entry.added_by,
                                of_case_in_scope=False)
    case = _case_of_ref(session, entry.case_ref or "")
    in_scope = case is not None and case_in_scope(principal, case_number=case.case_number,
                                                  filed_by=case.filed_by)
    return may_change_entry(principal, system_bank=False, added_by=entry.added_by, of_case_in_scope=in_scope)


def _entry_to_change(session: Session, ctx: ServiceContext, bank_name: str, entry_id: int,
                     principal: Principal) -> BankEntry:
    """The entry, if ``principal`` may change it; otherwise ``NotFound`` worded exactly as for an
    id that does not exist (ids are sequential: guessing them must give nothing)."""
    bank = repo.get_bank(session, bank_name)
    entry: BankEntry | None = None
    if isinstance(entry_id, int) and 1 <= entry_id <= MAX_ENTRY_ID:
        with contextlib.suppress(NotFound):
            entry = repo.get_entry(session, bank, entry_id)
    if entry is None or not _may_change(session, ctx, bank_name, entry, principal):
        raise NotFound(f"bank {bank_name!r} has no entry {entry_id}")
    return entry


def withdraw_entry(ctx: ServiceContext, bank_name: str, entry_id: int, principal: Principal) -> EntryInfo:
    """Withdraw an entry for good. It stops matching at once, in every process.

    ``Forbidden`` for a role that may not withdraw; ``NotFound`` for an entry that does not
    exist or that the caller may not act on."""
    authorize(principal, Action.BANK_WITHDRAW)
    with ctx.store.transaction() as session:
        entry = _entry_to_change(session, ctx, bank_name, entry_id, principal)
        changed = repo.withdraw_entry(session, entry)
        audit.record_event(session, principal.actor, "bank.withdraw", f"entry:{entry_id}",
                           bank=bank_name, changed=changed)
        return EntryInfo.of(entry, bank_name)


def set_entry_enabled(
    ctx: ServiceContext, bank_name: str, entry_id: int, enabled: bool, principal: Principal
) -> EntryInfo:
    """Disable or re-enable an entry (``Action.BANK_DISABLE``); scoped as ``withdraw_entry``."""
    authorize(principal, Action.BANK_DISABLE)
    with ctx.store.transaction() as session:
        entry = _entry_to_change(session, ctx, bank_name, entry_id, principal)
        changed = repo.set_entry_enabled(session, entry, enabled)
        action = "bank.enable" if enabled else "bank.disable"
        audit.record_event(session, principal.actor, action, f"entry:{entry_id}", bank=bank_name,
                           changed=changed)
        return EntryInfo.of(entry, bank_name)


EXPORT_FIELDS = ("entry_id", "signal_type", "signal_value", "quality", "origin", "case_ref",
                 "created_at", "withdrawn_at", "enabled")


def export_bank(
    ctx: ServiceContext, bank_name: str, principal: Principal, *, include_inactive: bool = False
) -> list[dict[str, Any]]:
    """The bank's entries as plain records (``EXPORT_FIELDS``). The read is audit-logged.
    ``Forbidden`` unless ``principal`` may export (hashes in bulk: the operator only)."""
    authorize(principal, Action.BANK_EXPORT)
    with ctx.store.transaction() as session:
        bank = repo.get_bank(session, bank_name)
        records = [_record(entry) for entry in
                   repo.iter_entries(session, bank, include_inactive=include_inactive)]
        audit.record_event(session, principal.actor, "bank.export", f"bank:{bank_name}",
                           entries=len(records), include_inactive=include_inactive)
        return records


def _record(entry: BankEntry) -> dict[str, Any]:
    return {
        "entry_id": entry.id,
        "signal_type": entry.signal_type,
        "signal_value": entry.value,
        "quality": entry.quality,
        "origin": entry.origin,
        "case_ref": entry.case_ref,
        "created_at": entry.created_at.isoformat(),
        "withdrawn_at": entry.withdrawn_at.isoformat() if entry.withdrawn_at else None,
        "enabled": entry.enabled,
    }


def import_records(
    ctx: ServiceContext, bank_name: str, records: Iterable[dict[str, Any]], principal: Principal
) -> list[EntryInfo]:
    """Import exported records (or any ``signal_type``/``signal_value`` rows) into a bank.

    Withdrawn records are skipped. Every row is validated before anything is written,
    and a bad row names its number. Entries keep their case reference and get origin
    ``import``. ``Forbidden`` unless ``principal`` may import into the bank (``check_may_import``).
    """
    check_may_import(ctx, bank_name, principal)
    signals: list[SignalInput] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InvalidRequest(f"record {number}: expected an object with signal_type and "
                                 "signal_value")
        if record.get("withdrawn_at"):
            continue
        missing = [key for key in ("signal_type", "signal_value") if not record.get(key)]
        if missing:
            raise InvalidRequest(f"record {number}: missing {', '.join(missing)}")
        signals.append(SignalInput(str(record["signal_type"]), str(record["signal_value"]),
                                   _record_quality(record.get("quality"), number),
                                   record.get("case_ref") or None))
    if not signals:
        raise InvalidRequest("the import holds no active records")
    # An import is the operator's. Its case references are kept as they are, as the streamed
    # import (services.bulk_import) keeps them; they are not looked up as this installation's.
    return _add(ctx, bank_name, signals, origin=Origin.IMPORT, case_ref=None, principal=principal,
                resolve_cases=False)


def _record_quality(raw: object, number: int) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    raise InvalidRequest(f"record {number}: quality must be a whole number from 0 to 100")
