"""Bearer-key authentication and role checks, as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from deepshield.errors import Unauthorized
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.keys import authenticate, cached_principal


async def service_context(request: Request) -> ServiceContext:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
    # hop per request for a dictionary read.
    return request.app.state.context  # type: ignore[no-any-return]


def require(action: Action) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency that authenticates the caller and checks that its role may do ``action``."""

    async def dependency(request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
        ctx: ServiceContext = request.app.state.context
        principal = cached_principal(ctx, token)
        if principal is None:
            principal = await run_in_threadpool(authenticate, ctx, token)
        authorize(principal, action)
        return principal

    return dependency
