"""Read-only queries behind evidence packs and the transparency report. Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from deepshield.store.models import (
    ApiKey,
    Appeal,
    AuditChainHead,
    AuditEvent,
    AuditReadEvent,
    BankEntry,
    Case,
    CaseClock,
    MisuseStrike,
)


def _between(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    conditions = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def case_id(session: Session, case_number: str) -> int | None:
    """The internal id of the case with ``case_number`` (None when there is none)."""
    return session.scalar(select(Case.id).where(Case.case_number == case_number))


def case_hashes(session: Session, case_ref: str) -> list[BankEntry]:
    """The case's bank entries that are not withdrawn (a withdrawn case's hashes are gone for
    good), oldest first. The same value may sit in several banks; callers deduplicate."""
    return list(session.scalars(
        select(BankEntry).where(BankEntry.case_ref == case_ref, BankEntry.withdrawn_at.is_(None))
        .order_by(BankEntry.id)))


def events_by_seq(session: Session, seqs: Iterable[int]) -> dict[int, AuditEvent]:
    """Audit events by their chain position."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    found: dict[int, AuditEvent] = {}
    for start in range(0, len(wanted), 500):  # stay under every backend's bind-parameter limit
        chunk = wanted[start:start + 500]
        for event in session.scalars(select(AuditEvent).where(AuditEvent.seq.in_(chunk))):
            found[int(event.seq)] = event
    return found


def chain_head(session: Session) -> tuple[int, str] | None:
    """The audit chain head: the newest event's sequence number and hash."""
    head = session.get(AuditChainHead, 1)
    return (int(head.seq), head.entry_hash) if head is not None else None


# --- Transparency --------------------------------------------------------------------------


def cases_touching(session: Session, since: datetime | None, until: datetime | None) -> list[Case]:
    """Cases received or actioned in ``[since, until)``: everything the report counts of them."""
    received = _between(Case.received_at, since, until)
    actioned = _between(Case.actioned_at, since, until)
    query = select(Case).order_by(Case.id)
    if received or actioned:
        query = query.where(or_(and_(*received), and_(Case.actioned_at.is_not(None), *actioned)))
    return list(session.scalars(query))


def key_roles(session: Session, key_ids: Sequence[str]) -> dict[str, str]:
    """The role of each API key id (revoked keys included: they filed what they filed)."""
    if not key_ids:
        return {}
    return {key_id: role for key_id, role in session.execute(
        select(ApiKey.key_id, ApiKey.role).where(ApiKey.key_id.in_(sorted(set(key_ids)))))}


def clocks_started(session: Session, since: datetime | None, until: datetime | None) -> list[CaseClock]:
    return list(session.scalars(select(CaseClock).where(*_between(CaseClock.started_at, since, until))
                                .order_by(CaseClock.id)))


def appeals_filed(session: Session, since: datetime | None, until: datetime | None) -> list[Appeal]:
    return list(session.scalars(select(Appeal).where(*_between(Appeal.filed_at, since, until))
                                .order_by(Appeal.id)))


def strikes_in(session: Session, since: datetime | None, until: datetime | None) -> list[MisuseStrike]:
    return list(session.scalars(select(MisuseStrike).where(*_between(MisuseStrike.at, since, until))
                                .order_by(MisuseStrike.id)))


def audit_counts(session: Session, since: datetime | None,
                 until: datetime | None) -> list[tuple[str, bool, int]]:
    """``(action, automated, count)`` of the audit events in ``[since, until)``, reads (kept in
    ``audit_read_events``) included."""
    counts: dict[tuple[str, bool], int] = {}
    for table in (AuditEvent, AuditReadEvent):
        query = (select(table.action, table.automated, func.count())
                 .where(*_between(table.at, since, until))
                 .group_by(table.action, table.automated))
        for action, automated, count in session.execute(query):
            key = (str(action), bool(automated))
            counts[key] = counts.get(key, 0) + int(count)
    return [(action, automated, count) for (action, automated), count in sorted(counts.items())]
