"""The victim's own door: her case's status and withdrawal, with her case number and PIN.

She sends ``Authorization: Basic base64(case_number:pin)``; no account, no key. Every failed
login (unknown case, wrong PIN, a case locked after repeated failures) is the same 401 with the
same body, so the answer tells a prober nothing. Attempts are rate-limited per address.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require_victim, service_context
from deepshield.api.routes._openapi import ERRORS
from deepshield.errors import Unauthorized
from deepshield.services.access import Principal
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import case_json, victim_access
from deepshield.services.takedown import records as case_records

router = APIRouter(tags=["victim"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ERRORS[400]["model"],
          "description": "The case number or PIN was not recognised, or the case is locked for a while"},
    409: {"model": ERRORS[400]["model"], "description": "Not possible in the case's current state"},
    429: {"model": ERRORS[400]["model"], "description": "Too many attempts from this address; "
                                                       "see the Retry-After header"},
}


@router.get("/v1/victim/status", responses=_ERRORS)
async def victim_status(
    principal: Principal = Depends(require_victim()),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Where your case stands, in plain words: its state, the deadline, the decision and its
    reasons, how many locations were removed and how many copies were found."""
    status = await run_in_threadpool(victim_access.victim_status, ctx, principal)
    return case_json.victim_status_json(status)


@router.post("/v1/victim/withdraw", responses=_ERRORS)
async def victim_withdraw(
    principal: Principal = Depends(require_victim()),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Withdraw your case: after a cool-off (so that nobody can force you to do it on the spot)
    your hashes leave every bank and every partner's copy. A helpline can confirm it sooner with
    you, and you can cancel it until then. Returns your case's new status."""
    if principal.case_number is None:  # never so for a victim's principal; refuse rather than guess
        raise Unauthorized(case_records.NOT_RECOGNISED)
    await run_in_threadpool(victim_access.request_withdrawal, ctx, principal.case_number, principal)
    status = await run_in_threadpool(victim_access.victim_status, ctx, principal)
    return case_json.victim_status_json(status)
