"""The audit log: one row per action, committed in the same transaction as the action.

Events join a hash chain (``audit_chain``) when their transaction commits: ``record_event``
queues the event on the session, and the store's ``before_commit`` hook chains and inserts
everything queued, so the chain head stays locked only for the commit itself.

Reads (matches, hashing, detection) are recorded through ``audit_group_commit`` instead, into
``audit_read_events``; the readers here show both tables as one log, in ``seq`` order.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from deepshield.store import audit_chain
from deepshield.store.models import AuditEvent, AuditReadEvent, utcnow

#: An event of the log, from either table (they have the same fields).
LoggedEvent = AuditEvent | AuditReadEvent

_PENDING = "deepshield.audit_pending"


def record_event(session: Session, actor: str, action: str, target: str = "", *,
                 automated: bool = False, **detail: Any) -> dict[str, Any]:
    """Queue one event; it is written, chained, when ``session`` commits (never if it rolls
    back). ``automated`` says the system decided on its own, with no person in the loop."""
    row = event_row(actor, action, target, detail, automated=automated)
    session.info.setdefault(_PENDING, []).append(row)
    return row


def write_pending(session: Session) -> None:
    """Chain and insert the events queued on ``session`` (the store calls this before commit)."""
    rows = session.info.pop(_PENDING, None)
    if rows:
        audit_chain.append(session.connection(), rows)


def discard_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def event_row(actor: str, action: str, target: str, detail: dict[str, Any], *,
              automated: bool = False) -> dict[str, Any]:
    """The column values of one audit event, stamped now (the chain columns come later)."""
    return {"at": utcnow(), "actor": actor[:64], "action": action, "target": target[:200],
            "detail": json.dumps(detail, sort_keys=True, default=str), "automated": automated}


def recent_events(session: Session, limit: int = 100) -> list[LoggedEvent]:
    """The newest ``limit`` events of the whole log, reads included, newest first."""
    return newest_first(session, select(AuditEvent), select(AuditReadEvent), limit)


def newest_first(session: Session, events: Select[Any], reads: Select[Any],
                 limit: int) -> list[LoggedEvent]:
    """The newest ``limit`` rows of two queries, one on each table (filtered alike), as one
    list in ``seq`` order, newest first: each table gives at most ``limit``, then they merge."""
    found: list[LoggedEvent] = [
        *session.scalars(events.order_by(AuditEvent.seq.desc()).limit(limit)),
        *session.scalars(reads.order_by(AuditReadEvent.seq.desc()).limit(limit)),
    ]
    found.sort(key=lambda event: event.seq, reverse=True)
    return found[:limit]


def events_for_target(session: Session, target: str) -> list[AuditEvent]:
    """Every event about ``target`` (e.g. ``case:12``), oldest first: a case's history.

    Only ``audit_events``: a read's target is never a case (reads name a manifest at most),
    and ``audit_read_events`` has no index on ``target`` to look one up by."""
    return list(session.scalars(select(AuditEvent).where(AuditEvent.target == target)
                                .order_by(AuditEvent.seq)))
