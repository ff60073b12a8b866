"""The transparency page (``/staff/transparency``) and its downloads: with cases made through the
services (filed, acknowledged, decided, appealed), every bar of the SVG charts is the report's
number, and the CSV and JSON are ``reporting.report_as`` of the same report. Real server, real
database, and a real Chromium for the page as people use it."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from case_forms import request_form
from deepshield.services import reporting
from deepshield.services.access import Role
from deepshield.services.takedown import intake, review
from deepshield.store.models import utcnow
from deepshield.web.routes import transparency as transparency_route
from principals import SETUP
from web_site import Site, assert_accessible, script_problems, sign_in_staff, staff_client

SVG = "{http://www.w3.org/2000/svg}"


def monday_of(at: datetime) -> date:
    day = at.date()
    return day - timedelta(days=day.weekday())


def make_cases(site: Site) -> list[datetime]:
    """Four requests filed by the helpline over three weeks, taken through the workflow; returns
    when each was received."""
    helpline, reviewer = site.principal(Role.HELPLINE), site.principal(Role.PLATFORM)
    now = utcnow()
    # Fixed places in the weeks, whatever the hour the test runs (days before now put the second
    # and third requests in different weeks on Tuesdays between 00:00 and 02:00 UTC): one two
    # weeks back, two on last week's Tuesday, one this week.
    this_monday = datetime.combine(monday_of(now), time.min, tzinfo=UTC)
    last_tuesday = this_monday - timedelta(days=6)
    received = [this_monday - timedelta(days=14, hours=-12), last_tuesday + timedelta(hours=12),
                last_tuesday + timedelta(hours=10), max(now - timedelta(hours=1), this_monday)]
    # Case 1: removed after 10 hours; the requester's appeal upheld by another reviewer (the admin).
    first = intake.file_request(site.ctx, request_form(site.ctx, seed=1), helpline, now=received[0]).case
    review.acknowledge(site.ctx, first.case_number, reviewer, now=received[0] + timedelta(hours=2))
    review.decide(site.ctx, first.case_number, "removed", "Intimate image shared without consent.", reviewer,
                  now=received[0] + timedelta(hours=10))
    appealed = review.file_appeal(site.ctx, first.case_number, "Please remove it from the mirror too.",
                                  helpline, now=received[0] + timedelta(hours=20))
    review.decide_appeal(site.ctx, first.case_number, appealed.appeals[0].id, "upheld", "The removal stands.",
                         site.principal(Role.ADMIN), now=received[0] + timedelta(hours=30))
    # Case 2: declined after 30 hours, appealed, the appeal pending.
    second = intake.file_request(site.ctx, request_form(site.ctx, seed=2), helpline, now=received[1]).case
    review.decide(site.ctx, second.case_number, "declined", "The reported page does not show the requester.",
                  reviewer, now=received[1] + timedelta(hours=30))
    review.file_appeal(site.ctx, second.case_number, "It is her: the tattoo on the left arm.", helpline,
                       now=received[1] + timedelta(hours=40))
    # Case 3: US only, removed after 60 hours (past its 48-hour clock).
    third = intake.file_request(site.ctx, request_form(site.ctx, seed=3, jurisdiction={
        "depicted_person_country": "US", "platform_countries": ["US"]}), helpline, now=received[2]).case
    review.decide(site.ctx, third.case_number, "removed", "Intimate image shared without consent.", reviewer,
                  now=received[2] + timedelta(hours=60))
    # Case 4: acknowledged only; its clocks still run.
    fourth = intake.file_request(site.ctx, request_form(site.ctx, seed=4), helpline, now=received[3]).case
    review.acknowledge(site.ctx, fourth.case_number, reviewer, now=received[3] + timedelta(minutes=30))
    return received


def svg_of(html: str, chart_id: str) -> ET.Element:
    found = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.DOTALL)
    assert found, f"no chart {chart_id}"
    return ET.fromstring(found.group(0))


def bars_of(html: str, chart_id: str) -> dict[str, float]:
    return {rect.get("data-label", ""): float(rect.get("data-value", "nan"))
            for rect in svg_of(html, chart_id).iter(f"{SVG}rect") if rect.get("class") == "chart-bar"}


def references_of(html: str, chart_id: str) -> dict[str, float]:
    return {line.get("data-label", ""): float(line.get("data-value", "nan"))
            for line in svg_of(html, chart_id).iter(f"{SVG}line") if line.get("class") == "chart-reference"}


def week_label(monday: date) -> str:
    return f"{monday.day} {monday.strftime('%b')}"


def without_moving_parts(report: dict[str, Any]) -> dict[str, Any]:
    """The report less what changes with every read of it: when it was made, and the audit
    counts and chain head (each read is itself an audit event)."""
    return {key: value for key, value in report.items() if key not in ("generated_at", "audit")}


def csv_rows_without_moving_parts(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text))
            if row[0] != "generated_at" and not row[0].startswith("audit.")]


def test_every_bar_is_the_reports_number(site: Site) -> None:
    received = make_cases(site)
    with staff_client(site, Role.ADMIN) as client:
        response = client.get("/staff/transparency")
    assert response.status_code == 200, response.text
    html = response.text
    report = reporting.transparency_report(site.ctx, SETUP)
    assert report["cases"]["received"] == 4 and report["decisions"]["total"] == 3

    # Requests per week: the last 12 weeks, each week's count of requests received.
    weekly = bars_of(html, "chart-weekly")
    expected_weeks = Counter(week_label(monday_of(at)) for at in received)
    assert len(weekly) == 12
    assert {label: value for label, value in weekly.items() if value} == expected_weeks
    assert list(weekly)[-1] == week_label(monday_of(utcnow()))

    # Time to action: the median per jurisdiction, against that jurisdiction's clock.
    by_jurisdiction = report["handling_time_hours"]["by_jurisdiction"]
    assert bars_of(html, "chart-action") == {name: times["median"] for name, times in by_jurisdiction.items()}
    assert by_jurisdiction["US"]["median"] == 30.0 and by_jurisdiction["UK"]["median"] == 20.0
    assert references_of(html, "chart-action") == {"US clock: remove within 48 h": 48.0,
                                                   "UK clock: acknowledge within 24 h": 24.0}

    decisions = report["decisions"]
    assert bars_of(html, "chart-outcomes") == {"Removed": decisions["removed"],
                                               "Declined": decisions["declined"]}
    assert (decisions["removed"], decisions["declined"]) == (2, 1)
    clocks = report["clocks"]
    assert bars_of(html, "chart-clocks") == {"Met in time": clocks["met"], "Met late": clocks["met_late"],
                                             "Breached": clocks["breached"], "Still running": clocks["open"]}
    appeals = report["appeals"]
    assert bars_of(html, "chart-appeals") == {"Filed": 2, "Upheld": 1, "Overturned": 0, "Pending": 1}
    assert (appeals["filed"], appeals["upheld"], appeals["pending"]) == (2, 1, 1)
    # Each chart has its data table (the same numbers, for screen readers and copying).
    weekly_table = re.search(r'<table id="chart-weekly-table">.*?</table>', html, re.DOTALL)
    assert weekly_table and f"<th scope=\"row\">{monday_of(received[0]).isoformat()}</th><td>1</td>" \
        in weekly_table.group(0).replace("\n", "").replace("  ", "")
    assert '<dd id="requests-received">4</dd>' in html
    assert "style=" not in html


def test_the_downloads_are_the_services_report_for_the_same_period(site: Site) -> None:
    received = make_cases(site)
    since = monday_of(received[1])
    until = since + timedelta(days=7)
    query = {"since": since.isoformat(), "until": until.isoformat()}
    bounds = {"since": datetime(since.year, since.month, since.day, tzinfo=UTC),
              "until": datetime(until.year, until.month, until.day, tzinfo=UTC)}
    with staff_client(site, Role.HELPLINE) as client:
        as_json = client.get("/staff/transparency.json", params=query)
        as_csv = client.get("/staff/transparency.csv", params=query)
        everything = client.get("/staff/transparency.json")
        page = client.get("/staff/transparency", params=query)
    report = reporting.transparency_report(site.ctx, site.principal(Role.HELPLINE), **bounds)
    expected_json, json_type = reporting.report_as(report, "json")
    expected_csv, csv_type = reporting.report_as(report, "csv")
    assert as_json.status_code == 200 and as_json.headers["content-type"].startswith(json_type)
    assert as_csv.headers["content-type"].startswith(csv_type)
    assert 'filename="deepshield-transparency.csv"' in as_csv.headers["content-disposition"]
    assert without_moving_parts(json.loads(as_json.text)) == without_moving_parts(json.loads(expected_json))
    assert csv_rows_without_moving_parts(as_csv.text) == csv_rows_without_moving_parts(expected_csv)
    assert json.loads(as_json.text)["cases"]["received"] == 2
    assert json.loads(everything.text)["cases"]["received"] == 4
    # The page for that period: one week, and the download links keep the period.
    assert bars_of(page.text, "chart-weekly") == {week_label(since): 2}
    period = f"since={since.isoformat()}&amp;until={until.isoformat()}"
    assert f'href="/staff/transparency.csv?{period}"' in page.text


@pytest.mark.parametrize(("query", "words"), [
    ({"since": "2026-13-45"}, "since must be an ISO 8601 date or date-time"),
    ({"since": "2026-05-10", "until": "2026-05-03"}, "the period is empty"),
])
def test_a_bad_period_gets_the_form_back_with_the_reason(site: Site, query: dict[str, str],
                                                         words: str) -> None:
    with staff_client(site, Role.PLATFORM) as client:
        response = client.get("/staff/transparency", params=query)
        download = client.get("/staff/transparency.csv", params=query)
    assert response.status_code == 400 and words in response.text
    assert "<svg" not in response.text and 'name="since"' in response.text
    assert download.status_code == 400 and words in download.text


@pytest.mark.parametrize(("role", "status"), [(Role.ADMIN, 200), (Role.PLATFORM, 200), (Role.HELPLINE, 200),
                                              (Role.PARTNER, 403), (Role.PROVIDER, 403)])
def test_the_report_is_for_the_roles_the_service_allows(site: Site, role: Role, status: int) -> None:
    with staff_client(site, role) as client:
        for path in ("/staff/transparency", "/staff/transparency.csv", "/staff/transparency.json",
                     "/staff/transparency?since=not-a-date"):
            response = client.get(path)
            assert response.status_code == (400 if status == 200 and "not-a-date" in path else status), path
            if status == 403:
                assert "report.transparency" in response.text and "<svg" not in response.text
    assert httpx.get(f"{site.url}/staff/transparency.json").status_code == 303


def test_weeks_run_monday_to_monday_within_the_period() -> None:
    now = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)  # a Wednesday
    open_period = transparency_route.Period("", "", None, None)
    weeks = transparency_route.weeks_of(open_period, now)
    assert len(weeks) == transparency_route.MAX_WEEKS
    assert weeks[-1] == (datetime(2026, 5, 18, tzinfo=UTC), datetime(2026, 5, 18, tzinfo=UTC), None)
    assert weeks[0][0] == datetime(2026, 3, 2, tzinfo=UTC)
    assert all(until == monday + timedelta(days=7) for monday, _, until in weeks[:-1])
    # A period from a Thursday to a Monday: its first week starts on the Thursday.
    def day(month: int, number: int) -> datetime:
        return datetime(2026, month, number, tzinfo=UTC)

    period = transparency_route.Period("x", "y", day(4, 30), day(5, 11))
    assert transparency_route.weeks_of(period, now) == [(day(4, 27), day(4, 30), day(5, 4)),
                                                        (day(5, 4), day(5, 4), day(5, 11))]


def test_the_weekly_chart_is_drawn_from_the_reports_own_weekly_counts() -> None:
    now = datetime(2026, 5, 20, tzinfo=UTC)
    period = transparency_route.Period("", "", datetime(2026, 5, 4, tzinfo=UTC), None)
    report = {"cases": {"received": 5, "by_week": {"2026-05-04": 2, "2026-05-18": 3}}}
    weekly = transparency_route.requests_per_week(report, period, now)
    assert weekly == [(date(2026, 5, 4), 2), (date(2026, 5, 11), 0), (date(2026, 5, 18), 3)]


@pytest.mark.browser
def test_the_charts_in_chromium_with_the_keyboard_and_a_download(
        site: Site, page: Any, save_screenshots: Callable[[Any, str], list[Any]]) -> None:
    received = make_cases(site)
    sign_in_staff(page, site, Role.PLATFORM)
    page.goto(f"{site.url}/staff/transparency")
    for chart_id in ("chart-weekly", "chart-action", "chart-outcomes", "chart-clocks", "chart-appeals"):
        chart = page.locator(f"svg#{chart_id}")
        assert chart.is_visible() and chart.get_attribute("role") == "img"
        assert page.get_by_role("img", name=chart.locator("title").text_content() or "").count() == 1
    assert page.locator("svg#chart-outcomes rect.chart-bar").count() == 2
    assert page.locator('svg#chart-outcomes rect[data-label="Removed"]').get_attribute("data-value") == "2"
    assert_accessible(page)
    save_screenshots(page, "transparency")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_accessible(page, what="the transparency page at 360 px")
    page.set_viewport_size({"width": 1280, "height": 900})

    # A period, chosen with the keyboard alone.
    since = monday_of(received[1])
    page.get_by_label("From", exact=True).focus()
    page.keyboard.type(since.strftime("%m%d%Y"))  # the date field's own order here (en-US)
    assert page.get_by_label("From", exact=True).input_value() == since.isoformat()
    page.get_by_role("button", name="Show this period").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"since={since.isoformat()}" in page.url
    assert page.locator("#requests-received").inner_text() == "3"

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    path = download_info.value.path()
    with open(path, encoding="utf-8") as file:
        downloaded = file.read()
    bounds = datetime(since.year, since.month, since.day, tzinfo=UTC)
    expected, _ = reporting.report_as(
        reporting.transparency_report(site.ctx, site.principal(Role.PLATFORM), since=bounds), "csv")
    assert csv_rows_without_moving_parts(downloaded) == csv_rows_without_moving_parts(expected)
    assert script_problems(page) == []
