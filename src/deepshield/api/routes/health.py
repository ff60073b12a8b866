"""``GET /v1/health``: liveness, with no authentication and no data."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from deepshield import __version__
from deepshield.api.auth import service_context
from deepshield.api.schemas import HealthOut
from deepshield.services.context import ServiceContext
from deepshield.services.health import check_store

router = APIRouter(tags=["health"])


@router.get("/v1/health", response_model=HealthOut)
async def health(ctx: ServiceContext = Depends(service_context)) -> HealthOut:
    """`ok` when the store answers. Needs no key."""
    await run_in_threadpool(check_store, ctx)
    return HealthOut(status="ok", store=ctx.store.backend, version=__version__)
