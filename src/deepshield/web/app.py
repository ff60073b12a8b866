"""Putting the web door on the server: its routes, ``/static``, its headers and its error pages.

``install_web`` is called by ``api.app.create_app``, so ``deepshield serve`` (and ``make run``)
serves the pages at ``/`` beside the API at ``/v1``: one process, one service context.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepshield.api.errors import retry_headers, status_of
from deepshield.errors import DeepShieldError
from deepshield.web.headers import WebPageHeaders, is_web_path
from deepshield.web.routes import (
    admin,
    case_status,
    helpline,
    portal,
    reviewer,
    staff,
    transparency,
    verify_page,
)
from deepshield.web.sessions import SignInRequired, clear_cookie
from deepshield.web.templating import STATIC_DIR, render

log = logging.getLogger("deepshield.web")

_TITLES = {
    400: "Something in the form needs another look",
    401: "Please sign in again",
    403: "This page or action is not available to you",
    404: "We could not find that page",
    405: "That page cannot be used this way",
    409: "That cannot be done right now",
    413: "That is too large",
    415: "That kind of file is not supported",
    429: "Too many tries for now",
    500: "Something went wrong on our side",
    503: "We are busy for a moment",
}

Handler = Callable[[Request, Any], Awaitable[Response]]


def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """The door's error page: a plain-words title and the service's own sentence."""
    return render(request, "error.html", status_code=status, headers=headers,
                  title=_TITLES.get(status, "Something went wrong"), detail=detail, status=status)


def _web_or_api(api_handler: Handler | None, web_handler: Handler) -> Handler:
    async def handler(request: Request, error: Any) -> Response:
        if is_web_path(request.url.path) or api_handler is None:
            return await web_handler(request, error)
        return await api_handler(request, error)

    return handler


def install_web(app: FastAPI) -> None:
    """Add the web door's routes, static files, headers and error pages to ``app``."""
    for module in (portal, case_status, verify_page, staff, helpline, reviewer, admin, transparency):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(WebPageHeaders)

    async def sign_in_required(request: Request, error: SignInRequired) -> Response:
        response = RedirectResponse(error.sign_in_path, status_code=303)
        if request.cookies.get(error.cookie):
            clear_cookie(request, response, error.cookie)
        return response

    async def known(request: Request, error: DeepShieldError) -> Response:
        return error_page(request, status_of(error), error.detail, retry_headers(error))

    async def http(request: Request, error: StarletteHTTPException) -> Response:
        if isinstance(error.__cause__, DeepShieldError):
            return await known(request, error.__cause__)
        detail = "" if error.status_code in (404, 405) else str(error.detail)
        return error_page(request, error.status_code, detail)

    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on a web page", exc_info=error)
        return error_page(request, 500, "The error was logged. Please try again in a little while.")

    app.add_exception_handler(SignInRequired, sign_in_required)  # type: ignore[arg-type]
    for kind, web_handler in ((DeepShieldError, known), (StarletteHTTPException, http),
                              (Exception, unexpected)):
        api_handler = app.exception_handlers.get(kind)
        app.add_exception_handler(kind, _web_or_api(api_handler, web_handler))
