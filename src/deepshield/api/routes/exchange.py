"""The partner exchange: ``GET /v1/exchange/updates`` and ``POST /v1/exchange/feedback``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.bodies import BodyLimit, json_body, read_json
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.schemas import MAX_INT, RowId
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.spread.exchange import (
    MAX_FEEDBACK_BODY_BYTES,
    MAX_PAGE,
    fetch_updates,
    record_feedback,
    update_json,
)

router = APIRouter(tags=["exchange"])


class FeedbackItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entry_id: RowId = Field(description="The entry_id of an update.")
    status: str = Field(description="Blocked, NotBlocked or PendingReview.", examples=["Blocked"])


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feedback: list[FeedbackItemIn] = Field(max_length=10_000)


@router.get("/v1/exchange/updates", responses=ERRORS)
async def exchange_updates(
    # Only the bound the store needs here: the service refuses a negative one (400), by name.
    checkpoint: int = Query(0, le=MAX_INT,
                            description="The checkpoint of the previous page; 0 for everything."),
    limit: int = Query(1000, ge=1, le=MAX_PAGE),
    principal: Principal = Depends(require(Action.EXCHANGE_FETCH)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Hashes written since `checkpoint`: `{"updates": [{"entry_id", "bank", "signal_type",
    "signal_value", "quality", "state": "active"|"deleted"}], "checkpoint": N, "more": bool}`.

    Withdrawn and disabled entries come as `deleted`: remove them. Partner keys only.
    """
    page = await run_in_threadpool(fetch_updates, ctx, principal, checkpoint, limit)
    return {"updates": [update_json(u) for u in page.updates], "checkpoint": page.checkpoint,
            "more": page.more}


@router.post("/v1/exchange/feedback", responses=ERRORS, openapi_extra=json_body(FeedbackIn))
async def exchange_feedback(
    request: Request,
    principal: Principal = Depends(require(Action.EXCHANGE_FEEDBACK)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, int]:
    """What the partner did per hash: `{"feedback": [{"entry_id": 1, "status": "Blocked"}]}`."""
    body = await read_json(request, FeedbackIn, BodyLimit(MAX_FEEDBACK_BODY_BYTES))
    recorded = await run_in_threadpool(record_feedback, ctx, principal,
                                       [(item.entry_id, item.status) for item in body.feedback])
    return {"recorded": recorded}
