"""Takedown requests and cases: intake, the review queue, decisions, appeals, withdrawal, misuse.

Who may call what is the table in ``services/access.py``; the services also scope every case
(a helpline sees the cases it filed, a victim her own), and a case out of scope answers exactly
like one that does not exist. Routes whose action a victim may perform accept her case number
and PIN (``Authorization: Basic``) as well as a key.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, require_case_access, service_context
from deepshield.api.bodies import json_body, read_json
from deepshield.api.case_schemas import (
    ACTION_BODY,
    INTAKE_BODY,
    AppealDecisionIn,
    AppealIn,
    CloseIn,
    DecisionIn,
    IntakeIn,
    IntakeUpdateIn,
    LegalHoldIn,
    PauseIn,
    StrikeIn,
    WithdrawIn,
    idempotency_key,
)
from deepshield.api.rate_limit import client_address, public_rate_limit
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.schemas import MAX_INT
from deepshield.errors import Forbidden, InvalidRequest
from deepshield.services.access import Action, Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import case_json, victim_access
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import review as case_review

router = APIRouter(tags=["cases"])

_NOT_VISIBLE = {"model": ERRORS[400]["model"],
                "description": "No such case, or not one the caller may see (the same answer)"}
_CONFLICT = {"model": ERRORS[400]["model"], "description": "Not possible in the case's current state"}
_CASE_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 404: _NOT_VISIBLE, 409: _CONFLICT}
_PUBLIC_ERRORS: dict[int | str, dict[str, Any]] = {
    **{status: ERRORS[status] for status in (400, 413, 422)}, 409: _CONFLICT,
    429: {"model": ERRORS[400]["model"], "description": "Too many requests, or too many new requests "
                                                       "today, from this address; see the Retry-After "
                                                       "header"},
}

#: Typed numbers may carry spaces or lack dashes (``cases.numbers.parse_case_number``).
CaseNumber = Annotated[str, Path(min_length=1, max_length=40,
                                 description="The case number, DS-XXXX-XXXX-XXXX.")]


#: Why a victim cannot skip the cool-off, and why a key's withdrawal needs ``confirm_now``.
VICTIM_COOL_OFF = ("a withdrawal you ask for takes effect after a cool-off, so that nobody can force it on "
                   "the spot; you can cancel it until then, and a helpline can confirm it with you sooner")
KEY_WITHDRAWAL_IS_FINAL = ('a helpline\'s or the operator\'s withdrawal takes effect at once and cannot be '
                           'undone: confirm it with the victim, then send {"confirm_now": true}')


def _filed(filed: case_records.FiledCase) -> dict[str, Any]:
    return case_json.filed_case_json(filed)


# --- Intake -------------------------------------------------------------------------------


@router.post("/v1/requests", status_code=201, responses=_CASE_ERRORS, openapi_extra=json_body(IntakeIn))
async def file_request(
    request: Request,
    principal: Principal = Depends(require(Action.CASE_FILE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """File a takedown request for a caller (helpline or admin key). Returns `{"case", "pin"}`:
    the PIN is shown this once, for the victim to follow her case. An incomplete request is
    kept with `case.missing` listing what it lacks; its clocks start once it is complete
    (`PATCH /v1/cases/{case_number}`). An under-18 request is not handled here: its state is
    `referred` and `case.referral` says where to go. Send an `Idempotency-Key` header to retry
    safely."""
    body = await read_json(request, IntakeIn, INTAKE_BODY)
    key = idempotency_key(request)
    filed = await run_in_threadpool(
        lambda: case_intake.file_request(ctx, body.form(), principal, request_key=key))
    return _filed(filed)


@router.post("/v1/requests/public", status_code=201, responses=_PUBLIC_ERRORS,
             dependencies=[Depends(public_rate_limit)], openapi_extra=json_body(IntakeIn))
async def file_public_request(
    request: Request,
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """File a takedown request without a key, as the victim or her representative (rate-limited
    per address). Never send the image: only where it is and, optionally, hashes made on your
    device. Returns `{"case", "pin"}`; keep the case number and PIN, they are shown once. An
    `Idempotency-Key` here must be a random value of 16 characters or more (a UUID).

    One address may open a few new requests a day (`DEEPSHIELD_PUBLIC_CASES_PER_ADDRESS_PER_DAY`,
    5 by default; 429 with `Retry-After` beyond): add to an earlier request with its number and
    PIN instead. A request left incomplete is erased after `DEEPSHIELD_DRAFT_EXPIRY_HOURS` (72)."""
    body = await read_json(request, IntakeIn, INTAKE_BODY)
    key = idempotency_key(request, public=True)
    address = client_address(request)
    filed = await run_in_threadpool(
        lambda: case_intake.file_request(ctx, body.form(), None, request_key=key, address=address))
    return _filed(filed)


@router.patch("/v1/cases/{case_number}", responses=_CASE_ERRORS, openapi_extra=json_body(IntakeUpdateIn))
async def complete_request(
    request: Request,
    case_number: CaseNumber,
    principal: Principal = Depends(require_case_access(Action.CASE_UPDATE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Add what an incomplete request lacked (its filer's key, or the victim's case number and
    PIN). The clocks start when it becomes complete."""
    body = await read_json(request, IntakeUpdateIn, INTAKE_BODY)
    case = await run_in_threadpool(case_intake.update_request, ctx, case_number, body.form(), principal)
    return case_json.case_json(case)


