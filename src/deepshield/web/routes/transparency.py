"""The transparency report as pages: ``/staff/transparency`` (charts drawn on the server, each
with its data table), and its downloads ``/staff/transparency.csv`` and ``.json``.

Who may read it is ``services.reporting.transparency_report``'s decision (``REPORT_TRANSPARENCY``:
admin, platform, helpline); every number on the page is the report's. The downloads are exactly
``reporting.report_as`` of the report for the same period.

Requests per week come from the report's own ``cases.by_week`` (the Monday's ISO date →
requests received): one report, one read, per page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from deepshield.cases import clocks as clock_rules
from deepshield.errors import InvalidRequest
from deepshield.services import reporting
from deepshield.services.access import Action, Principal, authorize
from deepshield.settings import CaseSettings
from deepshield.web import charts
from deepshield.web.sessions import context_of, staff_principal
from deepshield.web.templating import render

router = APIRouter(include_in_schema=False)

#: The most weeks the requests-per-week chart asks the service for, one report each.
MAX_WEEKS = 12
WEEK = timedelta(days=7)
#: The plain words for the report's clock outcomes and appeal outcomes, in the order shown.
CLOCK_OUTCOMES = (("met", "Met in time"), ("met_late", "Met late"), ("breached", "Breached"),
                  ("open", "Still running"))
APPEAL_OUTCOMES = (("filed", "Filed"), ("upheld", "Upheld"), ("overturned", "Overturned"),
                   ("pending", "Pending"))
DUTY_WORDS = {clock_rules.REMOVE: "remove", clock_rules.ACKNOWLEDGE: "acknowledge"}


@dataclass(frozen=True)
class Period:
    """The period asked for: the form's text (to show it back) and the bounds it means."""

    since_text: str
    until_text: str
    since: datetime | None
    until: datetime | None

    def query(self) -> str:
        """The period as a query string for the download links (empty when open)."""
        pairs = [(name, value) for name, value in (("since", self.since_text), ("until", self.until_text))
                 if value]
        return f"?{urlencode(pairs)}" if pairs else ""


def read_period(request: Request) -> Period:
    """The ``since`` and ``until`` of the page's GET form (ISO dates or date-times, UTC);
    ``InvalidRequest`` in the service's words for anything else or an empty period."""
    since_text = request.query_params.get("since", "").strip()[:40]
    until_text = request.query_params.get("until", "").strip()[:40]
    since = reporting.parse_period_bound(since_text, "since")
    until = reporting.parse_period_bound(until_text, "until")
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("the period is empty: the start must be earlier than the end")
    return Period(since_text, until_text, since, until)


