"""Banks and their entries: ``/v1/banks`` and ``/v1/banks/{name}/entries``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.bodies import SEND_FILE_OR_JSON, BodyLimit, json_body, read_json
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.schemas import MAX_INT, AddEntriesIn, BankIn, BankOut, EntriesOut, EntryOut, EntryPatchIn
from deepshield.api.uploads import is_multipart, read_upload
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.json_shapes import bank_json, entry_json
from deepshield.services.spread import banks as bank_service
from deepshield.services.spread.banks import SignalInput

router = APIRouter(tags=["banks"])

#: An entry id, bounded like every integer of the API (``schemas.MAX_INT``): past it, a 422
#: before any work, never a store error. Within it, an id no entry can have is a plain 404
#: (``bank_service.MAX_ENTRY_ID``).
EntryId = Annotated[int, Path(ge=1, le=MAX_INT, description="The entry's id")]

_ADD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": AddEntriesIn.model_json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "origin": {"type": "string", "default": "helpline"},
                    "case_ref": {"type": "string"},
                }}},
        },
    }
}


@router.get("/v1/banks", response_model=list[BankOut], responses=ERRORS)
async def list_banks(
    principal: Principal = Depends(require(Action.BANK_LIST)),
    ctx: ServiceContext = Depends(service_context),
) -> list[dict[str, Any]]:
    """Every bank with its number of active entries."""
    banks = await run_in_threadpool(bank_service.list_banks, ctx, principal)
    return [bank_json(bank) for bank in banks]


@router.post("/v1/banks", response_model=BankOut, status_code=201, responses=ERRORS,
             openapi_extra=json_body(BankIn))
async def create_bank(
    request: Request,
    principal: Principal = Depends(require(Action.BANK_CREATE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Create an empty bank (admin)."""
    body = await read_json(request, BankIn)
    bank = await run_in_threadpool(bank_service.create_bank, ctx, body.name, body.description,
                                   principal)
    return bank_json(bank)


@router.post("/v1/banks/{name}/entries", response_model=EntriesOut, status_code=201,
             responses=ERRORS, openapi_extra=_ADD_BODY)
async def add_entries(
    name: str,
    request: Request,
    principal: Principal = Depends(require(Action.BANK_ADD)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Add hashes (JSON) or a file (multipart; hashed in memory, never stored) to a bank.

    All signals are checked first; if any is invalid nothing is added. The takedown workflow's
    banks take entries from the workflow and admins only (403), and a `case_ref` naming a
    DeepShield case (`case:<id>` or a case number) must name one of the caller's cases (404).
    """
    if is_multipart(request):
        upload = await read_upload(request, ctx.settings.limits.max_bytes)
        entries = await run_in_threadpool(
            bank_service.add_media, ctx, name, upload.data,
            upload.fields.get("origin") or "helpline", upload.fields.get("case_ref") or None,
            principal)
    else:
        body = await read_json(request, AddEntriesIn, BodyLimit(bank_service.MAX_ADD_BODY_BYTES),
                               wrong_type=SEND_FILE_OR_JSON)
        signals = [SignalInput(s.type, s.value, s.quality, s.case_ref) for s in body.signals]
        entries = await run_in_threadpool(
            lambda: bank_service.add_signals(ctx, name, signals,
                                             origin=bank_service.parse_origin(body.origin),
                                             case_ref=body.case_ref, principal=principal))
    return {"entries": [entry_json(entry) for entry in entries]}


@router.delete("/v1/banks/{name}/entries/{entry_id}", response_model=EntryOut, responses=ERRORS)
async def withdraw_entry(
    name: str,
    entry_id: EntryId,
    principal: Principal = Depends(require(Action.BANK_WITHDRAW)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Withdraw an entry for good; it stops matching at once. A helpline may withdraw the
    entries it added and those of its cases, outside the takedown workflow's banks; any other
    entry answers 404, exactly like one that does not exist."""
    entry = await run_in_threadpool(bank_service.withdraw_entry, ctx, name, entry_id, principal)
    return entry_json(entry)


@router.patch("/v1/banks/{name}/entries/{entry_id}", response_model=EntryOut, responses=ERRORS,
              openapi_extra=json_body(EntryPatchIn))
async def set_entry_enabled(
    name: str,
    entry_id: EntryId,
    request: Request,
    principal: Principal = Depends(require(Action.BANK_DISABLE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Disable (`{"enabled": false}`) or re-enable an entry (admin)."""
    body = await read_json(request, EntryPatchIn)
    entry = await run_in_threadpool(bank_service.set_entry_enabled, ctx, name, entry_id,
                                    body.enabled, principal)
    return entry_json(entry)
