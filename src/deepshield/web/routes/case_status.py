""""Check my case": the victim signs in with her case number and PIN, reads where her case stands,
withdraws it (after the cool-off) or cancels that, appeals a decline, and signs out.

Every page here works without JavaScript: plain forms, each carrying the anti-forgery token
(``web.forms``). Signing in goes through ``services.web_sessions.sign_in_victim``, so the slow KDF,
the lockout and the one answer for every failure are the API's own; attempts are rate-limited per
address like the API's public routes. Her session (``ds_case``) reaches her case only: the status
page takes no case number, it reads the one the session was opened for, and the services scope
every call by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from deepshield.api.rate_limit import public_rate_limit
from deepshield.cases.states import CaseState, can_move
from deepshield.errors import Category, DeepShieldError, Unauthorized
from deepshield.services import web_sessions
from deepshield.services.access import Principal
from deepshield.services.takedown import review, victim_access
from deepshield.services.takedown.records import NOT_RECOGNISED, ClockView
from deepshield.store.models import utcnow
from deepshield.web.forms import read_form
from deepshield.web.routes.portal import TAKE_IT_DOWN_URL
from deepshield.web.sessions import (
    VICTIM_COOKIE,
    SignInRequired,
    clear_cookie,
    context_of,
    set_cookie,
    victim_principal,
)
from deepshield.web.templating import render

router = APIRouter(include_in_schema=False)

#: Longest case number and PIN read from the form; longer is neither (the service answers
#: NOT_RECOGNISED for it like for any other failure, without hashing a huge value).
MAX_CASE_NUMBER_CHARS = 40
MAX_PIN_CHARS = 64
#: The longest appeal statement the form takes (the service checks its own bounds too).
MAX_STATEMENT_CHARS = 5000
#: The request header by which the portal's script asks for ``LOCATION_HEADER`` instead of a redirect.
REPLACE_HEADER = "x-portal-navigation"
LOCATION_HEADER = "X-Portal-Location"

#: Who set each clock, in plain words (``ClockView.jurisdiction``).
CLOCK_SOURCES = {
    "US": "US law (the TAKE IT DOWN Act)",
    "AU": "Australian law (an eSafety removal notice)",
    "UK": "UK law",
    "EU": "EU law (the Digital Services Act)",
    "POLICY": "this service's own rules",
}
#: What each clock asks of the platform (``ClockView.duty``).
CLOCK_DUTIES = {
    "remove": "decide on your request and take the content down",
    "acknowledge": "confirm it has received your request",
}
#: Each location's status (``LocationView.status``), in plain words.
LOCATION_STATUSES = {
    "pending": "waiting for a decision",
    "removed": "removed",
    "declined": "not removed",
    "not_found": "not found at this address",
}
#: What the page says after an action succeeded (the ``done`` query value), never a sentence
#: taken from the URL itself.
DONE_MESSAGES = {
    "withdraw": "Your request to withdraw was saved. You can still cancel it until the time shown.",
    "cancel": "Your withdrawal was cancelled. Your case goes on as before.",
    "appeal": "Your appeal was sent. A reviewer who did not make the first decision will look at it.",
}


@dataclass(frozen=True)
class ClockLine:
    """One deadline, as the status page says it."""

    source: str
    duty: str
    due_at: datetime
    state: str  # due / met / overdue / paused
    met_at: datetime | None


def format_time(moment: datetime | None) -> str:
    """``"Tuesday 3 June 2025, 14:05 UTC"`` (empty for None)."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return f"{moment:%A} {moment.day} {moment:%B %Y, %H:%M} UTC"


def time_from_now(moment: datetime | None, now: datetime) -> str:
    """``"in about 23 hours"`` / ``"about 2 hours ago"``, for a reader in any time zone."""
    if moment is None:
        return ""
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    seconds = (moment - now).total_seconds()
    minutes = round(abs(seconds) / 60)
    if minutes < 60:
        amount = "less than a minute" if minutes == 0 else f"{minutes} minute{'s' if minutes != 1 else ''}"
    elif minutes < 48 * 60:
        hours = round(minutes / 60)
        amount = f"about {hours} hour{'s' if hours != 1 else ''}"
    else:
        amount = f"about {round(minutes / 1440)} days"
    return f"in {amount}" if seconds >= 0 else f"{amount} ago"


