"""The platform reviewer's pages: the queue (nearest deadline first), a case with its clocks,
locations, history and the copies the sweep found, the review actions, and appeals.

Every page calls the takedown services with the signed-in reviewer's principal; the services
decide who may do what (``services.access``) and which cases a caller sees. These pages are
for those who review (``Action.CASE_REVIEW``: the platform's reviewers and the operator): any
other role gets the refusal page before a case is read. A case the caller may not see answers
as one that does not exist (the service's 404).

Each action is a plain form (works without JavaScript), read through ``web.forms.read_form``
(anti-forgery token) and checked with the API's own request models (``api.case_schemas``: sizes,
no control characters, no pasted image), then handed to the service. A success redirects (303)
back to the page with a fixed message key in the query string (``?done=acknowledged``); a
refusal re-renders the page with the service's own sentence and its status. One exception: a
removal renders the case page at once, because only that answer holds the copy sweep's
distances (they are not kept; later views list the copies still flagged, without distances).

Times, clocks and form checks come from ``web.display``, shared with the helpline's pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from deepshield.api.case_schemas import AppealDecisionIn, AppealIn, CloseIn, DecisionIn, PauseIn
from deepshield.api.errors import status_of
from deepshield.cases.numbers import parse_case_number
from deepshield.cases.states import CLOCKED, MIN_REASON_CHARS, CaseState, can_move
from deepshield.errors import DeepShieldError, InvalidRequest, NotFound
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.spread import content_registry
from deepshield.services.takedown import review
from deepshield.services.takedown.records import CaseView, DueItem
from deepshield.web.display import (
    ClockLine,
    clock_lines,
    detail_text,
    iso_utc,
    relative_text,
    text_field,
    utc_text,
    validated,
)
from deepshield.web.forms import read_form
from deepshield.web.sessions import context_of, staff_principal
from deepshield.web.templating import render

router = APIRouter(include_in_schema=False)

CaseNumber = Annotated[str, Path(min_length=1, max_length=40)]

#: How far ahead the queue looks for deadlines: every open clock (the longest is days, not a year).
QUEUE_HORIZON = timedelta(days=366)
#: The most cases one list on these pages shows (the services' own cap is 1000).
MAX_LISTED = 1000
#: The most appealed cases the appeals page opens (each is read in full, and the read audited).
MAX_APPEALS_LISTED = 100
#: How many decided, not yet closed cases the queue page lists below the queue.
RECENT_DECIDED = 50

#: Messages a redirect may ask for (``?done=<key>``): fixed words, so a crafted link cannot put
#: text of its own on a reviewer's page.
DONE_MESSAGES = {
    "acknowledged": "The request was acknowledged.",
    "paused": "The clocks of this case are paused.",
    "resumed": "The clocks of this case run again; their deadlines moved by the time paused.",
    "declined": "The request was declined. The requester gets your reasons.",
    "removed": "The content was removed: its hashes now block re-uploads.",
    "closed": "The case is closed.",
    "appealed": "The appeal was filed. A different reviewer decides it.",
    "item_removed": "The item is marked removed.",
    "appeal_decided": "The appeal was decided.",
}


def done_message(request: Request) -> str:
    """The plain-words message a redirect asked for, or ``""``."""
    return DONE_MESSAGES.get(request.query_params.get("done", ""), "")



# --- The queue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    case_number: str
    #: The nearest unmet clock of the case (None when it has none).
    deadline: ClockLine | None
    escalated: bool
    breached: bool
    paused: bool
    acknowledged: bool
    received_text: str
    jurisdictions: list[str]
    locations: int
    hash_count: int | None


def _queue(due: list[DueItem], cases: list[CaseView], now: datetime) -> list[QueueRow]:
    """Cases awaiting a decision, nearest deadline first: the due list gives the order (it covers
    every case however many there are), the case list adds what each case holds."""
    by_number = {case.case_number: case for case in cases}
    items_by_number: dict[str, list[DueItem]] = {}
    for item in due:  # soonest first, so each case's first item is its nearest deadline
        items_by_number.setdefault(item.case_number, []).append(item)
    rows = []
    for number, items in items_by_number.items():
        case = by_number.get(number)
        lines = clock_lines(case, now) if case is not None else []
        first = next((line for line in lines if line.status != "met"), None)
        if first is None:
            nearest = items[0]
            breached = nearest.breached or nearest.due_at <= now
            status = "breached" if breached else "escalated" if nearest.escalated else "running"
            first = ClockLine(nearest.jurisdiction, nearest.duty, nearest.due_at, utc_text(nearest.due_at),
                              iso_utc(nearest.due_at), relative_text(nearest.due_at - now), status, "")
        rows.append(_row(number, case, first, escalated=any(i.escalated for i in items),
                         breached=any(i.breached for i in items)))
    # Cases awaiting a decision with no open clock listed (paused, or all met): after the rest.
    for case in sorted(cases, key=lambda c: c.received_at):
        if case.case_number not in items_by_number:
            lines = clock_lines(case, now)
            rows.append(_row(case.case_number, case, next((x for x in lines if x.status != "met"), None),
                             escalated=any(x.status == "escalated" for x in lines),
                             breached=any(x.status == "breached" for x in lines)))
    return rows


def _row(number: str, case: CaseView | None, deadline: ClockLine | None, *, escalated: bool,
         breached: bool) -> QueueRow:
    return QueueRow(
        case_number=number, deadline=deadline, escalated=escalated, breached=breached,
        paused=case is not None and any(clock.paused for clock in case.clocks),
        acknowledged=case is not None and case.acknowledged_at is not None,
        received_text=utc_text(case.received_at) if case is not None else "—",
        jurisdictions=list(case.jurisdictions) if case is not None else [],
        locations=len(case.locations) if case is not None else 0,
        hash_count=case.hash_count if case is not None else None)


def _require_reviewer(principal: Principal) -> None:
    # These pages are the reviewer's; the services' table says who reviews.
    authorize(principal, Action.CASE_REVIEW)


@router.get("/staff/reviewer")
async def queue_page(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """The cases awaiting a decision, nearest deadline first, with their clocks counting down."""
    _require_reviewer(principal)
    ctx = context_of(request)
    now = datetime.now(UTC)

    def read() -> tuple[list[DueItem], list[CaseView], int, list[CaseView]]:
        due = review.due_cases(ctx, principal, within=QUEUE_HORIZON, now=now)
        waiting = review.list_cases(ctx, principal, state=CaseState.VALID.value, limit=MAX_LISTED)
        # The page shows only how many appeals wait (their own page lists them): count, not read.
        appealed = review.count_cases(ctx, principal, state=CaseState.APPEALED.value)
        decided = review.list_cases(ctx, principal, state=CaseState.ACTIONED.value, limit=RECENT_DECIDED)
        return due, waiting, appealed, decided

    due, waiting, appealed, decided = await run_in_threadpool(read)
    return render(request, "reviewer/queue.html", rows=_queue(due, waiting, now), appealed=appealed,
                  decided=decided, utc_text=utc_text, message=done_message(request))


# --- One case -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CasePage:
    """What the case page shows besides the case itself."""

    case: CaseView
    clocks: list[ClockLine]
    #: Items of the platform's registry the sweep listed for this case and still flagged.
    flagged: list[content_registry.FlaggedItem]
    offers: dict[str, bool]


def _offers(case: CaseView) -> dict[str, bool]:
    """Which action forms the page offers for the case's state (the lifecycle's own moves; the
    service still decides when one is sent)."""
    clocked = case.state in {state.value for state in CLOCKED}
    paused = any(clock.paused for clock in case.clocks)
    return {
        "acknowledge": clocked and case.acknowledged_at is None,
        "pause": clocked and not paused,
        "resume": paused,
        "decide": can_move(case.state, CaseState.ACTIONED.value) and clocked,
        "close": can_move(case.state, CaseState.CLOSED.value),
        "appeal": can_move(case.state, CaseState.APPEALED.value),
    }


def _case_page(ctx: Any, case_number: str, principal: Principal) -> CasePage:
    case = review.get_case(ctx, case_number, principal)
    flagged = []
    if case.decision == "removed":
        flagged = content_registry.list_flagged(ctx, principal, case.case_number)
    return CasePage(case, clock_lines(case, datetime.now(UTC)), flagged, _offers(case))


def _render_case(request: Request, page: CasePage, *, status_code: int = 200, message: str = "",
                 error: str = "", sweep: Any = None, values: Mapping[str, str] | None = None) -> Response:
    return render(request, "reviewer/case.html", status_code=status_code, case=page.case, clocks=page.clocks,
                  flagged=page.flagged, offers=page.offers, sweep=sweep, message=message, error=error,
                  values=dict(values or {}), utc_text=utc_text, detail_text=detail_text,
                  min_reason_chars=MIN_REASON_CHARS)


@router.get("/staff/reviewer/cases/{case_number}")
async def case_page(request: Request, case_number: CaseNumber,
                    principal: Principal = Depends(staff_principal)) -> Response:
    """A case: its state, clocks, locations, hash count, the copies the sweep listed, appeals,
    history, and the review actions its state allows."""
    _require_reviewer(principal)
    page = await run_in_threadpool(_case_page, context_of(request), case_number, principal)
    return _render_case(request, page, message=done_message(request))


Outcome = tuple[str, Any]  # (done key, the copy sweep's result when a removal ran it)
ActionHandler = Callable[[Any, str, FormData, Principal], Outcome]


def _acknowledge(ctx: Any, number: str, form: FormData, principal: Principal) -> Outcome:
    review.acknowledge(ctx, number, principal)
    return "acknowledged", None


def _pause(ctx: Any, number: str, form: FormData, principal: Principal) -> Outcome:
    body = validated(PauseIn, {"reason": text_field(form, "reason")})
    review.pause_clocks(ctx, number, body.reason, principal)
    return "paused", None


def _resume(ctx: Any, number: str, form: FormData, principal: Principal) -> Outcome:
    review.resume_clocks(ctx, number, principal)
    return "resumed", None


def _decide(ctx: Any, number: str, form: FormData, principal: Principal) -> Outcome:
    values: dict[str, Any] = {"decision": text_field(form, "decision"),
                              "reasons": text_field(form, "reasons"),
                              "baseless": form.get("baseless") == "yes"}
    if text_field(form, "uploader_ref").strip():
        values["uploader_ref"] = text_field(form, "uploader_ref").strip()
    if not values["decision"]:
        raise InvalidRequest("decision: choose remove or decline")
    body = validated(DecisionIn, values)
    # A person decides on this page, so the decision is never marked automated.
    decision = review.decide(ctx, number, body.decision, body.reasons, principal, automated=False,
                             uploader_ref=body.uploader_ref, baseless=body.baseless)
    return body.decision, decision.sweep


def _close(ctx: Any, number: str, form: FormData, principal: Principal) -> Outcome:
    body = validated(CloseIn, {"reason": text_field(form, "reason")})
    review.close_case(ctx, number, body.reason, principal)
    return "closed", None


def _appeal(ctx: Any, number: str, form: FormData, principal: Principal) -> Outcome:
    """An appeal or counter-notice for the uploader, filed by the platform on their behalf."""
    body = validated(AppealIn, {"statement": text_field(form, "statement"), "party": "uploader",
                                "kind": text_field(form, "kind") or "appeal"})
    review.file_appeal(ctx, number, body.statement, principal, party=body.party, kind=body.kind)
    return "appealed", None


def _item_removed(ctx: Any, number: str, form: FormData, principal: Principal) -> Outcome:
    """Mark one of the copies this case's sweep listed as taken down (only those: the form belongs
    to the case's page, not to the whole registry)."""
    item_id = text_field(form, "item_id")
    listed = {item.item_id for item in content_registry.list_flagged(ctx, principal, number)}
    if item_id not in listed:
        raise NotFound("this case lists no such copy waiting for action")
    content_registry.mark_actioned(ctx, item_id, "removed", principal)
    return "item_removed", None


