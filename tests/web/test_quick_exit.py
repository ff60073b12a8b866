"""The quick exit of every victim page, in Chromium: the "Leave this site now" button and Shift
pressed three times both leave for the neutral site with ``location.replace``, so Back does not
return to any portal page; links within the portal replace the page too, so Back from the neutral
site lands on the page she was on before the portal.

This machine has no internet: the neutral site and the page "before the portal" are answered by
Playwright's router with tiny pages of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deepshield.web.templating import QUICK_EXIT_URL
from web_portal import (
    choose_files,
    file_case,
    problems_of,
    watch_problems,
    write_photos,
    wrong,
)
from web_site import Site

pytestmark = pytest.mark.browser

#: A page she might have been on before the portal (not the portal, not the neutral site).
BEFORE = "https://news.example/"
#: Every victim page (the status page needs her to be signed in first).
VICTIM_PAGES = ("/", "/help", "/safety", "/under-18", "/request", "/case", "/case/status")


@pytest.fixture
def page(new_page: Any) -> Any:
    """A page whose browser context answers the neutral site and ``BEFORE`` itself."""
    made = new_page()
    context = made.context
    context.route(f"{QUICK_EXIT_URL.split('/weather')[0]}/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>Weather</title><h1>Weather</h1>"))
    context.route(f"{BEFORE}**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>News</title><h1>News</h1>"))
    watch_problems(made)
    return made


def _open_portal_after(page: Any, url: str) -> None:
    page.goto(BEFORE)
    page.goto(url)
    page.locator("#quick-exit").wait_for()


def _left_and_back_is_not_the_portal(page: Any, site: Site) -> None:
    page.wait_for_url(f"{QUICK_EXIT_URL}*")
    assert page.title() == "Weather"
    page.go_back()
    page.wait_for_load_state()
    assert not page.url.startswith(site.url), f"Back returned to the portal: {page.url}"
    assert page.url == BEFORE


@pytest.mark.parametrize("path", VICTIM_PAGES)
def test_shift_three_times_leaves_every_page_and_back_does_not_return(site: Site, page: Any,
                                                                     path: str) -> None:
    if path == "/case/status":
        number, pin = file_case(site)
        _open_portal_after(page, f"{site.url}/case")
        page.get_by_label("Case number").fill(number)
        page.get_by_label("PIN").fill(pin)
        page.get_by_role("button", name="Check my case").click()
        page.wait_for_url(f"{site.url}/case/status")
    else:
        _open_portal_after(page, f"{site.url}{path}")
    assert page.url == f"{site.url}{path}"
    for _ in range(3):
        page.keyboard.press("Shift")
    _left_and_back_is_not_the_portal(page, site)
    assert problems_of(page) == []


def test_the_button_leaves_and_back_does_not_return(site: Site, page: Any) -> None:
    _open_portal_after(page, f"{site.url}/request")
    button = page.get_by_role("link", name="Leave this site now")
    assert button.is_visible()
    # It is the first thing a keyboard reaches after the skip link.
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "quick-exit"
    button.click()
    _left_and_back_is_not_the_portal(page, site)
    assert problems_of(page) == []


def test_links_within_the_portal_replace_the_page_so_back_skips_the_whole_visit(site: Site,
                                                                                page: Any) -> None:
    page.goto(BEFORE)
    entries_before = page.evaluate("() => history.length")
    page.goto(f"{site.url}/")
    page.get_by_role("main").get_by_role("link", name="Check my case").click()
    page.wait_for_url(f"{site.url}/case")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Get help").click()
    page.wait_for_url(f"{site.url}/help")
    # The whole visit is one history entry after the page before it.
    assert page.evaluate("() => history.length") == entries_before + 1
    page.go_back()
    page.wait_for_load_state()
    assert page.url == BEFORE
    assert problems_of(page) == []


def test_her_case_forms_leave_no_step_in_history_for_back_to_return_to(site: Site, page: Any) -> None:
    """A browser's own form post adds a history entry even when it redirects; the case pages'
    forms replace the page instead (a failed sign-in, signing in, withdrawing, cancelling)."""
    number, pin = file_case(site)
    page.goto(BEFORE)
    entries_before = page.evaluate("() => history.length")
    page.goto(f"{site.url}/case")
    for typed, shown in ((wrong(pin), "#sign-in-error"), (pin, "#case-number")):
        page.get_by_label("Case number").fill(number)
        page.get_by_label("PIN").fill(typed)
        page.get_by_role("button", name="Check my case").click()
        page.locator(shown).wait_for()
    page.get_by_label("I want to withdraw my request").check()
    page.get_by_role("button", name="Withdraw my request").click()
    page.wait_for_url(f"{site.url}/case/status?done=withdraw")
    page.get_by_role("button", name="Cancel my withdrawal").click()
    page.wait_for_url(f"{site.url}/case/status?done=cancel")
    assert page.evaluate("() => history.length") == entries_before + 1
    for _ in range(3):
        page.keyboard.press("Shift")
    _left_and_back_is_not_the_portal(page, site)
    assert problems_of(page, answered_with_an_error=("/case/sign-in",)) == []


def test_shift_with_other_keys_between_does_not_leave(site: Site, page: Any) -> None:
    """Typing capitals in the form (Shift, a letter, Shift...) must not throw her out."""
    _open_portal_after(page, f"{site.url}/request")
    page.get_by_label("Your name, as a signature").focus()
    for key in ("Shift", "S", "Shift", "Shift", "E"):
        page.keyboard.press(key)
    page.wait_for_timeout(300)
    assert page.url == f"{site.url}/request"
    assert page.get_by_label("Your name, as a signature").input_value() == "SE"


def test_she_can_leave_while_her_files_are_shown(site: Site, page: Any, tmp_path: Path) -> None:
    _open_portal_after(page, f"{site.url}/request")
    choose_files(page, write_photos(tmp_path, 1))
    for _ in range(3):
        page.keyboard.press("Shift")
    _left_and_back_is_not_the_portal(page, site)
    assert problems_of(page) == []


def test_without_javascript_the_button_is_still_a_link_to_the_neutral_site(site: Site,
                                                                            new_page: Any) -> None:
    page = new_page(java_script_enabled=False)
    page.context.route(f"{QUICK_EXIT_URL}*", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>Weather</title>"))
    page.goto(f"{site.url}/case")
    assert page.get_by_role("link", name="Leave this site now").get_attribute("href") == QUICK_EXIT_URL
    page.get_by_role("link", name="Leave this site now").click()
    page.wait_for_url(f"{QUICK_EXIT_URL}*")
    assert page.title() == "Weather"


def test_after_a_check_on_is_this_labelled_back_does_not_return_to_the_portal(site: Site, page: Any,
                                                                            tmp_path: Path) -> None:
    """The file is sent with the form replacing the page in place, so the result adds no step to
    the history that Back could return to."""
    photo = write_photos(tmp_path, 1, seed=95)[0]
    _open_portal_after(page, f"{site.url}/verify")
    page.set_input_files("input#file", str(photo))
    page.get_by_role("button", name="Check this file").click()
    page.get_by_text("No label found. That does not mean it is real.").first.wait_for()
    page.locator("#quick-exit").click()
    _left_and_back_is_not_the_portal(page, site)
    assert problems_of(page) == []
