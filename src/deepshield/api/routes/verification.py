"""``POST /v1/verify``: the public verification interface. One report per uploaded file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import key_or_public, service_context
from deepshield.api.routes._openapi import ERRORS, FILE_UPLOAD
from deepshield.api.uploads import read_upload
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.verify.verification import verify_upload

router = APIRouter(tags=["verify"])
@router.post("/v1/verify", responses=ERRORS, openapi_extra=FILE_UPLOAD)
async def verify(
    request: Request,
    principal: Principal | None = Depends(key_or_public(Action.VERIFY)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Verify the uploaded `file` (kept in memory only): embedded C2PA manifest, watermark,
    repository lookups, consistency, and a `verdict` of `verified`, `recovered`, `invalid` or
    `unknown` with a `summary` in plain words and the `reasons`.

    Open without a key (rate-limited per address); with a key, any role. `unknown` means no
    label was found: it never means the content is authentic.
    """
    upload = await read_upload(request, ctx.settings.limits.max_bytes)
    report = await run_in_threadpool(verify_upload, ctx, upload.data, principal)
    return report.to_dict()
