"""Who is calling a web page: the session cookies, and the dependencies that turn them into a
principal. What a principal may do is decided by the services (``services.access``), never here.

- ``ds_staff``: a staff member's session (signed in with an API key);
- ``ds_case``: a victim's session (signed in with her case number and PIN);
- ``ds_form``: a random anti-forgery value for the public forms, which have no session yet.

Every cookie is HttpOnly, SameSite=Strict, limited to this site's path ``/``, and Secure when the
page was reached over HTTPS or ``ServerSettings.secure_cookies`` says so (behind a proxy that ends
TLS). The session cookies expire with their session.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from deepshield.errors import Unauthorized
from deepshield.services import web_sessions
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext

STAFF_COOKIE = "ds_staff"
VICTIM_COOKIE = "ds_case"
FORM_COOKIE = "ds_form"
#: Where a page that needs a staff sign-in sends the browser.
STAFF_SIGN_IN = "/staff/sign-in"
#: Where a page that needs the victim's case number and PIN sends the browser.
VICTIM_SIGN_IN = "/case"


class SignInRequired(Exception):
    """Raised by a page that needs a session the request does not carry; the door answers with
    a redirect to ``sign_in_path`` (``web.app``)."""

    def __init__(self, sign_in_path: str, cookie: str) -> None:
        super().__init__(sign_in_path)
        self.sign_in_path = sign_in_path
        self.cookie = cookie


def context_of(request: Request) -> ServiceContext:
    return request.app.state.context  # type: ignore[no-any-return]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or context_of(request).settings.server.secure_cookies


def set_cookie(request: Request, response: Response, name: str, value: str, *,
               expires_at: datetime | None = None) -> None:
    """Set one of the door's cookies with its fixed attributes (HttpOnly, SameSite=Strict, path /,
    Secure over HTTPS or where configured); ``expires_at`` None makes it last the browser session."""
    response.set_cookie(name, value, expires=expires_at, path="/", httponly=True, samesite="strict",
                        secure=_secure(request))


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=_secure(request))


async def _session(request: Request, cookie: str, sign_in_path: str) -> Principal:
    token = request.cookies.get(cookie, "")
    if not token:
        raise SignInRequired(sign_in_path, cookie)
    try:
        principal = await run_in_threadpool(web_sessions.session_principal, context_of(request), token)
    except Unauthorized:
        raise SignInRequired(sign_in_path, cookie) from None
    # The form token of this request's forms is the session's (``forms``, ``templating``).
    request.state.session_token = token
    request.state.principal = principal
    return principal


async def staff_principal(request: Request) -> Principal:
    """A dependency: the signed-in staff member's principal, or a redirect to the sign-in page."""
    principal = await _session(request, STAFF_COOKIE, STAFF_SIGN_IN)
    if principal.role is Role.VICTIM:  # never so: staff sessions come from keys only
        raise SignInRequired(STAFF_SIGN_IN, STAFF_COOKIE)
    return principal


async def victim_principal(request: Request) -> Principal:
    """A dependency: the victim's principal from her "check my case" session, or a redirect to
    the page that asks for her case number and PIN."""
    principal = await _session(request, VICTIM_COOKIE, VICTIM_SIGN_IN)
    if principal.role is not Role.VICTIM or principal.case_number is None:
        raise SignInRequired(VICTIM_SIGN_IN, VICTIM_COOKIE)
    return principal


async def optional_staff_principal(request: Request) -> Principal | None:
    """The staff principal when a valid staff session comes with the request, else None (for
    pages open to everyone that show more to staff)."""
    try:
        return await staff_principal(request)
    except SignInRequired:
        return None


def public_form_value(request: Request) -> str:
    """This browser's anti-forgery value for public forms: its ``ds_form`` cookie, or a new one
    that ``templating.render`` sets on the response."""
    existing = request.cookies.get(FORM_COOKIE, "")
    if existing and len(existing) <= web_sessions.MAX_TOKEN_CHARS:
        return existing
    made = getattr(request.state, "new_form_value", "")
    if not made:
        made = secrets.token_urlsafe(24)
        request.state.new_form_value = made
    return made


def form_token_of(request: Request) -> str:
    """The anti-forgery token this request's forms must carry: the session's, or the public one."""
    token = getattr(request.state, "session_token", "")
    return web_sessions.form_token(token) if token else public_form_value(request)
