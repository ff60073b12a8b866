"""Every failure becomes JSON ``{"error": code, "detail": message}`` with a 4xx/5xx status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepshield.errors import Category, DeepShieldError

log = logging.getLogger("deepshield.api")

STATUS_BY_CATEGORY = {
    Category.INVALID_INPUT: 400,
    Category.TOO_LARGE: 413,
    Category.NOT_FOUND: 404,
    Category.CONFLICT: 409,
    Category.UNAUTHORIZED: 401,
    Category.FORBIDDEN: 403,
    Category.UNAVAILABLE: 503,
}
_STATUS_BY_CODE = {"unsupported_media": 415, "low_quality_hash": 422, "rate_limited": 429}


def status_of(error: DeepShieldError) -> int:
    """The HTTP status that answers ``error``: by its code where one has its own, else its category.
    Every door that speaks HTTP (the API, the web pages) answers with this."""
    return _STATUS_BY_CODE.get(error.code, STATUS_BY_CATEGORY[error.category])


def retry_headers(error: DeepShieldError) -> dict[str, str] | None:
    """``Retry-After`` for an error that says when to try again (busy, rate-limited), else None."""
    retry_after = getattr(error, "retry_after_s", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else None


def error_response(status: int, code: str, detail: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DeepShieldError)
    async def _known(_: Request, error: DeepShieldError) -> JSONResponse:
        return error_response(status_of(error), error.code, error.detail, retry_headers(error))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors()[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        # FastAPI wraps whatever fails while it reads a body, the size limit's 413 included.
        if isinstance(error.__cause__, DeepShieldError):
            return await _known(request, error.__cause__)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return error_response(500, "internal_error", "an unexpected error occurred; it was logged")
