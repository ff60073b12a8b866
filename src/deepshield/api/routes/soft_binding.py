"""The C2PA Soft Binding Resolution API: this installation as a manifest repository.

Paths, parameters and bodies follow the API's OpenAPI document in the C2PA 2.4 specification
("C2PA Soft Binding API", API version 2.3.0); docs/SOFT_BINDING_API.md lists every difference.
Queries and fetches are public (no key) and rate-limited per client address; writes need a key
whose role may write manifests (admin, provider).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.bodies import BodyLimit, content_type, json_body, read_bytes, read_json
from deepshield.api.rate_limit import public_rate_limit
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.uploads import is_multipart, read_upload
from deepshield.errors import InvalidRequest
from deepshield.media.errors import EmptyMedia
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.label import manifest_registry as registry

router = APIRouter(tags=["soft-binding-resolution"])

#: The registry's size rules for bodies: queries and bindings (413 media_too_large), a manifest
#: store, raw or in DeepShield's JSON form (413 manifest_too_large).
_SMALL_LIMIT = BodyLimit(registry.MAX_BINDINGS_BODY_BYTES)
_STORE_LIMIT = BodyLimit(registry.MAX_STORE_BODY_BYTES, registry.ManifestTooLarge)
_REGISTRATION_LIMIT = BodyLimit(registry.MAX_REGISTRATION_BODY_BYTES, registry.ManifestTooLarge)

_PUBLIC_ERRORS: dict[int | str, dict[str, Any]] = {
    **{status: ERRORS[status] for status in (400, 413, 415, 422)},
    429: {"model": ERRORS[400]["model"], "description": "Too many requests from this address; "
                                                       "see the Retry-After header"},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **{status: ERRORS[status] for status in (400, 401, 413, 422)},
    403: {"model": ERRORS[400]["model"], "description": "The role may not write manifests, or the "
                                                        "manifest or binding is another key's"},
    404: {"model": ERRORS[400]["model"], "description": "No such manifest, or binding value"},
    409: {"model": ERRORS[400]["model"], "description": "The manifest id is registered with other bytes"},
}


class SoftBindingQueryIn(BaseModel):
    """The API's ``c2pa.softBindingQuery``."""

    model_config = ConfigDict(extra="forbid")
    alg: str = Field(description="A soft-binding algorithm id.", examples=[registry.WATERMARK_ALG])
    value: str = Field(max_length=1024, description="The value: hex, or base64 of its bytes.",
                       examples=["0123456789abcdef"])


class BindingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alg: str = Field(examples=[registry.PDQ_ALG])
    value: str = Field(max_length=1024)


class BindingsIn(BaseModel):
    """The API's ``c2pa.bindings`` (``bindingValue``, ``manifestId``), with an optional ``alg``
    (inferred from the value's format when absent), or a list of ``bindings`` (DeepShield's)."""

    model_config = ConfigDict(extra="forbid")
    manifestId: str = Field(max_length=registry.MAX_MANIFEST_ID_CHARS)
    bindingValue: str | None = Field(default=None, max_length=1024)
    alg: str | None = Field(default=None, description="The value's algorithm; inferred when absent.")
    bindings: list[BindingIn] | None = Field(default=None, max_length=registry.MAX_BINDINGS)


class ManifestIn(BaseModel):
    """DeepShield's JSON form of ``POST /manifests``: the store in base64 with its bindings."""

    model_config = ConfigDict(extra="forbid")
    manifestStore: str = Field(description="The application/c2pa manifest store, base64.")
    manifestId: str | None = Field(default=None, max_length=registry.MAX_MANIFEST_ID_CHARS,
                                   description="The active manifest's id; read from the store if absent.")
    bindings: list[BindingIn] = Field(default_factory=list, max_length=registry.MAX_BINDINGS)
    labelId: str | None = Field(default=None, max_length=64)
    generator: str = Field(default="", max_length=200)
    model: str | None = Field(default=None, max_length=200)
    createdAt: datetime | None = Field(default=None, description="ISO 8601 with a timezone.")
    watermarkKeyId: str | None = Field(
        default=None, max_length=16,
        description="The watermark key that made the label's mark: 'public', or the registrant's own key "
                    "id (POST /v1/watermark/key); absent: public. A mark read with a key finds only "
                    "that key's manifests.")
    keypoints: str | None = Field(
        default=None, max_length=32 * 1024,
        description="The labelled output's local features (DeepShield's keypoint set, base64), kept "
                    "to place a copy cropped anywhere whose watermark was removed.")


def _query_result(matches: list[registry.BindingMatch]) -> dict[str, list[dict[str, Any]]]:
    """The API's ``c2pa.softBindingQueryResult``; no ``endpoint``: fetch from this repository."""
    return {"matches": [{"manifestId": match.manifest_id, "similarityScore": match.similarity_score}
                        for match in matches]}