def _hours(hours: float) -> str:
    """``"24 hours"``, ``"1 hour"``, ``"1.5 hours"``."""
    return f"{hours:g} hour{'' if hours == 1 else 's'}"


def _clock_line(clock: ClockView) -> ClockLine:
    if clock.met_at is not None:
        state = "met"
    elif clock.breached_at is not None:
        state = "overdue"
    elif clock.paused:
        state = "paused"
    else:
        state = "due"
    return ClockLine(CLOCK_SOURCES.get(clock.jurisdiction, clock.jurisdiction),
                     CLOCK_DUTIES.get(clock.duty, clock.duty), clock.due_at, state, clock.met_at)


def _go_to(request: Request, path: str) -> Response:
    """Where a form's answer sends the browser: a 303 redirect after an ordinary form post; for the
    portal's script (``static/js/portal/replace_forms.js``, which asks with ``REPLACE_HEADER``), 204
    with the address in ``LOCATION_HEADER``, which it opens with ``location.replace``, so that the
    post leaves no step in the history for Back to return to after the quick exit."""
    if request.headers.get(REPLACE_HEADER, "").lower() == "replace":
        return Response(status_code=204, headers={LOCATION_HEADER: path})
    return RedirectResponse(path, status_code=303)


def _sign_in_page(request: Request, *, status_code: int = 200, error: str = "",
                  case_number: str = "") -> Response:
    return render(request, "case/sign_in.html", status_code=status_code, error=error,
                  case_number=case_number, not_recognised=NOT_RECOGNISED,
                  signed_out=request.query_params.get("signed_out") == "1")


@router.get("/case")
async def sign_in_page(request: Request) -> Response:
    """The case number and PIN form; a browser already signed in goes straight to its status."""
    if request.cookies.get(VICTIM_COOKIE):
        try:
            await victim_principal(request)
        except SignInRequired:
            # An ended session: its cookie is of no use, so it goes.
            response = _sign_in_page(request)
            clear_cookie(request, response, VICTIM_COOKIE)
            return response
        return RedirectResponse("/case/status", status_code=303)
    return _sign_in_page(request)


@router.post("/case/sign-in")
async def sign_in(request: Request) -> Response:
    """Check the case number and PIN (the API's KDF and lockout) and open her session. Every
    failure gets the same page and the same sentence."""
    await public_rate_limit(request)
    form = await read_form(request)
    case_number = str(form.get("case_number", "")).strip()[:MAX_CASE_NUMBER_CHARS + 1]
    pin = str(form.get("pin", "")).strip()
    if not case_number or not pin:
        return _sign_in_page(request, status_code=400, case_number=case_number[:MAX_CASE_NUMBER_CHARS],
                             error="Enter both your case number and your PIN.")
    if len(case_number) > MAX_CASE_NUMBER_CHARS or len(pin) > MAX_PIN_CHARS:
        # Not a case number or PIN; still answered as every other failure.
        case_number, pin = "", ""
    try:
        started = await run_in_threadpool(web_sessions.sign_in_victim, context_of(request), case_number, pin)
    except Unauthorized:
        return _sign_in_page(request, status_code=401, case_number=case_number, error=NOT_RECOGNISED)
    previous = request.cookies.get(VICTIM_COOKIE, "")
    if previous:
        # One case session per browser: the one this cookie replaces ends now, not when it expires.
        await run_in_threadpool(web_sessions.sign_out, context_of(request), previous)
    response = _go_to(request, "/case/status")
    set_cookie(request, response, VICTIM_COOKIE, started.token, expires_at=started.expires_at)
    return response


