"""Providers' watermark keys: a public id, the secret (sealed at rest by its column type), the
owner, and when it was made and retired. The secret is read only where a key is used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deepshield.store.models import WatermarkKeyRecord, utcnow


@dataclass(frozen=True)
class KeyState:
    """What changes whenever a key is added or retired: (keys, retired keys, highest row id)."""

    count: int
    retired: int
    max_id: int


def add_key(session: Session, key_id: str, secret_hex: str, owner: str) -> WatermarkKeyRecord:
    record = WatermarkKeyRecord(key_id=key_id, secret=secret_hex, owner=owner, created_at=utcnow())
    session.add(record)
    session.flush()
    return record


def find_key(session: Session, key_id: str) -> WatermarkKeyRecord | None:
    return session.scalar(select(WatermarkKeyRecord).where(WatermarkKeyRecord.key_id == key_id))


def active_key_of(session: Session, owner: str) -> WatermarkKeyRecord | None:
    """``owner``'s oldest key that is not retired, if any (two made at once by concurrent first
    labels: every caller settles on the same one)."""
    return session.scalar(select(WatermarkKeyRecord)
                          .where(WatermarkKeyRecord.owner == owner, WatermarkKeyRecord.retired_at.is_(None))
                          .order_by(WatermarkKeyRecord.id).limit(1))


def list_keys(session: Session) -> list[WatermarkKeyRecord]:
    """Every key, oldest first (the secrets are opened only if a caller reads ``secret``)."""
    return list(session.scalars(select(WatermarkKeyRecord).order_by(WatermarkKeyRecord.id)))


def active_secrets(session: Session) -> list[tuple[str, str]]:
    """``(key id, secret hex)`` of every key that is not retired, oldest first."""
    rows = session.execute(select(WatermarkKeyRecord.key_id, WatermarkKeyRecord.secret)
                           .where(WatermarkKeyRecord.retired_at.is_(None))
                           .order_by(WatermarkKeyRecord.id))
    return [(key_id, secret) for key_id, secret in rows]


def active_owners(session: Session) -> dict[str, str]:
    """``{key id: owner}`` of every key that is not retired (no secret is read)."""
    rows = session.execute(select(WatermarkKeyRecord.key_id, WatermarkKeyRecord.owner)
                           .where(WatermarkKeyRecord.retired_at.is_(None)))
    return {key_id: owner for key_id, owner in rows}


def key_state(session: Session) -> KeyState:
    """One cheap query whose answer changes whenever a key is added or retired (row ids are never
    reused, and retiring is one way), so a reader can tell its cached keys are stale."""
    count, retired, max_id = session.execute(select(
        func.count(WatermarkKeyRecord.id), func.count(WatermarkKeyRecord.retired_at),
        func.coalesce(func.max(WatermarkKeyRecord.id), 0))).one()
    return KeyState(int(count), int(retired), int(max_id))


def retire_key(session: Session, record: WatermarkKeyRecord, when: datetime | None = None) -> bool:
    """Mark ``record`` retired; False if it already was."""
    if record.retired_at is not None:
        return False
    record.retired_at = when or utcnow()
    session.flush()
    return True
