"""The audit log (admin only): ``/v1/audit/verify`` and ``/v1/audit/events``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.routes._openapi import ERRORS
from deepshield.services import audit as audit_service
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext

router = APIRouter(tags=["audit"])


class ChainReportOut(BaseModel):
    ok: bool = Field(description="True only when no event was altered, removed, inserted or "
                                 "reordered, and the chain ends at its recorded head.")
    events: int = Field(description="Events read.")
    head_seq: int = Field(description="The sequence number the chain head records.")
    head_hash: str = Field(description="The head's hash: keep a copy outside the database.")
    first_bad_seq: int | None = Field(description="The first event where the chain breaks.")
    problems: list[str] = Field(description="Every break found (at most 20), in plain words.")


class AuditEventOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    automated: bool = Field(description="True when the system decided with no person involved.")
    detail: dict[str, Any] = Field(description="Ids and counts; never PII or hash values.")
    entry_hash: str = Field(description="The event's hash in the chain.")


@router.get("/v1/audit/verify", response_model=ChainReportOut, responses=ERRORS)
async def verify_audit_log(
    principal: Principal = Depends(require(Action.AUDIT_VERIFY)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Recompute the audit log's hash chain (admin). Answers 200 either way: read ``ok``."""
    report = await run_in_threadpool(audit_service.verify_audit_log, ctx, principal)
    return audit_service.chain_report_view(report)


@router.get("/v1/audit/events", response_model=list[AuditEventOut], responses=ERRORS)
async def list_audit_events(
    target: str | None = Query(None, max_length=200,
                               description="Only events about this target, e.g. case:12."),
    action: str | None = Query(None, max_length=65,
                               description="An action (bank.add) or a prefix ending in * (case.*)."),
    limit: int = Query(100, ge=1, le=audit_service.MAX_EVENTS),
    principal: Principal = Depends(require(Action.AUDIT_VERIFY)),
    ctx: ServiceContext = Depends(service_context),
) -> list[dict[str, Any]]:
    """The newest audit events first (admin); the listing is itself logged."""
    events = await run_in_threadpool(
        lambda: audit_service.list_events(ctx, principal, target=target, action=action, limit=limit))
    return [audit_service.event_view(event) for event in events]
