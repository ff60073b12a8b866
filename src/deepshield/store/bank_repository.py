"""Reads and writes of banks and their entries. Every entry write appends to the change feed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, bindparam, func, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from deepshield.errors import Conflict, NotFound
from deepshield.store.database import mark_bank_change
from deepshield.store.hash_sealing import keyring_of, plain_digest
from deepshield.store.models import Bank, BankEntry, EntryChange, utcnow


def value_digest(value: str) -> str:
    """The plain SHA-256 of a value. Bound to ``value_digest``, the store keeps only its HMAC
    under the lookup key (store/hash_sealing.py), so callers never handle keys."""
    return plain_digest(value)


def digest_matches(session: Session, digest: str) -> ColumnElement[bool]:
    """``BankEntry.value_digest`` is ``digest`` under any key held (during a key rotation, rows
    not yet re-keyed still carry the old key's HMAC)."""
    lookups = keyring_of(session.get_bind().dialect).lookups(digest)
    return type_coerce(BankEntry.value_digest, String(64)).in_(lookups)


@dataclass(frozen=True)
class NewEntry:
    signal_type: str
    value: str
    quality: int | None
    origin: str
    case_ref: str | None


def create_bank(session: Session, name: str, description: str) -> Bank:
    if session.scalar(select(Bank.id).where(Bank.name == name)) is not None:
        raise Conflict(f"a bank named {name!r} already exists")
    bank = Bank(name=name, description=description, created_at=utcnow())
    session.add(bank)
    session.flush()
    return bank


def get_bank(session: Session, name: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is None:
        raise NotFound(f"no bank named {name!r}")
    return bank


def list_banks(session: Session) -> list[tuple[Bank, int]]:
    """Every bank with its count of active entries, by name."""
    active = (
        select(BankEntry.bank_id, func.count().label("n"))
        .where(BankEntry.withdrawn_at.is_(None), BankEntry.enabled.is_(True))
        .group_by(BankEntry.bank_id)
        .subquery()
    )
    rows = session.execute(
        select(Bank, func.coalesce(active.c.n, 0))
        .outerjoin(active, active.c.bank_id == Bank.id)
        .order_by(Bank.name)
    )
    return [(bank, int(count)) for bank, count in rows]


def _record_change(session: Session, entry_ids: Sequence[int]) -> None:
    mark_bank_change(session)
    now = utcnow()
    session.add_all(EntryChange(entry_id=entry_id, changed_at=now) for entry_id in entry_ids)


def add_entries(
    session: Session, bank: Bank, new_entries: Sequence[NewEntry], added_by: str, *,
    per_case: bool = False,
) -> list[tuple[BankEntry, bool]]:
    """Add entries; a value already active in the bank is returned instead of duplicated.

    With ``per_case``, only an active entry of the same case reference counts as a duplicate:
    two takedown cases that report the same image each get their own entry, so withdrawing
    one case never unblocks the other's.

    Returns ``(entry, created)`` per input, in input order.
    """
    results: list[tuple[BankEntry, bool]] = []
    created: list[BankEntry] = []
    seen: dict[tuple[str, str, str | None], BankEntry] = {}
    now = utcnow()
    for new in new_entries:
        digest = value_digest(new.value)
        key = (new.signal_type, digest, new.case_ref if per_case else None)
        conditions = [BankEntry.bank_id == bank.id, BankEntry.signal_type == new.signal_type,
                      digest_matches(session, digest), BankEntry.withdrawn_at.is_(None)]
        if per_case:
            conditions.append(BankEntry.case_ref.is_(None) if new.case_ref is None
                              else BankEntry.case_ref == new.case_ref)
        existing = seen.get(key) or session.scalar(select(BankEntry).where(*conditions).limit(1))
        if existing is not None:
            seen[key] = existing
            results.append((existing, False))
            continue
        entry = BankEntry(
            bank_id=bank.id,
            signal_type=new.signal_type,
            value=new.value,
            value_digest=digest,
            quality=new.quality,
            origin=new.origin,
            case_ref=new.case_ref,
            created_at=now,
            enabled=True,
            added_by=added_by,
        )
        session.add(entry)
        seen[key] = entry
        created.append(entry)
        results.append((entry, True))
    session.flush()
    _record_change(session, [entry.id for entry in created])
    return results


def get_entry(session: Session, bank: Bank, entry_id: int) -> BankEntry:
    entry = session.get(BankEntry, entry_id)
    if entry is None or entry.bank_id != bank.id:
        raise NotFound(f"bank {bank.name!r} has no entry {entry_id}")
    return entry


def withdraw_entry(session: Session, entry: BankEntry, at: datetime | None = None) -> bool:
    """Withdraw ``entry`` for good; returns False if it was already withdrawn."""
    if entry.withdrawn_at is not None:
        return False
    entry.withdrawn_at = at or utcnow()
    session.flush()
    _record_change(session, [entry.id])
    return True


def set_entry_enabled(session: Session, entry: BankEntry, enabled: bool) -> bool:
    """Enable or disable ``entry``; returns whether anything changed."""
    if entry.withdrawn_at is not None:
        raise Conflict(f"entry {entry.id} was withdrawn; a withdrawn entry cannot be re-enabled")
    if entry.enabled == enabled:
        return False
    entry.enabled = enabled
    session.flush()
    _record_change(session, [entry.id])
    return True


def iter_entries(
    session: Session, bank: Bank, *, include_inactive: bool = False, batch_size: int = 5000
) -> Iterator[BankEntry]:
    """A bank's entries by id, streamed in batches."""
    last_id = 0
    while True:
        query = select(BankEntry).where(BankEntry.bank_id == bank.id, BankEntry.id > last_id)
        if not include_inactive:
            query = query.where(BankEntry.withdrawn_at.is_(None), BankEntry.enabled.is_(True))
        batch = list(session.scalars(query.order_by(BankEntry.id).limit(batch_size)))
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id


def change_time(session: Session, seq: int) -> str:
    """When change ``seq`` was made (ISO text), or "" if there is no such change."""
    at = session.scalar(select(EntryChange.changed_at).where(EntryChange.seq == seq))
    return at.isoformat() if at is not None else ""


def latest_change_seq(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(EntryChange.seq), 0))) or 0)


