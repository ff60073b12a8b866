"""The notification outbox: queue, claim, and record the outcome of deliveries.

Claiming is what keeps two processes (``serve --workers N`` runs one scheduler each, and an
operator may run ``deepshield notifications deliver`` alongside) from sending one message
twice. A claim moves the row's ``next_attempt_at`` a lease into the future, in its own short
transaction, so the row is no longer due for anyone else; the value written is the claim's
token, and recording the outcome only touches a row still holding that token. If the sender
dies mid-delivery the lease runs out and the row is due again: delivery is at least once,
and receivers deduplicate on the delivery id.

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks a due row no other transaction is
  claiming, without waiting on it.
- SQLite (and any other backend): a conditional ``UPDATE ... WHERE status = 'pending' AND
  next_attempt_at <= now``; SQLite runs one writer at a time, so exactly one claimer sees
  its update change the row.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from deepshield.store.models import Notification, utcnow

PENDING, SENT, FAILED = "pending", "sent", "failed"
STATUSES = (PENDING, SENT, FAILED)


def add(session: Session, *, case_id: int | None, kind: str, channel: str, recipient: str,
        subject: str, body: str, now: datetime | None = None) -> Notification:
    """Queue one message on ``session``: it exists only if the session commits."""
    at = now or utcnow()
    row = Notification(case_id=case_id, kind=kind, channel=channel, recipient=recipient,
                       subject=subject[:200], body=body, status=PENDING, attempts=0,
                       next_attempt_at=at, created_at=at)
    session.add(row)
    return row


def _due(now: datetime, channels: Collection[str]) -> Select[tuple[int]]:
    return (select(Notification.id)
            .where(Notification.status == PENDING, Notification.next_attempt_at <= now,
                   Notification.channel.in_(list(channels)))
            .order_by(Notification.next_attempt_at, Notification.id))


def claim_next(session: Session, *, now: datetime, lease_until: datetime,
               channels: Collection[str]) -> Notification | None:
    """Claim one due message for ``channels`` (see the module docstring), or None if none is
    due. The caller commits at once; the returned row's ``next_attempt_at`` is the token."""
    if not channels:
        return None
    if session.get_bind().dialect.name == "postgresql":
        claimed_id = session.scalar(_due(now, channels).limit(1).with_for_update(skip_locked=True))
        if claimed_id is None:
            return None
        session.execute(update(Notification).where(Notification.id == claimed_id)
                        .values(next_attempt_at=lease_until))
    else:
        claimed_id = None
        # A few candidates: another process may win the first, then we try the next.
        for candidate in session.scalars(_due(now, channels).limit(8)).all():
            result = session.execute(
                update(Notification)
                .where(Notification.id == candidate, Notification.status == PENDING,
                       Notification.next_attempt_at <= now)
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed_id = candidate
                break
        if claimed_id is None:
            return None
    return session.get(Notification, claimed_id, populate_existing=True)


def held(session: Session, notification_id: int, token: datetime) -> Notification | None:
    """The row, locked for the outcome, if our claim (``token``) still holds it."""
    query = select(Notification).where(Notification.id == notification_id,
                                       Notification.status == PENDING,
                                       Notification.next_attempt_at == token)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def list_notifications(session: Session, *, status: str | None = None,
                       limit: int = 100) -> list[Notification]:
    """Newest first."""
    query = select(Notification).order_by(Notification.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Notification.status == status)
    return list(session.scalars(query))


def count(session: Session, *, status: str, channel: str | None = None) -> int:
    query = select(func.count()).select_from(Notification).where(Notification.status == status)
    if channel is not None:
        query = query.where(Notification.channel == channel)
    return int(session.scalar(query) or 0)


def for_case(session: Session, case_id: int) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.case_id == case_id)
                                .order_by(Notification.id)))


def backoff(attempts: int, *, base_s: float = 30.0, cap_s: float = 6 * 3600.0) -> timedelta:
    """The wait after the ``attempts``-th failure: 30 s, 1 min, 2 min... at most 6 h."""
    exponent = max(attempts - 1, 0)
    # Cap the exponent first: 2**large overflows a float before min() could help.
    return timedelta(seconds=min(base_s * 2 ** min(exponent, 32), cap_s))
