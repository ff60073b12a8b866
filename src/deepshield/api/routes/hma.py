"""Routes shaped like Meta's Hasher-Matcher-Actioner (OpenMediaMatch), so HMA clients can switch.

Paths, parameters and response bodies follow HMA's ``blueprints/hashing.py``,
``blueprints/matching.py`` and ``app.py``; docs/HMA.md lists every difference. The two
that matter: every route but ``/status`` needs a DeepShield API key (HMA has no
authentication), and ``GET /h/hash?url=`` is refused, because DeepShield makes no
outbound fetches.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import require, service_context
from deepshield.api.routes._openapi import ERRORS
from deepshield.api.uploads import read_upload
from deepshield.errors import Forbidden, InvalidRequest, InvalidSignal
from deepshield.media import MediaKind
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext
from deepshield.services.spread.hashing import MediaSignals, hash_upload
from deepshield.services.spread.live_index import Match
from deepshield.services.spread.matching import match_media, match_query_async, parse_query_signals
from deepshield.signals.types import SignalType

router = APIRouter(tags=["hma-compatible"])

#: HMA's signal type names and ours. HMA calls a video's MD5 ``video_md5``.
_HMA_TYPES = {"pdq": SignalType.PDQ, "video_md5": SignalType.MD5}
#: HMA names the upload's form field after its content type.
_UPLOAD_FIELDS = ("photo", "video", "file")
_URL_REFUSED = ("hashing from a URL is disabled: DeepShield makes no outbound fetches; "
                "POST the file instead")

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "properties": {name: {"type": "string", "format": "binary"} for name in _UPLOAD_FIELDS},
            "description": "One file, in a field named `photo` or `video` (as HMA) or `file`.",
        }}},
    }
}


def _hma_signals(media: MediaSignals) -> dict[str, str]:
    """What HMA's ``/h/hash`` returns: ``pdq`` for a photo, ``video_md5`` for a video."""
    if media.kind is MediaKind.VIDEO:
        return {"video_md5": media.md5}
    return {"pdq": media.pdq.hex} if media.pdq is not None else {}


def _by_bank(matches: list[Match], banks: set[str] | None) -> dict[str, list[dict[str, Any]]]:
    """HMA's lookup shape: ``{bank: [{"bank_content_id": id, "distance": "d"}]}``."""
    result: dict[str, list[dict[str, Any]]] = {}
    for match in matches:
        if banks is None or match.bank in banks:
            result.setdefault(match.bank, []).append(
                {"bank_content_id": match.entry_id, "distance": str(match.distance)})
    return result


def _signal_type(name: str) -> SignalType:
    try:
        return _HMA_TYPES[name.strip().lower()]
    except KeyError:
        raise InvalidSignal(f"No such SignalType '{name}'; known: {', '.join(_HMA_TYPES)}") from None


def _banks(value: str | None) -> set[str] | None:
    return {bank.strip() for bank in value.split(",") if bank.strip()} if value else None


async def _lookup(ctx: ServiceContext, signal_type: str, signal: str, principal: Principal) -> list[Match]:
    kind = _signal_type(signal_type)
    query = parse_query_signals([(kind.value, signal)])
    return await match_query_async(ctx, query, principal)


@router.get("/h/hash", responses=ERRORS)
async def hma_hash_url(url: str | None = Query(None, description="refused: no outbound fetches"),
                       _principal: Principal = Depends(require(Action.HASH))) -> dict[str, str]:
    """HMA's hash-by-URL. Always refused (403): DeepShield fetches nothing from the network."""
    raise Forbidden(_URL_REFUSED)


@router.post("/h/hash", responses=ERRORS, openapi_extra=_UPLOAD_BODY)
async def hma_hash_file(
    request: Request,
    principal: Principal = Depends(require(Action.HASH)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, str]:
    """HMA's hash-a-file: `{"pdq": HEX}` for a photo, `{"video_md5": HEX}` for a video."""
    upload = await read_upload(request, ctx.settings.limits.max_bytes, _UPLOAD_FIELDS)
    media = await run_in_threadpool(hash_upload, ctx, upload.data, principal)
    return _hma_signals(media)


def _optional_text(name: str, description: str) -> dict[str, Any]:
    """An optional string query parameter as FastAPI documents ``Query(None, description=...)``."""
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": description,
                       "title": name.replace("_", " ").title()}}


#: ``GET /m/lookup`` reads its query string itself (below); its parameters are documented here.
_LOOKUP_QUERY: dict[str, Any] = {"parameters": [
    _optional_text("signal_type", "`pdq` or `video_md5`"),
    _optional_text("signal", "the hash, in hex"),
    _optional_text("banks", "comma-separated bank names to restrict to"),
    _optional_text("url", "refused: no outbound fetches"),
    _optional_text("seed", "accepted for compatibility; DeepShield has no coin flip"),
]}
_MAY_MATCH = require(Action.MATCH)