ACTIONS: dict[str, ActionHandler] = {
    "acknowledge": _acknowledge, "pause": _pause, "resume": _resume, "decide": _decide,
    "close": _close, "appeal": _appeal, "item-removed": _item_removed,
}


@router.post("/staff/reviewer/cases/{case_number}/{action}")
async def case_action(request: Request, case_number: CaseNumber, action: str,
                      principal: Principal = Depends(staff_principal)) -> Response:
    """Run one review action on the case; see the module for what is answered."""
    handler = ACTIONS.get(action)
    if handler is None:
        raise NotFound("there is no such action on a case")
    _require_reviewer(principal)
    form = await read_form(request)
    ctx = context_of(request)
    try:
        done, sweep = await run_in_threadpool(handler, ctx, case_number, form, principal)
    except DeepShieldError as error:
        page = await run_in_threadpool(_case_page, ctx, case_number, principal)
        kept = {name: text_field(form, name) for name in ("decision", "reasons", "uploader_ref", "baseless",
                                                          "reason", "statement", "kind")}
        return _render_case(request, page, status_code=status_of(error), error=error.detail,
                            values={"action": action, **kept})
    number = parse_case_number(case_number) or case_number
    if done == "removed":
        page = await run_in_threadpool(_case_page, ctx, number, principal)
        return _render_case(request, page, message=DONE_MESSAGES["removed"], sweep=sweep)
    return RedirectResponse(f"/staff/reviewer/cases/{number}?done={done}", status_code=303)


