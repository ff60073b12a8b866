"""The victim's whole journey in a real Chromium against a real server: her files fingerprinted in
the page (equal to the server's hash of the same files), the request filed, her case number and
PIN, her status, the platform's removal making the hashes match, her withdrawal in the page, and,
once the cool-off has passed, the hashes no longer matching. Then the same request and "check my
case" done with the keyboard alone.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepshield.cases import intake
from deepshield.services.access import Role
from deepshield.services.takedown import review
from deepshield.store.models import utcnow
from deepshield.web.routes.portal import STATE_SUMMARIES
from web_portal import (
    EMAIL,
    HTTP_TIMEOUT_S,
    LOCATION,
    MATCH_SETTLE_S,
    SIGNATURE,
    choose_files,
    problems_of,
    read_result,
    server_pdq,
    shown_fingerprints,
    wait_for_fingerprints,
    watch_problems,
    write_photos,
)
from web_site import Site, tab_to

pytestmark = pytest.mark.browser

#: The most Tab presses a test makes to reach one control (the page has about 40 stops).
MAX_TABS = 80


@pytest.fixture
def page(new_page: Any) -> Any:
    made = new_page()
    watch_problems(made)
    return made


def _matches(site: Site, pdq_hex: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{site.url}/v1/match", json={"signals": [{"type": "pdq", "value": pdq_hex}]},
                          headers=site.headers(Role.PLATFORM), timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 200, response.text
    return list(response.json()["matches"])


def _wait_for_matching(site: Site, pdq_hex: str, *, matching: bool) -> list[dict[str, Any]]:
    """The matches of ``pdq_hex`` once they are (or are no longer) found: every process's matcher
    catches up with the banks within its sync interval."""
    deadline = time.monotonic() + MATCH_SETTLE_S
    while True:
        found = _matches(site, pdq_hex)
        if bool(found) == matching or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_her_journey_from_files_to_a_withdrawal_that_stops_the_matching(site: Site, page: Any,
                                                                       tmp_path: Path) -> None:
    photos = write_photos(tmp_path, 2)
    page.goto(f"{site.url}/")
    page.get_by_role("main").get_by_role("link", name="Stop my images spreading").click()
    page.wait_for_url(f"{site.url}/request")
    choose_files(page, photos)
    shown = shown_fingerprints(page)
    expected = {path.name: server_pdq(path) for path in photos}
    for name, pdq in expected.items():
        assert shown[name]["PDQ"] == pdq.hex and shown[name]["Quality"] == str(pdq.quality), name

    page.get_by_label("Web addresses, one per line").fill(LOCATION)
    page.get_by_label("I am the person in the pictures or videos").check()
    page.get_by_label("Email address to reach you").fill(EMAIL)
    page.get_by_label("Country where the person in the pictures lives").select_option("GB")
    page.get_by_label("United States").check()
    page.get_by_label("No, they were 18 or older").check()
    page.get_by_label(intake.GOOD_FAITH_STATEMENT).check()
    page.get_by_label(intake.SIGNATURE_STATEMENT).check()
    page.get_by_label("Your name, as a signature").fill(SIGNATURE)
    page.get_by_role("button", name="Send my request").click()
    number, pin = read_result(page)
    assert page.locator("#result-summary").inner_text() == STATE_SUMMARIES["valid"]
    admin = site.principal(Role.ADMIN)
    assert review.get_case(site.ctx, number, admin).hash_count == 6  # PDQ, SHA-256, MD5 of each

    page.get_by_role("link", name="check your case").click()
    page.wait_for_url(f"{site.url}/case")
    page.get_by_label("Case number").fill(number)
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Check my case").click()
    page.wait_for_url(f"{site.url}/case/status")
    assert page.locator("#status-summary").inner_text().startswith(STATE_SUMMARIES["valid"])

    # The platform acknowledges and removes: her hashes are blocked, and a match finds them.
    platform = site.principal(Role.PLATFORM)
    review.acknowledge(site.ctx, number, platform)
    review.decide(site.ctx, number, "removed", "Intimate image shared without consent; removed.", platform)
    first = expected[photos[0].name].hex
    assert _wait_for_matching(site, first, matching=True) != []
    page.reload()
    assert page.locator("#decision").inner_text() == "The content was removed."
    assert page.locator("#decision-reasons").inner_text() == "Intimate image shared without consent; removed."

    page.get_by_label("I want to withdraw my request").check()
    page.get_by_role("button", name="Withdraw my request").click()
    page.wait_for_url(f"{site.url}/case/status?done=withdraw")
    assert page.locator("#withdrawal-pending").is_visible()
    # During the cool-off nothing changes: the hashes still match.
    assert _matches(site, first) != []

    # The scheduler's round, run at a time past the cool-off, applies her withdrawal.
    later = utcnow() + timedelta(hours=site.ctx.settings.cases.withdrawal_cool_off_hours, minutes=1)
    assert review.tick(site.ctx, now=later).withdrawals_applied == 1
    for pdq in expected.values():
        assert _wait_for_matching(site, pdq.hex, matching=False) == [], "a withdrawn hash still matches"
    page.reload()
    assert page.locator("#status-summary").inner_text().startswith("This case was withdrawn")
    assert page.locator("#withdraw").count() == 0
    assert problems_of(page) == []


def test_the_request_and_check_my_case_by_keyboard_alone(site: Site, page: Any, tmp_path: Path) -> None:
    photos = write_photos(tmp_path, 1, seed=70)
    page.goto(f"{site.url}/request")
    page.locator("#hasher-status", has_text="makes fingerprints correctly").wait_for()
    # The file picker opens from the keyboard; the browser's own dialog is where files are chosen.
    tab_to(page, "#files", most=MAX_TABS)
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files([str(path) for path in photos])
    wait_for_fingerprints(page, 1)
    tab_to(page, "#locations", most=MAX_TABS)
    page.keyboard.type(LOCATION)
    tab_to(page, "#role-victim", most=MAX_TABS)
    page.keyboard.press("Space")
    tab_to(page, "#email", most=MAX_TABS)
    page.keyboard.type(EMAIL)
    tab_to(page, "#platform-us", most=MAX_TABS)
    page.keyboard.press("Space")
    tab_to(page, "#under18-no", most=MAX_TABS)
    page.keyboard.press("Space")
    tab_to(page, "#good-faith", most=MAX_TABS)
    page.keyboard.press("Space")
    tab_to(page, "#statement", most=MAX_TABS)
    page.keyboard.press("Space")
    tab_to(page, "#signature-name", most=MAX_TABS)
    page.keyboard.type(SIGNATURE)
    tab_to(page, "#submit-request", most=MAX_TABS)
    page.keyboard.press("Enter")
    number, pin = read_result(page)
    # The result takes the focus, so a screen reader reads it at once.
    assert page.evaluate("() => document.activeElement.id") == "result"
    assert review.get_case(site.ctx, number, site.principal(Role.ADMIN)).state == "valid"

    tab_to(page, "#result-next a", most=MAX_TABS)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/case")
    tab_to(page, "#case_number", most=MAX_TABS)
    page.keyboard.type(number)
    page.keyboard.press("Tab")
    page.keyboard.type(pin)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/case/status")
    assert page.locator("#case-number").inner_text() == number

    tab_to(page, "#confirm-withdraw", most=MAX_TABS)
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/case/status?done=withdraw")
    tab_to(page, "#cancel button", most=MAX_TABS)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/case/status?done=cancel")
    tab_to(page, "form[action='/case/sign-out'] button", most=MAX_TABS)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/case?signed_out=1")
    assert problems_of(page) == []
