"""The platform's content registry: ``/v1/content`` (register, import, flagged, removed).

A platform registers each upload by hash (or sends the file, hashed in memory and never
stored); an upload matching removed content comes back ``blocked``: refuse it. After a
takedown's copy sweep, ``/v1/content/flagged`` lists the copies to act on.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.bodies import SEND_FILE_OR_JSON, BodyLimit, content_type, read_bytes, read_json
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.schemas import MAX_INT, HashSignalIn
from deepshield.api.uploads import is_multipart, read_upload
from deepshield.errors import InvalidRequest
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.spread import content_registry as registry
from deepshield.services.spread.banks import SignalInput

router = APIRouter(tags=["content"])


def _case_in_range(case: str | None) -> str | None:
    """A case may be named by its internal id: digits, which must fit the store's integers."""
    if case is not None and case.strip().isdigit() and int(case) > MAX_INT:
        raise ValueError(f"a case id is at most {MAX_INT}")
    return case


class ContentItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item_id: str = Field(min_length=1, max_length=200, description="The platform's own item id.")
    signals: list[HashSignalIn] = Field(min_length=1, max_length=100)
    uploader_ref: str | None = Field(default=None, max_length=200,
                                     description="The uploader's opaque account id; never a name.")


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ContentItemIn] = Field(min_length=1, max_length=10_000)


class RegisteredOut(BaseModel):
    item_id: str
    status: str = Field(description="live, flagged, removed, or blocked.")
    blocked: bool = Field(description="True: the upload matches removed content; refuse it.")
    matched_case_ref: str | None = Field(description="The case (case:<id>) whose removal blocks it.")
    added: int = Field(description="Signals newly stored (0 when already registered).")


class RegisteredListOut(BaseModel):
    items: list[RegisteredOut]


class ImportOut(BaseModel):
    format: str
    rows: int
    items: int
    added: int
    duplicates: int
    blocked: int


class FlaggedOut(BaseModel):
    item_id: str
    status: str
    case_number: str | None
    uploader_ref: str | None
    signal_types: list[str]
    status_changed_at: str | None


class FlaggedListOut(BaseModel):
    items: list[FlaggedOut]


def _registered(item: registry.RegisteredItem) -> dict[str, Any]:
    return {"item_id": item.item_id, "status": item.status, "blocked": item.blocked,
            "matched_case_ref": item.matched_case_ref, "added": item.added}


_REGISTER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": RegisterIn.model_json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file", "item_id"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "item_id": {"type": "string"},
                    "uploader_ref": {"type": "string"},
                }}},
        },
    }
}
_IMPORT_TYPES = ("text/csv", "application/x-ndjson", "application/jsonl", "application/json-lines",
                 "text/plain")
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {
        kind: {"schema": {"type": "string"}} for kind in _IMPORT_TYPES[:2]}}
}


@router.post("/v1/content", response_model=RegisteredListOut, status_code=201, responses=ERRORS,
             openapi_extra=_REGISTER_BODY)
async def register(
    request: Request,
    principal: Principal = Depends(require(Action.CONTENT_REGISTER)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Register items by hash (JSON), or one file with its ``item_id`` (multipart; hashed in
    memory, never stored). ``blocked: true`` means the upload is a copy of removed content."""
    if is_multipart(request):
        upload = await read_upload(request, ctx.settings.limits.max_bytes)
        item_id = upload.fields.get("item_id", "")
        if not item_id:
            raise InvalidRequest("send the item's id in a form field named 'item_id'")
        item = await run_in_threadpool(
            lambda: registry.register_media(ctx, item_id, upload.data, principal,
                                            uploader_ref=upload.fields.get("uploader_ref") or None))
        return {"items": [_registered(item)]}
    body = await read_json(request, RegisterIn, BodyLimit(registry.MAX_REGISTER_BODY_BYTES),
                           wrong_type=SEND_FILE_OR_JSON)
    items = [registry.ContentItemInput(
        item.item_id, [SignalInput(s.type, s.value, s.quality) for s in item.signals], item.uploader_ref)
        for item in body.items]
    results = await run_in_threadpool(registry.register_items, ctx, items, principal)
    return {"items": [_registered(result) for result in results]}


@router.post("/v1/content/import", response_model=ImportOut, status_code=201, responses=ERRORS,
             openapi_extra=_IMPORT_BODY)
async def import_items(
    request: Request,
    principal: Principal = Depends(require(Action.CONTENT_REGISTER)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Register many items from a CSV (header: item_id, signal_type, signal_value, quality,
    uploader_ref) or JSON Lines body, one signal per row. Every row is checked first; a bad
    one is named by its line and nothing is registered."""
    if content_type(request) not in _IMPORT_TYPES:
        raise InvalidRequest(f"send the import as one of {', '.join(_IMPORT_TYPES)}")
    data = await read_bytes(request, BodyLimit(registry.MAX_IMPORT_BODY_BYTES), "the import")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the import is not UTF-8 text") from None
    summary = await run_in_threadpool(registry.import_text, ctx, text, principal)
    return {"format": summary.format, "rows": summary.rows, "items": summary.items,
            "added": summary.added, "duplicates": summary.duplicates, "blocked": summary.blocked}


@router.get("/v1/content/flagged", response_model=FlaggedListOut, responses=ERRORS)
async def flagged(
    case: Annotated[str | None, Query(max_length=40, description="A case number (DS-...) to "
                                                                 "list that case's copies only."),
                    AfterValidator(_case_in_range)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    principal: Principal = Depends(require(Action.CONTENT_SWEEP)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Items the copy sweep listed for action, by item id (no hash values)."""
    items = await run_in_threadpool(
        lambda: registry.list_flagged(ctx, principal, case or None, limit=limit))
    return {"items": [{
        "item_id": item.item_id, "status": item.status, "case_number": item.case_number,
        "uploader_ref": item.uploader_ref, "signal_types": item.signal_types,
        "status_changed_at": item.status_changed_at.isoformat() if item.status_changed_at else None,
    } for item in items]}


@router.post("/v1/content/{item_id:path}/removed", response_model=RegisteredOut, responses=ERRORS)
async def removed(
    item_id: str,
    principal: Principal = Depends(require(Action.CONTENT_SWEEP)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Mark a listed item removed (the platform took it down). Final."""
    item = await run_in_threadpool(registry.mark_actioned, ctx, item_id, "removed", principal)
    return _registered(item)