def week_start(at: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week holding ``at``."""
    day = at.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def weeks_of(period: Period, now: datetime) -> list[tuple[datetime, datetime | None, datetime | None]]:
    """``(week's Monday, since, until)`` of the last ``MAX_WEEKS`` weeks of ``period`` (ending at
    ``now`` when it is open), each bounded by the period; an open end stays open (None), so a
    request filed while the page is drawn is still counted."""
    end = period.until or now
    last = week_start(end - timedelta(microseconds=1))
    first = last - WEEK * (MAX_WEEKS - 1)
    if period.since is not None:
        first = max(first, week_start(period.since))
    weeks = []
    monday = first
    while monday <= last:
        since = monday if period.since is None else max(monday, period.since)
        until: datetime | None = monday + WEEK
        if period.until is not None:
            until = min(until, period.until)
        elif monday == last:
            until = None
        weeks.append((monday, since, until))
        monday += WEEK
    return weeks


def requests_per_week(report: dict[str, Any], period: Period, now: datetime) -> list[tuple[date, int]]:
    """``(week's Monday, requests received)`` over the period's last ``MAX_WEEKS`` weeks, from the
    report's ``cases.by_week``."""
    by_week = report["cases"]["by_week"]
    return [(monday.date(), int(by_week.get(monday.date().isoformat(), 0)))
            for monday, _, _ in weeks_of(period, now)]


def clock_plans(settings: CaseSettings) -> dict[str, clock_rules.ClockPlan]:
    """Every jurisdiction's clock as ``cases.clocks`` plans it: a country of each legal clock
    (GB stands for the UK), and none at all for the operator's own policy clock."""
    plans = [*clock_rules.plan_clocks(["US", "AU", "GB", "EU"], settings),
             *clock_rules.plan_clocks([], settings)]
    return {plan.jurisdiction: plan for plan in plans}


def _hours(value: float) -> str:
    return f"{value:g} h"


def _date_label(monday: date) -> str:
    return f"{monday.day} {monday.strftime('%b')}"


@dataclass(frozen=True)
class ChartView:
    """One chart and the table under it: ``columns`` head the table, ``rows`` are its cells."""

    chart_id: str
    heading: str
    svg: Markup
    caption: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    note: str = ""


def chart_views(report: dict[str, Any], weekly: list[tuple[date, int]],
                plans: dict[str, clock_rules.ClockPlan]) -> list[ChartView]:
    """The page's charts and tables, from the report (and the weekly counts) only."""
    views = []
    week_bars = [charts.Bar(_date_label(monday), count) for monday, count in weekly]
    first_week = weekly[0][0].isoformat() if weekly else ""
    views.append(ChartView(
        "chart-weekly", "Requests per week",
        charts.column_chart(
            "chart-weekly", "Requests received per week",
            f"Requests received in each of {len(weekly)} weeks from the week of {first_week}; "
            f"{sum(count for _, count in weekly)} in all. The table below gives each week's number.",
            week_bars),
        "Requests received per week (weeks start on Monday, UTC)", ("Week starting", "Requests"),
        [(monday.isoformat(), str(count)) for monday, count in weekly],
        note=f"The last {MAX_WEEKS} weeks of the period at most."))

    handling = report["handling_time_hours"]["by_jurisdiction"]
    action_bars = []
    action_rows = []
    for jurisdiction, times in handling.items():
        plan = plans.get(jurisdiction)
        clock_text = f"{DUTY_WORDS.get(plan.duty, plan.duty)} within {_hours(plan.hours)}" \
            if plan is not None else ""
        if times["median"] is not None:
            action_bars.append(charts.Bar(
                jurisdiction, float(times["median"]), reference=plan.hours if plan is not None else None,
                reference_label=f"{jurisdiction} clock: {clock_text}" if plan is not None else ""))
        action_rows.append((jurisdiction, str(times["count"]),
                            _hours(times["median"]) if times["median"] is not None else "none",
                            _hours(times["slowest"]) if times["slowest"] is not None else "none",
                            clock_text or "no clock"))
    views.append(ChartView(
        "chart-action", "Time to action, by jurisdiction",
        charts.bar_chart(
            "chart-action", "Median time to action by jurisdiction, against its clock",
            "For each jurisdiction, the median hours from a complete request to the decision, with the "
            "jurisdiction's clock drawn as a dashed line. The table below gives the numbers.",
            action_bars, unit=" h"),
        "Time from a complete request to the decision, by jurisdiction",
        ("Jurisdiction", "Decided", "Median", "Slowest", "Clock"), action_rows,
        note="Handling time runs from a complete request (when the clocks start) to the decision."))

    decisions = report["decisions"]
    views.append(ChartView(
        "chart-outcomes", "Outcomes",
        charts.bar_chart(
            "chart-outcomes", "Decisions made in the period",
            f"{decisions['total']} decisions: {decisions['removed']} removed and {decisions['declined']} "
            f"declined; {decisions['automated']} automated, {decisions['human']} by a person.",
            [charts.Bar("Removed", decisions["removed"]), charts.Bar("Declined", decisions["declined"])]),
        "Decisions", ("Outcome", "Cases"),
        [("Removed", str(decisions["removed"])), ("Declined", str(decisions["declined"])),
         ("Automated", str(decisions["automated"])), ("By a person", str(decisions["human"])),
         ("All decisions", str(decisions["total"]))]))

    clocks = report["clocks"]
    clock_rows = [(key, *(str(counts[outcome]) for outcome, _ in CLOCK_OUTCOMES))
                  for key, counts in clocks["by_jurisdiction"].items()]
    views.append(ChartView(
        "chart-clocks", "Legal clocks",
        charts.bar_chart(
            "chart-clocks", "Clocks started in the period, by outcome",
            f"{clocks['started']} clocks started: " + ", ".join(
                f"{clocks[outcome]} {words.lower()}" for outcome, words in CLOCK_OUTCOMES) + ".",
            [charts.Bar(words, clocks[outcome]) for outcome, words in CLOCK_OUTCOMES]),
        "Clocks by jurisdiction and duty", ("Clock", *(words for _, words in CLOCK_OUTCOMES)), clock_rows))

    appeals, counter = report["appeals"], report["counter_notices"]
    views.append(ChartView(
        "chart-appeals", "Appeals",
        charts.bar_chart(
            "chart-appeals", "Appeals filed in the period, by outcome",
            f"{appeals['filed']} appeals filed: {appeals['upheld']} upheld, {appeals['overturned']} "
            f"overturned, {appeals['pending']} pending.",
            [charts.Bar(words, appeals[key]) for key, words in APPEAL_OUTCOMES]),
        "Appeals and counter-notices", ("Kind", *(words for _, words in APPEAL_OUTCOMES)),
        [("Appeals", *(str(appeals[key]) for key, _ in APPEAL_OUTCOMES)),
         ("Counter-notices", *(str(counter[key]) for key, _ in APPEAL_OUTCOMES))]))
    return views


def _page(request: Request, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("error", "")
    values.setdefault("views", [])
    values.setdefault("report", None)
    return render(request, "transparency/report.html", status_code=status_code, **values)


@router.get("/staff/transparency")
async def transparency_page(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    ctx = context_of(request)
    try:
        period = read_period(request)
    except InvalidRequest as error:
        # The form again with the service's sentence. Nothing is read, but a role the report is
        # not for is refused as the service would refuse it (the same access table).
        authorize(principal, Action.REPORT_TRANSPARENCY)
        since_text = request.query_params.get("since", "")[:40]
        until_text = request.query_params.get("until", "")[:40]
        return _page(request, 400, error=error.detail, period=Period(since_text, until_text, None, None))

    def build() -> tuple[dict[str, Any], list[ChartView]]:
        now = datetime.now(UTC)
        report = reporting.transparency_report(ctx, principal, since=period.since, until=period.until)
        weekly = requests_per_week(report, period, now)
        return report, chart_views(report, weekly, clock_plans(ctx.settings.cases))

    report, views = await run_in_threadpool(build)
    return _page(request, report=report, views=views, period=period)


async def _download(request: Request, principal: Principal, output_format: str) -> Response:
    ctx = context_of(request)
    period = read_period(request)
    report = await run_in_threadpool(
        lambda: reporting.transparency_report(ctx, principal, since=period.since, until=period.until))
    text, media_type = reporting.report_as(report, output_format)
    return Response(text, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="deepshield-transparency.{output_format}"'})


@router.get("/staff/transparency.csv")
async def transparency_csv(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """The report as CSV (``metric,dimension,value``), exactly ``reporting.report_as``."""
    return await _download(request, principal, "csv")


@router.get("/staff/transparency.json")
async def transparency_json(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """The report as JSON, exactly ``reporting.report_as``."""
    return await _download(request, principal, "json")