def _bindings(body: BindingsIn) -> list[tuple[str, str]]:
    if (body.bindingValue is None) == (body.bindings is None):
        raise InvalidRequest("send either bindingValue (with an optional alg) or a list of bindings")
    if body.bindings is not None:
        return [(binding.alg, binding.value) for binding in body.bindings]
    assert body.bindingValue is not None
    alg = body.alg if body.alg is not None else registry.infer_alg(body.bindingValue)
    return [(alg, body.bindingValue)]


# --- Query --------------------------------------------------------------------------------


@router.get("/matches/byBinding", responses=_PUBLIC_ERRORS, dependencies=[Depends(public_rate_limit)])
async def query_by_binding(
    alg: str = Query(..., description=f"{registry.WATERMARK_ALG} or {registry.PDQ_ALG}"),
    value: str = Query(..., max_length=1024,
                       description="16 (watermark) or 64 (PDQ) hex digits, or base64 of the bytes"),
    max_results: int = Query(registry.DEFAULT_MAX_RESULTS, alias="maxResults",
                             description=f"1 to {registry.MAX_RESULTS}"),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, list[dict[str, Any]]]:
    """Manifests bound to one soft-binding value: `{"matches": [{"manifestId", "similarityScore"}]}`.

    A watermark label id matches exactly (score 100); a PDQ hash matches within the matcher's
    threshold. No key needed.
    """
    matches = await run_in_threadpool(registry.matches_by_binding, ctx, alg, value, max_results, None)
    return _query_result(matches)


@router.post("/matches/byBinding", responses=_PUBLIC_ERRORS, dependencies=[Depends(public_rate_limit)],
             openapi_extra=json_body(SoftBindingQueryIn))
async def query_by_large_binding(
    request: Request,
    max_results: int = Query(registry.DEFAULT_MAX_RESULTS, alias="maxResults",
                             description=f"1 to {registry.MAX_RESULTS}"),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, list[dict[str, Any]]]:
    """`GET /matches/byBinding` with the query `{"alg", "value"}` in the body."""
    query = await read_json(request, SoftBindingQueryIn, _SMALL_LIMIT)
    matches = await run_in_threadpool(registry.matches_by_binding, ctx, query.alg, query.value,
                                      max_results, None)
    return _query_result(matches)


_ASSET_BODY = {"type": "string", "format": "binary"}


@router.post("/matches/byContent", responses=_PUBLIC_ERRORS, dependencies=[Depends(public_rate_limit)],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "image/*": {"schema": _ASSET_BODY}, "video/*": {"schema": _ASSET_BODY},
                 "application/octet-stream": {"schema": _ASSET_BODY},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                    "properties": {"file": _ASSET_BODY}}}}}})
async def query_by_content(
    request: Request,
    alg: str | None = Query(None, description="Only this algorithm; both when absent"),
    max_results: int = Query(registry.DEFAULT_MAX_RESULTS, alias="maxResults",
                             description=f"1 to {registry.MAX_RESULTS}"),
    hint_alg: str | None = Query(None, alias="hintAlg", description="A value's algorithm read elsewhere"),
    hint_value: str | None = Query(None, alias="hintValue", max_length=1024,
                                   description="Used when the server reads none for hintAlg"),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, list[dict[str, Any]]]:
    """Manifests whose soft bindings match the uploaded image or video (the body itself, or a
    multipart `file`). Read in memory for the watermark and PDQ; never stored. No key needed.
    The watermark is read with this repository's keys (the public key and every provider's
    secret key); a mark finds only manifests of the key it was read with."""
    limit = ctx.settings.limits.max_bytes
    if is_multipart(request):
        data = (await read_upload(request, limit)).data
    else:
        data = await read_bytes(request, BodyLimit(limit), "the upload")
        if not data:
            raise EmptyMedia("the request body is empty: send the image or video as the body")
    matches = await run_in_threadpool(registry.matches_by_content, ctx, data, max_results, None,
                                      alg, hint_alg=hint_alg, hint_value=hint_value)
    return _query_result(matches)


# --- Fetch and service --------------------------------------------------------------------


@router.get("/manifests/{manifestId}", response_class=Response,
            responses={**_PUBLIC_ERRORS,
                       404: {"model": ERRORS[400]["model"], "description": "No such manifest"},
                       200: {"content": {registry.MANIFEST_CONTENT_TYPE: {"schema": _ASSET_BODY}},
                             "description": "The C2PA manifest store, byte for byte"}},
            dependencies=[Depends(public_rate_limit)])
async def get_manifest(
    manifestId: str = Path(..., description="The active manifest's id, e.g. urn:c2pa:<uuid>"),
    return_active_manifest: bool = Query(False, alias="returnActiveManifest",
                                         description="Only the active manifest, not the whole store"),
    ctx: ServiceContext = Depends(service_context),
) -> Response:
    """The registered manifest store (`application/c2pa`), exactly as the provider signed it."""
    record = await run_in_threadpool(registry.get_manifest, ctx, manifestId, None)
    content = record.manifest_store
    if return_active_manifest:
        content = registry.active_manifest_only(content)
    etag = f'"{record.store_sha256}{"-active" if return_active_manifest else ""}"'
    return Response(content, media_type=record.content_type, headers={"ETag": etag})


