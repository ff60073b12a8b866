"""The platform reviewer's pages: the queue in deadline order with escalations marked, the review
actions and their messages, the service's refusals in its own sentences (a decline because "it is
fake", an appeal decided by the reviewer who made the decision), forms refused without their
token, and a decision made with the keyboard alone. Real server, real database; Chromium where a
browser is needed. The reviewer's whole journey (removal, sweep, blocked re-upload) is in
test_staff_journeys.py."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from case_forms import request_form
from deepshield.cases.states import NOT_A_GROUND_TO_DECLINE
from deepshield.services.access import Role
from deepshield.services.takedown import intake, review
from deepshield.services.takedown.records import FiledCase
from deepshield.store.models import utcnow
from web_site import (
    Site,
    accessible_at_both_widths,
    assert_accessible,
    form_token_in,
    main_text,
    script_problems,
    sign_in_staff,
    staff_client,
    tab_to,
)

US_ONLY = {"depicted_person_country": "US", "platform_countries": ["US"]}


def queue_rows(html: str) -> list[str]:
    """The queue table's rows as text, in page order."""
    body = html[html.index('<table class="queue">'):]
    body = body[body.index("<tbody>"):body.index("</tbody>")]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def file_case(site: Site, seed: int, *, hours_ago: float = 0, **changes: Any) -> FiledCase:
    """A complete request filed by the helpline ``hours_ago`` (its clocks started then)."""
    form = request_form(site.ctx, seed=seed, **changes)
    return intake.file_request(site.ctx, form, site.principal(Role.HELPLINE),
                               now=utcnow() - timedelta(hours=hours_ago))


def test_the_queue_lists_waiting_cases_nearest_deadline_first_with_escalations_marked(site: Site) -> None:
    fresh = file_case(site, 1, jurisdiction=US_ONLY).case.case_number
    late = file_case(site, 2, hours_ago=44, jurisdiction=US_ONLY).case.case_number  # due in 4 h
    overdue = file_case(site, 3, hours_ago=50, jurisdiction=US_ONLY).case.case_number  # due 2 h ago
    decided = file_case(site, 4).case.case_number
    review.decide(site.ctx, decided, "removed", "Shared without consent.", site.principal(Role.PLATFORM))
    incomplete = intake.file_request(site.ctx, request_form(site.ctx, seed=5, good_faith=False),
                                     site.principal(Role.HELPLINE)).case.case_number
    report = review.tick(site.ctx)  # the server's round: escalates near deadlines, marks breaches
    assert report.escalated >= 1 and report.breached >= 1

    with staff_client(site, Role.PLATFORM) as client:
        response = client.get("/staff/reviewer")
    assert response.status_code == 200
    rows = queue_rows(response.text)
    assert [row.split()[0] for row in rows] == [overdue, late, fresh]
    assert "Overdue" in rows[0] and "overdue by 2 h 0 min" in rows[0]
    assert "Escalated" in rows[1] and "in 3 h 59 min" in rows[1]
    assert "New" in rows[2] and "in 1 d 23 h" in rows[2]
    assert 'class="row-breached"' in response.text and 'class="row-escalated"' in response.text
    # Decided cases wait below to be closed; an incomplete request is not in the queue at all.
    assert decided in main_text(response.text).split("Decided, not yet closed", 1)[1]
    assert incomplete not in response.text


def test_review_actions_answer_with_a_plain_message_and_change_the_case(site: Site) -> None:
    number = file_case(site, 6).case.case_number
    with staff_client(site, Role.PLATFORM) as client:
        page = client.get(f"/staff/reviewer/cases/{number}").text
        token = form_token_in(page)
        steps = [("acknowledge", {}, "acknowledged", "The request was acknowledged."),
                 ("pause", {"reason": "Waiting for the requester's answer"}, "paused",
                  "The clocks of this case are paused."),
                 ("resume", {}, "resumed", "The clocks of this case run again"),
                 ("decide", {"decision": "declined", "reasons": "The content is not intimate."}, "declined",
                  "The request was declined."),
                 ("close", {"reason": "Nothing more to do"}, "closed", "The case is closed.")]
        for action, fields, done, message in steps:
            response = client.post(f"/staff/reviewer/cases/{number}/{action}",
                                   data={"form_token": token, **fields})
            assert response.status_code == 303, (action, main_text(response.text))
            assert response.headers["location"] == f"/staff/reviewer/cases/{number}?done={done}"
            shown = client.get(response.headers["location"])
            assert message in main_text(shown.text), action
    case = review.get_case(site.ctx, number, site.principal(Role.PLATFORM))
    assert case.state == "closed" and case.decision == "declined" and case.acknowledged_at is not None
    assert [pause.reason for pause in case.pauses] == ["Waiting for the requester's answer"]
    actions = [item.action for item in case.history]
    for expected in ("case.acknowledge", "case.pause", "case.resume", "case.decide", "case.close"):
        assert expected in actions


def test_a_decline_because_the_image_is_fake_is_refused_in_the_services_words(site: Site) -> None:
    number = file_case(site, 7).case.case_number
    reasons = "We decline: this picture is AI-generated, so it is not real."
    with staff_client(site, Role.PLATFORM) as client:
        token = form_token_in(client.get(f"/staff/reviewer/cases/{number}").text)
        response = client.post(f"/staff/reviewer/cases/{number}/decide",
                               data={"form_token": token, "decision": "declined", "reasons": reasons})
    assert response.status_code == 400
    assert NOT_A_GROUND_TO_DECLINE in main_text(response.text)
    assert reasons in main_text(response.text)  # what was typed is kept for another try
    assert review.get_case(site.ctx, number, site.principal(Role.PLATFORM)).state == "valid"


