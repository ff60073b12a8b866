"""The partner exchange feed: entry changes as upserts and deletes, and partners' feedback."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deepshield.store.models import Bank, BankEntry, EntryChange, PartnerFeedback, utcnow


@dataclass(frozen=True)
class ExchangeUpdate:
    seq: int
    entry_id: int
    bank: str
    signal_type: str
    signal_value: str
    quality: int | None
    active: bool  # False: withdrawn or disabled, so the partner must delete it


def updates_since(session: Session, checkpoint: int, limit: int) -> tuple[list[ExchangeUpdate], int, bool]:
    """Entry changes after ``checkpoint``: (updates, next checkpoint, whether more remain).

    Each entry appears once per page, in its current state, at its newest change.
    """
    rows = session.execute(
        select(EntryChange.seq, BankEntry, Bank.name)
        .join(BankEntry, BankEntry.id == EntryChange.entry_id)
        .join(Bank, Bank.id == BankEntry.bank_id)
        .where(EntryChange.seq > checkpoint)
        .order_by(EntryChange.seq)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    latest: dict[int, ExchangeUpdate] = {}
    for seq, entry, bank_name in rows:
        latest.pop(entry.id, None)
        latest[entry.id] = ExchangeUpdate(int(seq), entry.id, bank_name, entry.signal_type, entry.value,
                                          entry.quality, entry.active)
    next_checkpoint = int(rows[-1][0]) if rows else checkpoint
    return list(latest.values()), next_checkpoint, more


def existing_entry_ids(session: Session, entry_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    unique = sorted(set(entry_ids))
    for start in range(0, len(unique), 500):
        found.update(session.scalars(select(BankEntry.id).where(BankEntry.id.in_(unique[start:start + 500]))))
    return found


def record_feedback(session: Session, partner: str, items: Sequence[tuple[int, str]]) -> None:
    now = utcnow()
    session.add_all(PartnerFeedback(partner=partner, entry_id=entry_id, status=status, at=now)
                    for entry_id, status in items)


def feedback_counts(session: Session, entry_id: int) -> dict[str, int]:
    """The latest status from each partner for one entry, counted by status."""
    newest = (select(PartnerFeedback.partner, func.max(PartnerFeedback.id).label("id"))
              .where(PartnerFeedback.entry_id == entry_id).group_by(PartnerFeedback.partner).subquery())
    rows = session.execute(select(PartnerFeedback.status, func.count())
                           .join(newest, newest.c.id == PartnerFeedback.id)
                           .group_by(PartnerFeedback.status)).all()
    return {status: int(count) for status, count in rows}