@router.get("/services/supportedAlgorithms", dependencies=[Depends(public_rate_limit)],
            responses={429: _PUBLIC_ERRORS[429]})
async def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    """`{"watermarks": [{"alg"}], "fingerprints": [{"alg"}]}`: what queries may use."""
    return registry.supported_algorithms()


# --- Store (a key with the manifest-write permission) -------------------------------------


def _decoded_store(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("manifestStore must be the manifest store in base64") from None
    if len(data) > registry.MAX_STORE_BODY_BYTES:
        raise registry.ManifestTooLarge(f"the manifest store is {len(data):,} bytes; the repository "
                                        f"keeps stores of at most {registry.MAX_STORE_BODY_BYTES:,} bytes")
    return data


def _decoded_keypoints(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("keypoints must be a keypoint set in base64") from None


_MANIFEST_BODY = {"requestBody": {"required": True, "content": {
    registry.MANIFEST_CONTENT_TYPE: {"schema": _ASSET_BODY},
    "application/json": {"schema": ManifestIn.model_json_schema()}}}}


@router.post("/manifests", responses=_WRITE_ERRORS, openapi_extra=_MANIFEST_BODY)
async def add_manifest(
    request: Request,
    return_receipt: bool = Query(False, alias="returnReceipt",
                                 description="Accepted; this repository issues no receipts"),
    principal: Principal = Depends(require(Action.MANIFEST_WRITE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, str]:
    """Store a manifest store: `application/c2pa` bytes (then bind values with `POST /bindings`), or
    DeepShield's JSON `{"manifestStore": base64, "bindings": [{"alg", "value"}], "labelId",
    "generator", "model", "createdAt", "watermarkKeyId", "keypoints"}`. Returns `{"manifestId"}`, the store's
    active manifest. The same store again is accepted; other bytes under a registered id are 409."""
    if content_type(request) == registry.MANIFEST_CONTENT_TYPE:
        store = await read_bytes(request, _STORE_LIMIT, "the manifest store")
        manifest_id = registry.active_manifest_id(store)
        record = await run_in_threadpool(lambda: registry.register_manifest(
            ctx, manifest_id, store, [], principal=principal))
        return {"manifestId": record.manifest_id}
    body = await read_json(request, ManifestIn, _REGISTRATION_LIMIT,
                           wrong_type=f"send the manifest store as {registry.MANIFEST_CONTENT_TYPE}, or "
                                      "DeepShield's application/json form")
    store = _decoded_store(body.manifestStore)
    keypoints = _decoded_keypoints(body.keypoints) if body.keypoints is not None else None
    manifest_id = body.manifestId or registry.active_manifest_id(store)
    record = await run_in_threadpool(
        lambda: registry.register_manifest(
            ctx, manifest_id, store, [(binding.alg, binding.value) for binding in body.bindings],
            label_id=body.labelId, generator=body.generator, model=body.model, created_at=body.createdAt,
            principal=principal, watermark_key_id=body.watermarkKeyId, keypoints=keypoints))
    return {"manifestId": record.manifest_id}


_BINDINGS_BODY = json_body(BindingsIn)


@router.post("/bindings", status_code=204, response_class=Response, responses=_WRITE_ERRORS,
             openapi_extra=_BINDINGS_BODY)
async def associate_manifest(
    request: Request,
    principal: Principal = Depends(require(Action.MANIFEST_WRITE)),
    ctx: ServiceContext = Depends(service_context),
) -> Response:
    """Bind a value to a registered manifest: `{"bindingValue", "manifestId", "alg"?}` (204; 403
    if the manifest, or a manifest the value is bound to, is another key's, unless an admin)."""
    body = await read_json(request, BindingsIn, _SMALL_LIMIT)
    await run_in_threadpool(lambda: registry.add_bindings(ctx, body.manifestId, _bindings(body),
                                                          principal))
    return Response(status_code=204)


@router.put("/bindings", status_code=204, response_class=Response, responses=_WRITE_ERRORS,
            openapi_extra=_BINDINGS_BODY)
async def update_associated_manifest(
    request: Request,
    principal: Principal = Depends(require(Action.MANIFEST_WRITE)),
    ctx: ServiceContext = Depends(service_context),
) -> Response:
    """Point an existing binding value at another manifest instead (204; 404 if the value is
    bound to nothing; 403 if the value or the manifest is another key's, unless an admin). The
    old binding is kept as history, marked superseded."""
    body = await read_json(request, BindingsIn, _SMALL_LIMIT)
    await run_in_threadpool(lambda: registry.replace_bindings(ctx, body.manifestId, _bindings(body),
                                                              principal))
    return Response(status_code=204)