def test_review_actions_need_the_form_token_and_a_reviewers_role(site: Site) -> None:
    number = file_case(site, 8).case.case_number
    with staff_client(site, Role.PLATFORM) as client:
        response = client.post(f"/staff/reviewer/cases/{number}/acknowledge", data={"form_token": ""})
        assert response.status_code == 403 and "did not come from this site" in response.text
    with staff_client(site, Role.HELPLINE) as client:  # the case is this helpline's own
        token = form_token_in(client.get("/staff/helpline").text)
        fields = {"form_token": token, "decision": "removed", "reasons": "Shared without consent."}
        response = client.post(f"/staff/reviewer/cases/{number}/decide", data=fields)
        assert response.status_code == 403
        assert "the helpline role may not perform case.review" in main_text(response.text)
    case = review.get_case(site.ctx, number, site.principal(Role.PLATFORM))
    assert case.state == "valid" and case.acknowledged_at is None


@pytest.mark.browser
def test_an_appeal_is_refused_to_the_first_reviewer_and_decided_by_a_second(
        site: Site, new_page: Any, save_screenshots: Any) -> None:
    number = file_case(site, 9).case.case_number
    review.decide(site.ctx, number, "declined", "The content is not intimate.", site.principal(Role.PLATFORM))
    review.file_appeal(site.ctx, number, "It is me in the picture and it is intimate.",
                       site.principal(Role.HELPLINE))
    second_token, second_key = site.add_key(Role.PLATFORM, "second reviewer")

    first = new_page()
    sign_in_staff(first, site, Role.PLATFORM)
    first.goto(f"{site.url}/staff/reviewer/appeals")
    assert first.get_by_text("It is me in the picture and it is intimate.").is_visible()
    accessible_at_both_widths(first)
    save_screenshots(first, "reviewer-appeals")
    first.get_by_label("Upheld: the decision stands").check()
    first.get_by_label("Reasons for the outcome of appeal 1").fill("The first decision was right.")
    with first.expect_response(f"{site.url}/staff/reviewer/appeals/{number}/1") as answer:
        first.get_by_role("button", name="Decide appeal 1").click()
    assert answer.value.status == 403
    assert first.get_by_role("alert").get_by_text("an appeal goes to a different reviewer").is_visible()
    kept = first.get_by_label("Reasons for the outcome of appeal 1").input_value()
    assert kept == "The first decision was right."
    assert_accessible(first)
    save_screenshots(first, "reviewer-appeals-refused")
    assert review.get_case(site.ctx, number, site.principal(Role.PLATFORM)).state == "appealed"

    second = new_page()
    sign_in_staff(second, site, Role.PLATFORM, token=second_token)
    second.goto(f"{site.url}/staff/reviewer/appeals")
    second.get_by_label("Overturned: the decision is reversed").check()
    second.get_by_label("Reasons for the outcome of appeal 1").fill("The content is intimate; remove it.")
    with second.expect_navigation():
        second.get_by_role("button", name="Decide appeal 1").click()
    assert second.get_by_role("status").get_by_text(f"The appeal was decided. (case {number})").is_visible()
    assert second.get_by_text("No appeal is waiting.").is_visible()
    case = review.get_case(site.ctx, number, site.principal(Role.PLATFORM))
    assert case.state == "actioned" and case.decision == "removed"
    assert case.appeals[0].outcome == "overturned" and case.appeals[0].reviewer == f"key:{second_key}"
    assert script_problems(first) == [] and script_problems(second) == []


@pytest.mark.browser
def test_a_reviewer_decides_with_the_keyboard_alone(site: Site, page: Any) -> None:
    number = file_case(site, 10).case.case_number
    sign_in_staff(page, site, Role.PLATFORM)  # the sign-in itself is the shared fixture's (mouse-free too)
    page.goto(f"{site.url}/staff/reviewer")
    tab_to(page, f'a[href="/staff/reviewer/cases/{number}"]')
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/staff/reviewer/cases/{number}")
    tab_to(page, "#decision-removed")
    page.keyboard.press("Space")
    tab_to(page, "#reasons")
    page.keyboard.type("An intimate image shared without consent.")
    tab_to(page, "#decide button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.get_by_role("status").get_by_text("The content was removed").is_visible()
    case = review.get_case(site.ctx, number, site.principal(Role.PLATFORM))
    assert case.decision == "removed" and case.decision_reasons == "An intimate image shared without consent."
    assert script_problems(page) == []


@pytest.mark.browser
def test_the_queue_and_case_pages_are_accessible_count_down_and_keep_their_screenshots(
        site: Site, page: Any, save_screenshots: Any) -> None:
    late = file_case(site, 11, hours_ago=44, jurisdiction=US_ONLY).case.case_number
    file_case(site, 12)
    review.tick(site.ctx)
    sign_in_staff(page, site, Role.PLATFORM)
    page.clock.install()
    page.goto(f"{site.url}/staff/reviewer")
    countdown = page.locator(f'tr:has(a[href="/staff/reviewer/cases/{late}"]) .countdown')
    assert countdown.inner_text() == "in 3 h 59 min"
    # Four hours later, with the page left open, the script has counted the deadline down past zero.
    page.clock.fast_forward("04:01:00")
    assert countdown.inner_text() == "overdue by 1 min"
    assert "overdue" in (countdown.get_attribute("class") or "")
    accessible_at_both_widths(page)
    save_screenshots(page, "reviewer-queue")

    page.goto(f"{site.url}/staff/reviewer/cases/{late}")
    assert page.get_by_role("button", name="Record the decision").is_visible()
    assert page.locator("table.clocks").get_by_text("Escalated").is_visible()
    accessible_at_both_widths(page)
    save_screenshots(page, "reviewer-case")
    assert script_problems(page) == []
