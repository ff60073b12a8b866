"""The audit log: one row per action, written in the same transaction as the action."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from deepshield.store.models import AuditEvent, utcnow


def record_event(
    session: Session, actor: str, action: str, target: str = "", **detail: Any
) -> AuditEvent:
    event = AuditEvent(
        at=utcnow(), actor=actor[:64], action=action, target=target[:200],
        detail=json.dumps(detail, sort_keys=True, default=str),
    )
    session.add(event)
    return event


def recent_events(session: Session, limit: int = 100) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)))
