"""Web door sessions (``web_sessions``): stored by a SHA-256 of the cookie's token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from deepshield.store.models import WebSession


def add_session(session: Session, web_session: WebSession) -> WebSession:
    session.add(web_session)
    session.flush()
    return web_session


def find_session(session: Session, token_hash: str) -> WebSession | None:
    return session.get(WebSession, token_hash)


def end_sessions_of_key(session: Session, key_id: str, now: datetime) -> int:
    """End every open session signed in with ``key_id`` (the key was revoked); how many."""
    result = session.execute(update(WebSession).where(
        WebSession.key_id == key_id, WebSession.ended_at.is_(None)).values(ended_at=now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_sessions(session: Session, before: datetime) -> int:
    """Delete sessions that expired or ended before ``before``; how many."""
    result = session.execute(delete(WebSession).where(
        (WebSession.expires_at < before) | (WebSession.ended_at < before)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
