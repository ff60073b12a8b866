"""API keys: stored as a public id plus a hash of the secret."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deepshield.errors import NotFound
from deepshield.store.models import ApiKey, utcnow


def add_key(session: Session, key_id: str, secret_hash: str, role: str, label: str) -> ApiKey:
    key = ApiKey(key_id=key_id, secret_hash=secret_hash, role=role, label=label, created_at=utcnow())
    session.add(key)
    session.flush()
    return key


def find_key(session: Session, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def count_active_keys(session: Session, role: str) -> int:
    query = select(func.count()).select_from(ApiKey).where(
        ApiKey.role == role, ApiKey.revoked_at.is_(None)
    )
    return int(session.scalar(query) or 0)


def revoke_key(session: Session, key_id: str) -> ApiKey:
    key = find_key(session, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key
