"""``POST /v1/forensics/compare``: a file compared with a suspected source (issue 16)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import key_or_public, service_context
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.uploads import read_uploads
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.verify.source_comparison import compare_with_source

router = APIRouter(tags=["forensics"])

_TWO_FILES = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["suspect", "source"],
    "properties": {"suspect": {"type": "string", "format": "binary", "description": "the file in question"},
                   "source": {"type": "string", "format": "binary",
                              "description": "the picture or video it may have been made from"}}}}}}}


@router.post("/v1/forensics/compare", responses=ERRORS, openapi_extra=_TWO_FILES)
async def forensics_compare(
    request: Request,
    figure: bool = Query(False, description="also return the figure (PNG, base64; for a video, its "
                                            "timeline strip) and the mask (images only)"),
    principal: Principal | None = Depends(key_or_public(Action.FORENSICS_COMPARE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Compare the uploaded `suspect` with the uploaded `source` (kept in memory only; together
    within the upload limit): is the suspect that picture, or that footage, with a region replaced?
    Two images, two videos (the suspect placed in the source by its frames, up to 12 frames
    compared), or an image against a source video (compared with its nearest frames).

    `outcome` is `derived_local_difference`, `derived_no_difference`, `not_derived` or
    `inconclusive`, with a `summary` in plain words, the `numbers` behind it and the method's
    known `limits`. It never calls a file fake or real. Open without a key (rate-limited per
    address); with a key, any role.
    """
    uploads = await read_uploads(request, ctx.settings.limits.max_bytes, ("suspect", "source"))
    suspect, source = uploads["suspect"], uploads["source"]
    result = await run_in_threadpool(compare_with_source, ctx, suspect.data, source.data, principal=principal,
                                     suspect_name=suspect.filename, source_name=source.filename)
    body = result.to_dict()
    if figure:
        # Both are PNG encodes of up to the analysis size: off the event loop.
        picture, mask = await run_in_threadpool(lambda: (result.figure_png(), result.mask_png()))
        body["figure_png"] = base64.b64encode(picture).decode("ascii") if picture is not None else None
        body["mask_png"] = base64.b64encode(mask).decode("ascii") if mask is not None else None
    return body