# --- The queue ----------------------------------------------------------------------------


@router.get("/v1/cases", responses=_CASE_ERRORS)
async def list_cases(
    state: str | None = Query(None, max_length=32, description="Only cases in this state"),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(require(Action.CASE_LIST)),
    ctx: ServiceContext = Depends(service_context),
) -> list[dict[str, Any]]:
    """The cases the caller may see, newest first (a helpline sees the cases it filed)."""
    cases = await run_in_threadpool(
        lambda: case_review.list_cases(ctx, principal, state=state, limit=limit))
    return [case_json.case_json(case) for case in cases]


@router.get("/v1/cases/due", responses=_CASE_ERRORS)
async def due_cases(
    hours: float = Query(24.0, ge=0, le=24 * 30, description="Clocks due within this many hours"),
    principal: Principal = Depends(require(Action.CASE_LIST)),
    ctx: ServiceContext = Depends(service_context),
) -> list[dict[str, Any]]:
    """Open clocks due within `hours` (and those already breached), soonest first, with the
    time remaining in seconds (`remaining_s`, negative once breached)."""
    items = await run_in_threadpool(
        lambda: case_review.due_cases(ctx, principal, within=timedelta(hours=hours)))
    return [case_json.due_item_json(item) for item in items]


@router.get("/v1/cases/{case_number}", responses=_CASE_ERRORS)
async def get_case(
    case_number: CaseNumber,
    principal: Principal = Depends(require_case_access(Action.CASE_READ)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """One case: state, clocks, pauses, locations, appeals and history (no contact details)."""
    case = await run_in_threadpool(case_review.get_case, ctx, case_number, principal)
    return case_json.case_json(case)


# --- Review -------------------------------------------------------------------------------


@router.post("/v1/cases/{case_number}/acknowledge", responses=_CASE_ERRORS)
async def acknowledge(
    case_number: CaseNumber,
    principal: Principal = Depends(require(Action.CASE_REVIEW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Acknowledge the request (meets the acknowledgement clocks)."""
    case = await run_in_threadpool(case_review.acknowledge, ctx, case_number, principal)
    return case_json.case_json(case)


@router.post("/v1/cases/{case_number}/pause", responses=_CASE_ERRORS, openapi_extra=json_body(PauseIn))
async def pause(
    request: Request,
    case_number: CaseNumber,
    principal: Principal = Depends(require(Action.CASE_REVIEW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Pause the case's clocks, with the reason (recorded in the case's history)."""
    body = await read_json(request, PauseIn, ACTION_BODY)
    case = await run_in_threadpool(case_review.pause_clocks, ctx, case_number, body.reason, principal)
    return case_json.case_json(case)


@router.post("/v1/cases/{case_number}/resume", responses=_CASE_ERRORS)
async def resume(
    case_number: CaseNumber,
    principal: Principal = Depends(require(Action.CASE_REVIEW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Restart the paused clocks; their deadlines move by the time paused."""
    case = await run_in_threadpool(case_review.resume_clocks, ctx, case_number, principal)
    return case_json.case_json(case)


@router.post("/v1/cases/{case_number}/decision", responses=_CASE_ERRORS,
             openapi_extra=json_body(DecisionIn))
async def decide(
    request: Request,
    case_number: CaseNumber,
    principal: Principal = Depends(require(Action.CASE_REVIEW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Decide `removed` or `declined`, with reasons. Returns `{"case", "sweep"}`: on removal the
    hashes are banked for blocking and the copy sweep lists the matching items (item ids,
    distances, statuses); `sweep` is null when declined."""
    body = await read_json(request, DecisionIn, ACTION_BODY)
    decision = await run_in_threadpool(
        lambda: case_review.decide(ctx, case_number, body.decision, body.reasons, principal,
                                    automated=body.automated, uploader_ref=body.uploader_ref,
                                    baseless=body.baseless))
    return case_json.decision_json(decision)


@router.post("/v1/cases/{case_number}/close", responses=_CASE_ERRORS, openapi_extra=json_body(CloseIn))
async def close(
    request: Request,
    case_number: CaseNumber,
    principal: Principal = Depends(require(Action.CASE_REVIEW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Close the case, with the reason."""
    body = await read_json(request, CloseIn, ACTION_BODY)
    case = await run_in_threadpool(case_review.close_case, ctx, case_number, body.reason, principal)
    return case_json.case_json(case)


# --- Appeals ------------------------------------------------------------------------------


@router.post("/v1/cases/{case_number}/appeals", status_code=201, responses=_CASE_ERRORS,
             openapi_extra=json_body(AppealIn))
async def file_appeal(
    request: Request,
    case_number: CaseNumber,
    principal: Principal = Depends(require_case_access(Action.CASE_APPEAL)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Appeal a decision (the requester), or file a counter-notice (`party: uploader`,
    `kind: counter_notice`). A different reviewer decides it."""
    body = await read_json(request, AppealIn, ACTION_BODY)
    case = await run_in_threadpool(
        lambda: case_review.file_appeal(ctx, case_number, body.statement, principal,
                                         party=body.party, kind=body.kind))
    return case_json.case_json(case)


@router.post("/v1/cases/{case_number}/appeals/{appeal_id}/decision", responses=_CASE_ERRORS,
             openapi_extra=json_body(AppealDecisionIn))
async def decide_appeal(
    request: Request,
    case_number: CaseNumber,
    appeal_id: Annotated[int, Path(ge=1, le=MAX_INT)],
    principal: Principal = Depends(require(Action.CASE_APPEAL_DECIDE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Decide an appeal: `upheld` or `overturned`, with reasons. Refused (403) to the reviewer
    who made the decision appealed against."""
    body = await read_json(request, AppealDecisionIn, ACTION_BODY)
    case = await run_in_threadpool(case_review.decide_appeal, ctx, case_number, appeal_id, body.outcome,
                                   body.reasons, principal)
    return case_json.case_json(case)


# --- Withdrawal and legal hold ------------------------------------------------------------


@router.post("/v1/cases/{case_number}/withdraw", responses=_CASE_ERRORS,
             openapi_extra=json_body(WithdrawIn, required=False))
async def withdraw(
    request: Request,
    case_number: CaseNumber,
    principal: Principal = Depends(require_case_access(Action.CASE_WITHDRAW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Withdraw the case: its hashes leave every bank and every partner's feed.

    A victim's withdrawal (case number and PIN) takes effect after a cool-off, because abusers
    coerce withdrawals; she can cancel it until then, and `confirm_now` is refused to her. A
    helpline's (its own case) or the operator's takes effect at once and cannot be undone, so
    it must say `{"confirm_now": true}`: they confirm it with the victim first."""
    body = await read_json(request, WithdrawIn, ACTION_BODY, optional=True)
    if principal.role is Role.VICTIM:
        if body.confirm_now:
            raise Forbidden(VICTIM_COOL_OFF)
    elif not body.confirm_now:
        raise InvalidRequest(KEY_WITHDRAWAL_IS_FINAL)
    case = await run_in_threadpool(victim_access.request_withdrawal, ctx, case_number, principal)
    return case_json.case_json(case)


@router.post("/v1/cases/{case_number}/withdraw/cancel", responses=_CASE_ERRORS)
async def cancel_withdrawal(
    case_number: CaseNumber,
    principal: Principal = Depends(require_case_access(Action.CASE_WITHDRAW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Cancel a withdrawal that has not taken effect yet."""
    case = await run_in_threadpool(victim_access.cancel_withdrawal, ctx, case_number, principal)
    return case_json.case_json(case)


@router.post("/v1/cases/{case_number}/legal-hold", responses=_CASE_ERRORS,
             openapi_extra=json_body(LegalHoldIn))
async def legal_hold(
    request: Request,
    case_number: CaseNumber,
    principal: Principal = Depends(require(Action.CASE_LEGAL_HOLD)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Set or lift the legal hold (`{"hold": true|false}`): a held case's records are kept."""
    body = await read_json(request, LegalHoldIn, ACTION_BODY)
    case = await run_in_threadpool(case_review.set_legal_hold, ctx, case_number, body.hold, principal)
    return case_json.case_json(case)


@router.get("/v1/cases/{case_number}/contact", responses=_CASE_ERRORS)
async def read_contact(
    case_number: CaseNumber,
    principal: Principal = Depends(require(Action.CASE_READ_CONTACT)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """The requester's contact details (admin only; every read is audit-logged)."""
    contact = await run_in_threadpool(case_review.read_contact, ctx, case_number, principal)
    return case_json.contact_json(contact)


# --- Misuse -------------------------------------------------------------------------------


@router.post("/v1/misuse/strikes", status_code=201, responses=_CASE_ERRORS,
             openapi_extra=json_body(StrikeIn))
async def record_strike(
    request: Request,
    principal: Principal = Depends(require(Action.MISUSE_MANAGE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Record a strike against an uploader or a reporter: a warning first, a suspension once the
    policy's number of strikes is reached. Returns the strike (`kind`: warning or suspension)."""
    body = await read_json(request, StrikeIn, ACTION_BODY)
    strike = await run_in_threadpool(
        lambda: case_review.record_strike(ctx, body.subject_kind, body.subject_ref, body.reason, principal,
                                           case_number=body.case_number))
    return case_json.strike_json(strike)


@router.get("/v1/misuse/strikes", responses=_CASE_ERRORS)
async def list_strikes(
    subject_kind: str = Query(..., max_length=32, description="uploader or reporter"),
    subject_ref: str = Query(..., min_length=1, max_length=200),
    principal: Principal = Depends(require(Action.MISUSE_MANAGE)),
    ctx: ServiceContext = Depends(service_context),
) -> list[dict[str, Any]]:
    """The strikes against one uploader or reporter, oldest first."""
    strikes = await run_in_threadpool(case_review.strikes_for, ctx, subject_kind, subject_ref, principal)
    return [case_json.strike_json(strike) for strike in strikes]
