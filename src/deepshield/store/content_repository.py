"""Reads and writes of the platform's content registry (``content_items``): hashes only.

One row per (item id, signal). An item's status is kept the same on all its rows; where rows
disagree (an older install, a partial write by hand) the strongest status wins, in the order
of :data:`STATUS_STRENGTH`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, bindparam, func, insert, select, type_coerce, update
from sqlalchemy.orm import Session

from deepshield.store.hash_sealing import keyring_of, plain_digest
from deepshield.store.models import Bank, BankEntry, Case, ContentItem

#: Statuses by strength: an item never moves to a weaker one by a sweep or a registration.
STATUS_STRENGTH = {"live": 0, "flagged": 1, "blocked": 2, "removed": 3}
#: Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
_CHUNK = 500


def value_digest(value: str) -> str:
    """The fixed-width key of a value (the same digest bank entries use): its plain SHA-256,
    which the store keeps only as an HMAC under the lookup key (store/hash_sealing.py)."""
    return plain_digest(value)


@dataclass(frozen=True)
class ContentRow:
    """One registered row, as plain values (no ORM object leaves the repository)."""

    id: int
    item_id: str
    signal_type: str
    value: str
    uploader_ref: str | None
    status: str
    case_id: int | None
    status_changed_at: datetime | None


def _chunks(values: Sequence[object], size: int = _CHUNK) -> Iterator[list[object]]:
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


_COLUMNS = (ContentItem.id, ContentItem.item_id, ContentItem.signal_type, ContentItem.value,
            ContentItem.uploader_ref, ContentItem.status, ContentItem.case_id,
            ContentItem.status_changed_at)


def rows_of_items(session: Session, item_ids: Iterable[str]) -> list[ContentRow]:
    """Every row of the given item ids (unknown ids are simply absent), by row id."""
    rows: list[ContentRow] = []
    for chunk in _chunks(sorted(set(item_ids))):
        rows += [ContentRow(*r) for r in session.execute(
            select(*_COLUMNS).where(ContentItem.item_id.in_(chunk)))]
    return sorted(rows, key=lambda r: r.id)


def rows_by_ids(session: Session, ids: Iterable[int]) -> list[ContentRow]:
    """The rows with these row ids (ids no longer present are left out)."""
    rows: list[ContentRow] = []
    for chunk in _chunks(sorted(set(ids))):
        rows += [ContentRow(*r) for r in session.execute(
            select(*_COLUMNS).where(ContentItem.id.in_(chunk)))]
    return rows


def rows_by_digest(session: Session, signal_type: str, digests: Iterable[str]) -> list[ContentRow]:
    """Rows of one signal type whose value has one of ``digests`` (an indexed lookup)."""
    keyring = keyring_of(session.get_bind().dialect)
    # Every key's HMAC: during a key rotation, rows not yet re-keyed carry the old key's.
    lookups = sorted({lookup for digest in set(digests) for lookup in keyring.lookups(digest)})
    stored = type_coerce(ContentItem.value_digest, String(64))
    rows: list[ContentRow] = []
    for chunk in _chunks(lookups):
        rows += [ContentRow(*r) for r in session.execute(
            select(*_COLUMNS).where(ContentItem.signal_type == signal_type, stored.in_(chunk)))]
    return rows


def insert_rows(session: Session, rows: Sequence[dict[str, object]]) -> None:
    """Insert prepared rows (column values of ``content_items``) with Core bulk INSERTs.

    The caller has removed duplicates. Core, not ORM objects: a platform registers millions
    of items (on PostgreSQL the rows go as multi-row INSERTs).
    """
    for chunk in _chunks(rows, 5000):
        session.execute(insert(ContentItem.__table__), chunk)


def set_item_status(session: Session, item_ids: Iterable[str], status: str, *, at: datetime,
                    case_id: int | None = None, only_from: Sequence[str] | None = None) -> int:
    """Move every row of ``item_ids`` to ``status`` (from ``only_from`` statuses if given, else
    from any weaker one); ``case_id`` is set where given. Returns the rows changed."""
    weaker = [s for s, strength in STATUS_STRENGTH.items() if strength < STATUS_STRENGTH[status]]
    allowed = list(only_from) if only_from is not None else weaker
    values: dict[str, object] = {"status": status, "status_changed_at": at}
    if case_id is not None:
        values["case_id"] = case_id
    changed = 0
    for chunk in _chunks(sorted(set(item_ids))):
        result = session.execute(
            update(ContentItem)
            .where(ContentItem.item_id.in_(chunk), ContentItem.status.in_(allowed))
            .values(**values)
            .execution_options(synchronize_session=False))
        changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return changed


def item_statuses(session: Session, item_ids: Iterable[str]) -> dict[str, str]:
    """Each known item's status (the strongest of its rows')."""
    found: dict[str, str] = {}
    for chunk in _chunks(sorted(set(item_ids))):
        for item_id, status in session.execute(
                select(ContentItem.item_id, ContentItem.status).where(ContentItem.item_id.in_(chunk))):
            if STATUS_STRENGTH.get(status, 0) >= STATUS_STRENGTH.get(found.get(item_id, "live"), 0):
                found[item_id] = status
    return found


def listed_items(session: Session, *, case_id: int | None = None, status: str = "flagged",
                 limit: int = 1000) -> list[ContentRow]:
    """Rows with ``status`` (of one case, if given), by item id, of at most ``limit`` items."""
    query = select(ContentItem.item_id).where(ContentItem.status == status)
    if case_id is not None:
        query = query.where(ContentItem.case_id == case_id)
    item_ids = list(session.scalars(query.distinct().order_by(ContentItem.item_id).limit(limit)))
    return [row for row in rows_of_items(session, item_ids) if row.status == status]


def iter_rows_after(session: Session, after_id: int = 0, *,
                    batch_size: int = 100_000) -> Iterator[list[tuple[int, str, str]]]:
    """``(row id, signal type, value)`` of every row after ``after_id``, in id-ordered batches.

    Plain rows, not ORM objects: building the sweep's index over a million items must take
    seconds, not minutes. The scan walks the primary key; filtering on the type in SQL would
    make SQLite use the type index and sort every row by id, several times slower.
    """
    table = ContentItem.__table__
    query = (select(table.c.id, table.c.signal_type, table.c.value)
             .where(table.c.id > bindparam("after")).order_by(table.c.id).limit(batch_size))
    connection = session.connection()  # Core rows: the ORM's row handling doubles the time
    last_id = after_id
    while True:
        rows = connection.execute(query, {"after": last_id}).fetchall()
        if not rows:
            return
        yield rows  # type: ignore[misc]
        last_id = rows[-1][0]


def row_count(session: Session, up_to_id: int) -> int:
    """Rows of the registry with an id up to ``up_to_id`` (a primary-key count)."""
    return int(session.scalar(select(func.count(ContentItem.id)).where(ContentItem.id <= up_to_id)) or 0)


def max_row_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(ContentItem.id), 0))) or 0)


def get_rows(session: Session, item_id: str) -> list[ContentItem]:
    """The ORM rows of one item (for a single-item change such as marking it removed)."""
    return list(session.scalars(select(ContentItem).where(ContentItem.item_id == item_id)
                                .order_by(ContentItem.id)))



def bank_entry_case_refs(session: Session, entry_ids: Iterable[int]) -> dict[int, str | None]:
    """The case reference of each bank entry (what a blocked registration names)."""
    found: dict[int, str | None] = {}
    for chunk in _chunks(sorted(set(entry_ids))):
        found.update((int(entry_id), case_ref) for entry_id, case_ref in session.execute(
            select(BankEntry.id, BankEntry.case_ref).where(BankEntry.id.in_(chunk))))
    return found


def case_id_by_number(session: Session, case_number: str) -> int | None:
    return session.scalar(select(Case.id).where(Case.case_number == case_number))


def case_exists(session: Session, case_id: int) -> bool:
    return session.scalar(select(Case.id).where(Case.id == case_id)) is not None


def case_numbers(session: Session, case_ids: Iterable[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in _chunks(sorted(set(case_ids))):
        found.update((int(case_id), number) for case_id, number in session.execute(
            select(Case.id, Case.case_number).where(Case.id.in_(chunk))))
    return found


def has_active_entries(session: Session, bank_name: str) -> bool:
    """Whether the bank named ``bank_name`` exists and holds an active entry."""
    return session.scalar(
        select(BankEntry.id).join(Bank, Bank.id == BankEntry.bank_id)
        .where(Bank.name == bank_name, BankEntry.withdrawn_at.is_(None), BankEntry.enabled.is_(True))
        .limit(1)) is not None
