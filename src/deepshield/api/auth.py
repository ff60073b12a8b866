"""Authentication, as FastAPI dependencies: who is calling, as a ``Principal``.

Keys come as ``Authorization: Bearer <key>``. On the case routes a victim may instead send her
case number and PIN as ``Authorization: Basic base64(case_number:pin)``. The public routes
pass no principal (None).

Where access is decided: in the services. Every route passes its principal to the service,
which authorises it (``access.authorize``) and scopes it (the case and bank rules of
``services.access``); that is the decision, the same for the CLI and the API. The ``Action``
that ``require`` and ``require_case_access`` take is only an early rejection, made with the same
``authorize`` before a body is read, so that a caller that could never succeed costs no upload,
parse or KDF run. It never allows anything the service would refuse, and no route relies on it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.rate_limit import public_rate_limit
from deepshield.errors import Forbidden, Unauthorized
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.api_keys import authenticate, cached_principal
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import victim_access


async def service_context(request: Request) -> ServiceContext:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
    # hop per request for a dictionary read.
    return request.app.state.context  # type: ignore[no-any-return]


def require(action: Action) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency that authenticates the caller (a key) and returns its principal. A role that
    may not do ``action`` is refused here, early, before the body is read; the service the route
    calls still decides."""

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        principal = await _key_principal(request, token)
        authorize(principal, action)
        return principal

    return dependency


async def _key_principal(request: Request, token: str) -> Principal:
    ctx: ServiceContext = request.app.state.context
    principal = cached_principal(ctx, token)
    if principal is None:
        principal = await run_in_threadpool(authenticate, ctx, token)
    return principal


def victim_credentials(token: str) -> tuple[str, str]:
    """The case number and PIN of a Basic credential. Anything malformed is refused with the
    same ``Unauthorized(NOT_RECOGNISED)`` as a wrong PIN, so a caller learns nothing from it."""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise Unauthorized(case_records.NOT_RECOGNISED) from None
    case_number, separator, pin = decoded.partition(":")
    # Case numbers are short; a long value is not one (and is not worth a KDF run).
    if not separator or not case_number or not pin or len(case_number) > 64 or len(pin) > 64:
        raise Unauthorized(case_records.NOT_RECOGNISED)
    return case_number.strip(), pin.strip()


async def victim_principal(request: Request, token: str) -> Principal:
    """The victim's principal for a Basic credential, or ``Unauthorized(NOT_RECOGNISED)``.

    Each attempt costs a slow KDF run, so attempts are rate-limited per client address like
    the public routes (the service also locks a case after repeated failures)."""
    await public_rate_limit(request)
    case_number, pin = victim_credentials(token)
    ctx: ServiceContext = request.app.state.context
    return await run_in_threadpool(victim_access.victim_principal, ctx, case_number, pin)


def require_case_access(action: Action) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """Like ``require``, but a victim may also authenticate with her case number and PIN
    (``Authorization: Basic base64(case_number:pin)``). Her principal reaches only her case:
    the service scopes every call by ``principal.case_number``."""

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "basic" and token.strip():
            principal = await victim_principal(request, token)
        elif scheme.lower() == "bearer" and token.strip():
            principal = await _key_principal(request, token)
        else:
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>', or a case number and "
                               "PIN as 'Authorization: Basic base64(case_number:pin)'")
        authorize(principal, action)
        return principal

    return dependency


def require_victim() -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency for the victim's own routes: only a case number and PIN (Basic) are accepted.
    Every failed login (unknown case, wrong PIN, locked, malformed credential) is the same 401."""

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            raise Unauthorized("send the case number and PIN as "
                               "'Authorization: Basic base64(case_number:pin)'")
        return await victim_principal(request, token)

    return dependency


def key_or_public(action: Action) -> Callable[[Request], Coroutine[Any, Any, Principal | None]]:
    """For public routes (``/v1/verify``, ``/v1/reports/check``): the key's principal when a
    valid key whose role may do ``action`` is sent (no rate limit; the audit log names the
    key); otherwise None, after the public per-address rate limit. A wrong key, or one whose
    role may not, is treated as no key: these doors are open to everyone."""
    keyed = require(action)

    async def dependency(request: Request) -> Principal | None:
        if request.headers.get("authorization", "").lower().startswith("bearer "):
            try:
                return await keyed(request)
            except (Unauthorized, Forbidden):
                pass
        await public_rate_limit(request)
        return None

    return dependency