# --- Appeals ------------------------------------------------------------------------------------


def _appealed_cases(ctx: Any, principal: Principal) -> list[CaseView]:
    listed = review.list_cases(ctx, principal, state=CaseState.APPEALED.value, limit=MAX_APPEALS_LISTED)
    # The list leaves appeals out: each case is read in full (an audited read, as it should be).
    full = [review.get_case(ctx, case.case_number, principal) for case in listed]
    return sorted(full, key=lambda case: min((a.filed_at for a in case.appeals if a.decided_at is None),
                                             default=case.received_at))


def _render_appeals(request: Request, cases: list[CaseView], *, status_code: int = 200,
                    message: str = "", error: str = "", error_case: str = "",
                    values: Mapping[str, str] | None = None) -> Response:
    return render(request, "reviewer/appeals.html", status_code=status_code, cases=cases, message=message,
                  error=error, error_case=error_case, values=dict(values or {}), utc_text=utc_text)


def _require_appeal_decider(principal: Principal) -> None:
    authorize(principal, Action.CASE_APPEAL_DECIDE)


@router.get("/staff/reviewer/appeals")
async def appeals_page(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """Appeals waiting for a decision, oldest first, each with a form to decide it."""
    _require_appeal_decider(principal)
    cases = await run_in_threadpool(_appealed_cases, context_of(request), principal)
    number = parse_case_number(request.query_params.get("case", "")) or ""
    message = done_message(request)
    if message and number:
        message = f"{message} (case {number})"
    return _render_appeals(request, cases, message=message)


@router.post("/staff/reviewer/appeals/{case_number}/{appeal_id}")
async def decide_appeal(request: Request, case_number: CaseNumber,
                        appeal_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
                        principal: Principal = Depends(staff_principal)) -> Response:
    """Decide one appeal (upheld or overturned, with reasons). The service refuses the reviewer
    who made the decision appealed against; the page shows its sentence."""
    _require_appeal_decider(principal)
    form = await read_form(request)
    ctx = context_of(request)
    outcome, reasons = text_field(form, "outcome"), text_field(form, "reasons")

    def decide() -> None:
        if not outcome:
            raise InvalidRequest("outcome: choose upheld or overturned")
        body = validated(AppealDecisionIn, {"outcome": outcome, "reasons": reasons})
        review.decide_appeal(ctx, case_number, appeal_id, body.outcome, body.reasons, principal)

    try:
        await run_in_threadpool(decide)
    except DeepShieldError as error:
        cases = await run_in_threadpool(_appealed_cases, ctx, principal)
        number = parse_case_number(case_number) or ""
        return _render_appeals(request, cases, status_code=status_of(error), error=error.detail,
                               error_case=number,
                               values={"appeal": str(appeal_id), "outcome": outcome, "reasons": reasons})
    number = parse_case_number(case_number) or ""
    return RedirectResponse(f"/staff/reviewer/appeals?done=appeal_decided&case={number}", status_code=303)
