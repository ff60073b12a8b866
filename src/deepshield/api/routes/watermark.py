"""``POST /v1/watermark/detect``: look for DeepShield's invisible watermark in an image, with this
repository's keys; ``POST /v1/watermark/key``: a provider's own secret watermark key."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.routes._openapi import ERRORS, FILE_UPLOAD
from deepshield.api.schemas import WatermarkKeyOut, WatermarkOut
from deepshield.api.uploads import read_upload
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.label.watermark_keys import export_key
from deepshield.services.label.watermarking import WatermarkReport, detect_watermark_upload

router = APIRouter(tags=["watermark"])


def watermark_view(report: WatermarkReport) -> dict[str, Any]:
    """A detection as the API shows it: ``payload`` for ``payload_hex``, in every mark too."""
    view = asdict(report)
    view["payload"] = view.pop("payload_hex")
    view["marks"] = [{"payload": mark.pop("payload_hex"), **mark} for mark in view["marks"]]
    return view


@router.post("/v1/watermark/detect", response_model=WatermarkOut, responses=ERRORS,
             openapi_extra=FILE_UPLOAD)
async def detect_upload(
    request: Request,
    principal: Principal = Depends(require(Action.WATERMARK_DETECT)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Look for the watermark in the uploaded `file` (kept in memory only), with this
    repository's keys: the public key and every provider's secret key. `marks` lists every mark
    read, each with its key (`public` or a provider's key id).

    `found: false` means no mark was read; it does not mean the image is authentic.
    """
    upload = await read_upload(request, ctx.settings.limits.max_bytes)
    report = await run_in_threadpool(detect_watermark_upload, ctx, upload.data, principal)
    return watermark_view(report)


@router.post("/v1/watermark/key", response_model=WatermarkKeyOut, responses=ERRORS)
async def own_watermark_key(
    response: Response,
    principal: Principal = Depends(require(Action.LABEL)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """The caller's own secret watermark key (made on first use), as a key file's content: what
    an installation labelling into this repository marks its output with, and what reads those
    marks offline. This repository reads them too. Audit-logged; keep the answer secret."""
    exported = await run_in_threadpool(lambda: export_key(ctx, principal, create=True))
    response.headers["Cache-Control"] = "no-store"
    return exported.document
