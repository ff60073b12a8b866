"""The HTTP API: a thin door over ``deepshield.services`` (OpenAPI at /docs)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from deepshield import __version__
from deepshield.api.errors import error_response, install_error_handlers
from deepshield.api.heavy_work import HeavyWorkLimit
from deepshield.api.rate_limit import PublicRateLimiter, TrustedProxies
from deepshield.api.routes import (
    audit,
    banks,
    cases,
    content,
    exchange,
    forensics,
    hashing,
    health,
    hma,
    matching,
    notifications,
    reports,
    soft_binding,
    source_search,
    verification,
    victim,
    watermark,
)
from deepshield.api.uploads import BodySizeLimit
from deepshield.services.context import ServiceContext
from deepshield.services.scheduler import Scheduler, server_rounds
from deepshield.settings import Settings, load_settings
from deepshield.web.app import install_web

log = logging.getLogger("deepshield.api")

#: How ``serve`` (and any other runner) must start uvicorn: uvicorn's own proxy-header handling
#: believes ``X-Forwarded-For`` from 127.0.0.1 by default and rewrites the client before the app
#: sees it. The app decides the client itself, from the peer and ``settings.server.trusted_proxies``
#: (``api/rate_limit.client_address``), so uvicorn must leave the peer as it is.
UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": False}

DESCRIPTION = """
Hash images and videos, keep hash banks, and match uploads against them.

Every `/v1` route needs `Authorization: Bearer <key>` except `/v1/health` and the public,
rate-limited `/v1/verify`, `/v1/reports/check` and `/v1/requests/public`; keys are made with
`deepshield keys create --role admin|platform|helpline|partner|provider`. Errors are JSON
`{"error": code, "detail": message}`. Uploaded media is hashed in memory and never stored.

Takedown requests (`/v1/requests`, `/v1/cases`): victims and representatives file without a key
at `/v1/requests/public` and follow their case with its number and PIN
(`Authorization: Basic base64(case_number:pin)`, `/v1/victim/status`); never send the image.
"""


def create_app(settings: Settings, *, context: ServiceContext | None = None,
               background: bool = False) -> FastAPI:
    """Build the app. ``context`` lets a caller share an already opened store and matcher.

    ``background`` starts the scheduler (case clocks, due withdrawals, the notification
    outbox: services/scheduler.py); ``serve`` turns it on, tests drive those rounds themselves.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = context or await run_in_threadpool(ServiceContext.open, settings)
        # Load the index before taking traffic, so the first match is not slow.
        await run_in_threadpool(ctx.matcher.refresh)
        app.state.context = ctx
        scheduler = Scheduler(ctx, server_rounds()) if background else None
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)
            if context is None:
                ctx.close()

    app = FastAPI(title="DeepShield", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan)
    install_error_handlers(app)
    app.add_exception_handler(OverflowError, _number_out_of_range)
    # Who the client is, and the public routes' buckets, come from settings (api/rate_limit.py).
    app.state.trusted_proxies = TrustedProxies(settings.server.trusted_proxies)
    app.state.public_rate_limiter = PublicRateLimiter.from_settings(settings.server)
    app.add_middleware(BodySizeLimit, max_bytes=settings.limits.max_bytes)
    app.add_middleware(HeavyWorkLimit, max_heavy=settings.server.max_heavy_requests,
                       retry_after_s=settings.server.heavy_retry_after_s)
    # The lookup doors first: a request is matched against the routers in this order, and each
    # router passed over cost a platform's lookup about 10 us (0.07 ms when HMA's came eighth).
    for module in (hma, matching, health, hashing, banks, audit, watermark, exchange, soft_binding,
                   verification, forensics, source_search, notifications, cases, victim, reports, content):
        app.include_router(module.router)
    # The web door (pages at /, files at /static) on the same app and service context.
    install_web(app)
    return app


async def _number_out_of_range(_: Request, error: Exception) -> JSONResponse:
    """The last resort for a number too large for the database that a route did not bound
    (every route bounds its integers with ``schemas.MAX_INT``): a 400 on a connection that stays
    open, not a 500 and a reset."""
    log.warning("a number out of range reached the store", exc_info=error)
    return error_response(400, "invalid_request", "a number in the request is out of range")


def create_app_from_environment() -> FastAPI:
    """The app on ``load_settings()``: the factory each ``serve --workers N`` process calls."""
    return create_app(load_settings(), background=True)