def _status_values(request: Request, principal: Principal) -> dict[str, Any]:
    """What the status page shows: the service's own summary and facts, her case's clocks,
    locations, what is missing, and which actions its state allows."""
    ctx = context_of(request)
    assert principal.case_number is not None  # victim_principal guarantees it
    status = victim_access.victim_status(ctx, principal)
    case = review.get_case(ctx, principal.case_number, principal)
    now = utcnow()
    withdrawal_pending = status.withdraw_effective_at is not None
    return {
        "status": status,
        "case": case,
        "clocks": [_clock_line(clock) for clock in case.clocks],
        "locations": [(location.location, LOCATION_STATUSES.get(location.status, location.status))
                      for location in case.locations],
        "withdrawal_pending": withdrawal_pending,
        "can_withdraw": not withdrawal_pending and can_move(status.state, CaseState.WITHDRAWN.value),
        "can_appeal": (status.state == CaseState.ACTIONED.value and status.decision == "declined"
                       and can_move(status.state, CaseState.APPEALED.value)),
        "cool_off": _hours(ctx.settings.cases.withdrawal_cool_off_hours),
        "session_minutes": f"{ctx.settings.server.victim_session_minutes:g}",
        "take_it_down_url": TAKE_IT_DOWN_URL,
        "format_time": format_time,
        "from_now": lambda moment: time_from_now(moment, now),
        "done": DONE_MESSAGES.get(request.query_params.get("done", ""), ""),
        "max_statement_chars": MAX_STATEMENT_CHARS,
    }


async def _status_page(request: Request, principal: Principal, *, status_code: int = 200,
                       errors: dict[str, str] | None = None, statement: str = "") -> Response:
    values = await run_in_threadpool(_status_values, request, principal)
    return render(request, "case/status.html", status_code=status_code, errors=errors or {},
                  statement=statement, **values)


@router.get("/case/status")
async def status_page(request: Request, principal: Principal = Depends(victim_principal)) -> Response:
    """Where her case stands, in plain words, with what she can do next."""
    return await _status_page(request, principal)


def _refused_here(error: DeepShieldError) -> bool:
    """Whether the status page can say why an action was refused (her input, or the case's state),
    rather than the door's error page."""
    return error.category in (Category.INVALID_INPUT, Category.CONFLICT)


@router.post("/case/withdraw")
async def withdraw(request: Request, principal: Principal = Depends(victim_principal)) -> Response:
    """Ask to withdraw her case: it takes effect after the cool-off, unless she cancels."""
    form = await read_form(request)
    if form.get("confirm") != "yes":
        return await _status_page(request, principal, status_code=400, errors={
            "withdraw": "Tick the box to confirm that you want to withdraw, then press the button again."})
    assert principal.case_number is not None
    try:
        await run_in_threadpool(victim_access.request_withdrawal, context_of(request),
                                principal.case_number, principal)
    except DeepShieldError as error:
        if not _refused_here(error):
            raise
        return await _status_page(request, principal, status_code=409, errors={"withdraw": error.detail})
    return _go_to(request, "/case/status?done=withdraw")


@router.post("/case/withdraw/cancel")
async def cancel_withdrawal(request: Request, principal: Principal = Depends(victim_principal)) -> Response:
    """Cancel a withdrawal still in its cool-off."""
    await read_form(request)
    assert principal.case_number is not None
    try:
        await run_in_threadpool(victim_access.cancel_withdrawal, context_of(request),
                                principal.case_number, principal)
    except DeepShieldError as error:
        if not _refused_here(error):
            raise
        return await _status_page(request, principal, status_code=409, errors={"cancel": error.detail})
    return _go_to(request, "/case/status?done=cancel")


@router.post("/case/appeal")
async def appeal(request: Request, principal: Principal = Depends(victim_principal)) -> Response:
    """Appeal a declined request, with her reasons; a different reviewer decides it."""
    form = await read_form(request)
    statement = str(form.get("statement", ""))[:MAX_STATEMENT_CHARS + 1]
    assert principal.case_number is not None
    try:
        await run_in_threadpool(
            lambda: review.file_appeal(context_of(request), str(principal.case_number), statement, principal))
    except DeepShieldError as error:
        if not _refused_here(error):
            raise
        return await _status_page(request, principal, status_code=400 if error.category is
                                  Category.INVALID_INPUT else 409,
                                  errors={"appeal": error.detail}, statement=statement[:MAX_STATEMENT_CHARS])
    return _go_to(request, "/case/status?done=appeal")


@router.post("/case/sign-out")
async def sign_out(request: Request, principal: Principal = Depends(victim_principal)) -> Response:
    """End her session here and now (it also ends by itself after a few minutes)."""
    await read_form(request)
    token = request.cookies.get(VICTIM_COOKIE, "")
    await run_in_threadpool(web_sessions.sign_out, context_of(request), token)
    response = _go_to(request, "/case?signed_out=1")
    clear_cookie(request, response, VICTIM_COOKIE)
    return response
