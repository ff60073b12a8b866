"""``POST /v1/watermark/detect``: look for DeepShield's invisible watermark in an image."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.routes._openapi import ERRORS, FILE_UPLOAD
from deepshield.api.schemas import WatermarkOut
from deepshield.api.uploads import read_upload
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.label.watermarking import detect_watermark_upload

router = APIRouter(tags=["watermark"])


@router.post("/v1/watermark/detect", response_model=WatermarkOut, responses=ERRORS,
             openapi_extra=FILE_UPLOAD)
async def detect_upload(
    request: Request,
    principal: Principal = Depends(require(Action.WATERMARK_DETECT)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Look for the watermark in the uploaded `file` (kept in memory only).

    `found: false` means no mark was read; it does not mean the image is authentic.
    """
    upload = await read_upload(request, ctx.settings.limits.max_bytes)
    report = await run_in_threadpool(detect_watermark_upload, ctx, upload.data, principal)
    view = asdict(report)
    view["payload"] = view.pop("payload_hex")
    return view
