"""The notification outbox, for admins: ``GET /v1/notifications``, ``POST /v1/notifications/deliver``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.routes._openapi import ERRORS
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import outbox as notification_service

router = APIRouter(tags=["notifications"])


@router.get("/v1/notifications", responses=ERRORS)
async def list_notifications(
    status: str | None = Query(None, description="pending, sent or failed; all when left out."),
    limit: int = Query(100, ge=1, le=notification_service.MAX_LIST),
    principal: Principal = Depends(require(Action.NOTIFICATIONS_MANAGE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """The outbox, newest first: `{"notifications": [{"id", "case_ref", "kind", "channel",
    "recipient", "subject", "status", "attempts", "next_attempt_at", "last_error",
    "created_at", "sent_at"}]}`. Recipients are masked (a sent message keeps only
    `redacted:<hash prefix>`) and bodies are never shown. Admin keys only.
    """
    views = await run_in_threadpool(
        lambda: notification_service.list_notifications(ctx, principal, status, limit=limit))
    return {"notifications": [notification_service.notification_view(view) for view in views]}


@router.post("/v1/notifications/deliver", responses=ERRORS)
async def deliver_notifications(
    limit: int = Query(100, ge=1, le=notification_service.MAX_LIST),
    principal: Principal = Depends(require(Action.NOTIFICATIONS_MANAGE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, int]:
    """Send what is due now (the server's scheduler also does this every few seconds):
    `{"sent", "failed", "retried", "pending_left", "waiting_for_smtp"}`. Emails wait while
    SMTP is not configured (`waiting_for_smtp`). Admin keys only.
    """
    report = await run_in_threadpool(
        lambda: notification_service.deliver(ctx, principal, limit=limit))
    return notification_service.report_view(report)
