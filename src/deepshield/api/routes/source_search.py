"""``POST /v1/forensics/sources``: the registered sources a suspect file may come from (issue 16)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.uploads import read_upload
from deepshield.errors import InvalidRequest
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.verify.source_search import (
    DEFAULT_CANDIDATES,
    MAX_CANDIDATES,
    MAX_COMPARED,
    compare_candidates,
    find_sources,
)

router = APIRouter(tags=["forensics"])

_ONE_FILE = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "the file in question (an image or a video)"}}}}}}}


def _face_boxes(faces: list[str]) -> list[tuple[int, ...]]:
    boxes = []
    for position, face in enumerate(faces, start=1):
        try:
            boxes.append(tuple(int(value) for value in face.split(",")))
        except ValueError:
            raise InvalidRequest(f"face {position}: write a box as x,y,width,height (whole numbers); "
                                 f"got {face[:40]!r}") from None
    return boxes


@router.post("/v1/forensics/sources", responses=ERRORS, openapi_extra=_ONE_FILE)
async def forensics_sources(
    request: Request,
    limit: int = Query(DEFAULT_CANDIDATES, ge=1, le=MAX_CANDIDATES, description="most candidates returned"),
    face: list[str] = Query([], description="a face's box in the file's pixels, x,y,width,height "
                                            "(repeatable, at most 20): its features are left out"),
    compare: bool = Query(False, description=f"also compare the file with up to {MAX_COMPARED} candidates "
                                             "whose reference file the installation holds"),
    principal: Principal = Depends(require(Action.SOURCE_SEARCH)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Look for the source of the uploaded `file` (kept in memory only) in the reference library
    and, for the admin and platform roles, in the content registry.

    `candidates` are ranked, best first; each says where it was found (`corpus`: the reference
    library's `bank` and `reference`, or the registry's `item_id` and `status`), by which
    `signals` (`md5`/`sha256`, `pdq` with the `variant` that met it and its `distance`, `vpdq`
    with `frames_matched` of `frames_searched`, `keypoints` with their `inliers`) and whether its
    file is `reachable` for a comparison. A candidate is a lead: `compare=true` adds the
    comparison with each reachable one (`comparisons`). Keys of the admin, platform and helpline
    roles only.
    """
    boxes = _face_boxes(face)
    upload = await read_upload(request, ctx.settings.limits.max_bytes)
    search = await run_in_threadpool(lambda: find_sources(ctx, upload.data, principal=principal, limit=limit,
                                                          faces=boxes))
    body = search.to_dict()
    if compare:
        compared = await run_in_threadpool(lambda: compare_candidates(ctx, upload.data, search,
                                                                      principal=principal,
                                                                      suspect_name=upload.filename))
        body["comparisons"] = [item.to_dict() for item in compared]
    return body