def changed_entries_since(session: Session, seq: int) -> tuple[int, list[tuple[BankEntry, str]]]:
    """Entries changed after change ``seq``, with their bank names, and the newest seq seen."""
    newest = latest_change_seq(session)
    if newest <= seq:
        return seq, []
    ids = select(EntryChange.entry_id).where(EntryChange.seq > seq, EntryChange.seq <= newest)
    rows = session.execute(
        select(BankEntry, Bank.name).join(Bank).where(BankEntry.id.in_(ids))
    )
    return newest, [(entry, name) for entry, name in rows]


def iter_active_entries(
    session: Session, batch_size: int = 20000, *, exclude_type: str | None = None
) -> Iterator[tuple[BankEntry, str]]:
    """All active entries of all banks (but ``exclude_type``) with their bank names, by id."""
    last_id = 0
    while True:
        query = (
            select(BankEntry, Bank.name)
            .join(Bank)
            .where(
                BankEntry.id > last_id,
                BankEntry.withdrawn_at.is_(None),
                BankEntry.enabled.is_(True),
            )
        )
        if exclude_type is not None:
            query = query.where(BankEntry.signal_type != exclude_type)
        rows = list(session.execute(query.order_by(BankEntry.id).limit(batch_size)))
        if not rows:
            return
        yield from ((entry, name) for entry, name in rows)
        last_id = rows[-1][0].id


def iter_active_values(
    session: Session, signal_type: str, batch_size: int = 100_000
) -> Iterator[list[tuple[int, str]]]:
    """``(entry id, value)`` of every active entry of one signal type, in id-ordered batches.

    Plain rows rather than ORM objects: loading ten million hashes must take seconds.
    """
    for batch in iter_active_values_in_banks(session, signal_type, batch_size):
        yield [(entry_id, value) for entry_id, value, _ in batch]


def iter_active_values_in_banks(
    session: Session, signal_type: str, batch_size: int = 100_000
) -> Iterator[list[tuple[int, str, int]]]:
    """``(entry id, value, bank id)`` of every active entry of one signal type, in id-ordered
    batches (``bank_names`` names the banks): a whole index with its banks, for a scan."""
    last_id = 0
    while True:
        rows = session.execute(
            select(BankEntry.id, BankEntry.value, BankEntry.bank_id)
            .where(
                BankEntry.id > last_id,
                BankEntry.signal_type == signal_type,
                BankEntry.withdrawn_at.is_(None),
                BankEntry.enabled.is_(True),
            )
            .order_by(BankEntry.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        yield [(int(entry_id), value, int(bank_id)) for entry_id, value, bank_id in rows]
        last_id = int(rows[-1][0])


def bank_names(session: Session) -> dict[int, str]:
    """``{bank id: name}`` of every bank."""
    return {int(bank_id): name for bank_id, name in session.execute(select(Bank.id, Bank.name))}


_ACTIVE_ENTRY_BANKS = (
    select(BankEntry.__table__.c.id, Bank.__table__.c.name)
    .join(Bank.__table__, Bank.__table__.c.id == BankEntry.__table__.c.bank_id)
    .where(
        BankEntry.__table__.c.id.in_(bindparam("ids", expanding=True)),
        BankEntry.__table__.c.withdrawn_at.is_(None),
        BankEntry.__table__.c.enabled.is_(True),
    )
)


def active_entry_banks(connection: Session | Connection, entry_ids: Sequence[int]) -> dict[int, str]:
    """Bank name of each of ``entry_ids`` that is still active (others are left out).

    One prepared Core statement: this runs for every match with hits.
    """
    found: dict[int, str] = {}
    unique = sorted(set(entry_ids))
    for start in range(0, len(unique), 500):
        rows = connection.execute(_ACTIVE_ENTRY_BANKS, {"ids": unique[start:start + 500]})
        found.update((int(entry_id), name) for entry_id, name in rows)
    return found