@router.get("/m/lookup", responses=ERRORS, response_model=dict[str, list[dict[str, Any]]],
            openapi_extra=_LOOKUP_QUERY)
async def hma_lookup(request: Request) -> JSONResponse:
    """HMA's lookup by hash: `{bank: [{"bank_content_id": id, "distance": "d"}]}`."""
    # The platforms' hot route (issue 17): FastAPI's resolution of two dependencies and five
    # query parameters cost about 0.13 ms a lookup, half the framework's share. The same
    # authentication runs first, as a dependency would (the service authorises again), and
    # the parameters are the plain optional strings they were: nothing could fail to validate.
    principal = await _MAY_MATCH(request)
    ctx: ServiceContext = request.app.state.context
    query = request.query_params
    signal_type, signal = query.get("signal_type"), query.get("signal")
    if query.get("url"):
        raise Forbidden(_URL_REFUSED)
    if not signal or not signal_type:
        raise InvalidRequest("Either url or both signal and signal_type are required")
    matches = await _lookup(ctx, signal_type, signal, principal)
    return JSONResponse(_by_bank(matches, _banks(query.get("banks"))))  # plain JSON: no re-encoding


@router.post("/m/lookup", responses=ERRORS, openapi_extra=_UPLOAD_BODY)
async def hma_lookup_file(
    request: Request,
    banks: str | None = Query(None, description="comma-separated bank names to restrict to"),
    principal: Principal = Depends(require(Action.MATCH)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """HMA's hash-and-look-up: `{signal_type: {bank: [...]}}`. The file is not kept."""
    upload = await read_upload(request, ctx.settings.limits.max_bytes, _UPLOAD_FIELDS)
    media, outcome = await run_in_threadpool(match_media, ctx, upload.data, principal)
    wanted = _banks(banks)
    if media.kind is MediaKind.VIDEO:
        exact = [m for m in outcome.matches if m.signal_type == SignalType.MD5.value]
        return {"video_md5": _by_bank(exact, wanted)}
    perceptual = [m for m in outcome.matches if m.signal_type == SignalType.PDQ.value]
    return {"pdq": _by_bank(perceptual, wanted)}


@router.get("/m/raw_lookup", responses=ERRORS)
async def hma_raw_lookup(
    signal_type: str = Query(..., description="`pdq` or `video_md5`"),
    signal: str = Query(..., description="the hash, in hex"),
    include_distance: bool = Query(False),
    banks: str | None = Query(None, description="comma-separated bank names to restrict to"),
    principal: Principal = Depends(require(Action.MATCH)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, list[Any]]:
    """HMA's raw lookup: `{"matches": [id, ...]}`, or with distances when asked."""
    matches = await _lookup(ctx, signal_type, signal, principal)
    wanted = _banks(banks)
    kept = [m for m in matches if wanted is None or m.bank in wanted]
    if include_distance:
        return {"matches": [{"bank_content_id": m.entry_id, "distance": str(m.distance)} for m in kept]}
    return {"matches": [m.entry_id for m in kept]}


@router.get("/m/index/status", responses=ERRORS)
async def hma_index_status(
    signal_type: str | None = Query(None, description="limit to one signal type"),
    _principal: Principal = Depends(require(Action.MATCH)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, dict[str, Any]]:
    """HMA's index status: `{type: {"present": bool, "built_to": epoch s, "size": n}}`."""
    if signal_type is not None:
        _signal_type(signal_type)
    status = await run_in_threadpool(ctx.matcher.index_status)
    result = {
        name: {"present": status.loaded, "built_to": status.synced_at if status.loaded else -1,
               "size": status.sizes.get(kind.value, 0)}
        for name, kind in _HMA_TYPES.items()
    }
    return result if signal_type is None else {signal_type: result[signal_type.strip().lower()]}


@router.get("/status", response_class=PlainTextResponse,
            responses={503: {"description": "the index is not loaded"}})
async def hma_status(ctx: ServiceContext = Depends(service_context)) -> PlainTextResponse:
    """HMA's liveness and readiness check: `I-AM-ALIVE`, or 503 `INDEX-NOT-LOADED`. No key."""
    status = await run_in_threadpool(ctx.matcher.index_status)
    if not status.loaded:
        return PlainTextResponse("INDEX-NOT-LOADED", status_code=503)
    return PlainTextResponse("I-AM-ALIVE")
