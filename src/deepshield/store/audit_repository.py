"""The audit log: one row per action, written in the same transaction as the action."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from deepshield.store.models import AuditEvent, utcnow


def record_event(
    session: Session, actor: str, action: str, target: str = "", **detail: Any
) -> AuditEvent:
    event = AuditEvent(**event_row(actor, action, target, detail))
    session.add(event)
    return event


def event_row(actor: str, action: str, target: str, detail: dict[str, Any]) -> dict[str, Any]:
    """The column values of one audit event, stamped now."""
    return {"at": utcnow(), "actor": actor[:64], "action": action, "target": target[:200],
            "detail": json.dumps(detail, sort_keys=True, default=str)}


def insert_event_rows(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert many prepared events (``event_row``) in one Core statement."""
    if rows:
        connection.execute(insert(AuditEvent.__table__), rows)


def recent_events(session: Session, limit: int = 100) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
