"""Use cases: signing in to the web door, and who a session's cookie speaks for.

Two kinds of session, both kept server-side in ``web_sessions`` by a SHA-256 of a random token
(the cookie holds the token; the database never does, so a copy of it cannot be replayed):
- staff sign in with an API key (``sign_in_with_key``). The key itself is never kept: the session
  remembers the key's public id, and every request checks the key is still valid, so revoking a
  key ends its sessions at once;
- a victim signs in with her case number and PIN (``sign_in_victim``), through the same slow KDF
  and lockout as the API (``victim_access.victim_principal``). Her session reaches her case only.

Sessions expire (``ServerSettings.staff_session_minutes`` / ``victim_session_minutes``) and end at
sign-out. The form token that protects each session's forms against cross-site requests is derived
from the session token (``form_token``), so it needs no storage and dies with the session. Every
sign-in, failed sign-in and sign-out is audit-logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from deepshield.errors import Unauthorized
from deepshield.services import api_keys
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import victim_access
from deepshield.store import audit_repository as audit
from deepshield.store import key_repository
from deepshield.store import web_session_repository as repo
from deepshield.store.models import WebSession, utcnow

#: What a caller is told for a missing, unknown, ended or expired session: one sentence for all,
#: so it learns nothing about which.
SESSION_ENDED = "your session has ended or is not valid; please sign in again"
#: Random bytes in a session token (the cookie's value, URL-safe base64).
TOKEN_BYTES = 32
#: Longest token accepted; anything longer is not one of ours (and is not hashed).
MAX_TOKEN_CHARS = 64


@dataclass(frozen=True)
class StartedSession:
    """A new session: ``token`` goes into the cookie, once; ``form_token`` into its forms."""

    token: str
    form_token: str
    principal: Principal
    expires_at: datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def form_token(token: str) -> str:
    """The anti-forgery token for the forms of the session ``token`` (HMAC of the token)."""
    return hmac.new(token.encode("ascii", "replace"), b"deepshield web form", hashlib.sha256).hexdigest()


def form_token_matches(token: str, submitted: str) -> bool:
    """Whether ``submitted`` is the form token of session ``token`` (constant-time)."""
    return bool(submitted) and hmac.compare_digest(form_token(token), submitted)


def _start(ctx: ServiceContext, principal: Principal, *, key_id: str | None, case_number: str | None,
           minutes: float, now: datetime | None) -> StartedSession:
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + timedelta(minutes=minutes)
    with ctx.store.transaction() as session:
        repo.add_session(session, WebSession(
            token_hash=_token_hash(token), key_id=key_id, case_number=case_number,
            actor=principal.actor, role=principal.role.value, created_at=now, expires_at=expires_at))
        audit.record_event(session, principal.actor, "web.sign_in", "", role=principal.role.value,
                           minutes=minutes)
        # Expired sessions are dropped as new ones start, so the table stays small.
        repo.prune_sessions(session, now - timedelta(days=1))
    return StartedSession(token, form_token(token), principal, expires_at)


def sign_in_with_key(ctx: ServiceContext, api_key: str, *, now: datetime | None = None) -> StartedSession:
    """A staff session for a valid API key; ``Unauthorized`` (audit-logged) for anything else."""
    try:
        principal = api_keys.authenticate(ctx, api_key)
    except Unauthorized:
        with ctx.store.transaction() as session:
            audit.record_event(session, "web", "web.sign_in_failed", "", reason="key")
        raise
    key_id = principal.actor.removeprefix("key:")
    return _start(ctx, principal, key_id=key_id, case_number=None,
                  minutes=ctx.settings.server.staff_session_minutes, now=now)


def sign_in_victim(ctx: ServiceContext, case_number: str, pin: str, *,
                   now: datetime | None = None) -> StartedSession:
    """A victim's session for her case number and PIN (slow KDF, lockout, one answer for every
    failure: ``Unauthorized(NOT_RECOGNISED)``, as the API gives)."""
    principal = victim_access.victim_principal(ctx, case_number, pin, now=now)
    return _start(ctx, principal, key_id=None, case_number=principal.case_number,
                  minutes=ctx.settings.server.victim_session_minutes, now=now)


def session_principal(ctx: ServiceContext, token: str, *, now: datetime | None = None) -> Principal:
    """Who the session ``token`` speaks for; ``Unauthorized(SESSION_ENDED)`` when it is unknown,
    expired, signed out, or its key was revoked since."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized(SESSION_ENDED)
    now = now or utcnow()
    with ctx.store.transaction() as session:
        found = repo.find_session(session, _token_hash(token))
        if found is None or found.ended_at is not None or found.expires_at <= now:
            raise Unauthorized(SESSION_ENDED)
        if found.key_id is not None:
            key = key_repository.find_key(session, found.key_id)
            if key is None or key.revoked_at is not None:
                raise Unauthorized(SESSION_ENDED)
        return Principal(actor=found.actor, role=Role(found.role), case_number=found.case_number)


def sign_out(ctx: ServiceContext, token: str, *, now: datetime | None = None) -> bool:
    """End the session ``token``; False when there was no open session (nothing to end)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return False
    now = now or utcnow()
    with ctx.store.transaction() as session:
        found = repo.find_session(session, _token_hash(token))
        if found is None or found.ended_at is not None:
            return False
        found.ended_at = now
        audit.record_event(session, found.actor, "web.sign_out", "")
    return True
