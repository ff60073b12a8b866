"""``POST /v1/hash``: fingerprint an upload without storing it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.routes._openapi import ERRORS, FILE_UPLOAD
from deepshield.api.schemas import HashOut
from deepshield.api.uploads import read_upload
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.json_shapes import media_signals_json
from deepshield.services.spread.hashing import hash_upload

router = APIRouter(tags=["hashing"])


@router.post("/v1/hash", response_model=HashOut, responses=ERRORS, openapi_extra=FILE_UPLOAD)
async def hash_file_upload(
    request: Request,
    principal: Principal = Depends(require(Action.HASH)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """PDQ (images) or vPDQ (videos), MD5 and SHA-256 of the uploaded `file`. Nothing is kept."""
    upload = await read_upload(request, ctx.settings.limits.max_bytes)
    media = await run_in_threadpool(hash_upload, ctx, upload.data, principal)
    return media_signals_json(media, ctx.settings.match.pdq_min_quality)
