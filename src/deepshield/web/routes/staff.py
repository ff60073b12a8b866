"""Staff sign-in: an API key exchanged for a session cookie, sign-out, and the staff home page.

The key is sent once, in the sign-in form's body (never a URL), and never kept: the session holds
the key's public id (``services.web_sessions``). Signing in is rate-limited per address like the
API's public routes, and every attempt is audit-logged by the service.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from deepshield.api.rate_limit import public_rate_limit
from deepshield.errors import Unauthorized
from deepshield.services import web_sessions
from deepshield.services.access import Principal, Role
from deepshield.web.forms import read_form
from deepshield.web.sessions import (
    STAFF_COOKIE,
    clear_cookie,
    context_of,
    set_cookie,
    staff_principal,
)
from deepshield.web.templating import render, staff_nav

router = APIRouter(include_in_schema=False)

#: Where each role lands after signing in.
HOME_BY_ROLE = {
    Role.ADMIN: "/staff/admin",
    Role.PLATFORM: "/staff/reviewer",
    Role.HELPLINE: "/staff/helpline",
}
#: The most characters an API key can have (``ds_<12 hex>_<secret>``); longer is not a key.
MAX_KEY_CHARS = 128


@router.get("/staff/sign-in")
async def sign_in_page(request: Request) -> Response:
    return render(request, "staff/sign_in.html", error="")


@router.post("/staff/sign-in")
async def sign_in(request: Request) -> Response:
    await public_rate_limit(request)
    form = await read_form(request)
    api_key = str(form.get("api_key", "")).strip()
    if not api_key or len(api_key) > MAX_KEY_CHARS:
        return render(request, "staff/sign_in.html", status_code=400,
                      error="Enter the API key you were given (it starts with ds_).")
    try:
        started = await run_in_threadpool(web_sessions.sign_in_with_key, context_of(request), api_key)
    except Unauthorized as error:
        return render(request, "staff/sign_in.html", status_code=401, error=error.detail)
    response = RedirectResponse(HOME_BY_ROLE.get(started.principal.role, "/staff"), status_code=303)
    set_cookie(request, response, STAFF_COOKIE, started.token, expires_at=started.expires_at)
    return response


@router.post("/staff/sign-out")
async def sign_out(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    await read_form(request)
    await run_in_threadpool(web_sessions.sign_out, context_of(request), request.cookies.get(STAFF_COOKIE, ""))
    response = RedirectResponse("/staff/sign-in?signed_out=1", status_code=303)
    clear_cookie(request, response, STAFF_COOKIE)
    return response


@router.get("/staff")
async def staff_home(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """The role's own dashboard, or a page listing what this role can open."""
    home = HOME_BY_ROLE.get(principal.role)
    if home is not None:
        return RedirectResponse(home, status_code=303)
    return render(request, "staff/home.html", links=staff_nav(principal))
