"""The staff journeys not covered elsewhere, done with the keyboard alone: a helpline signs in,
files a request on someone's behalf with a photo fingerprinted in the browser, follows the case and
signs out; an administrator makes a key and revokes it; anyone checks a file on "Is this
labelled?". (The victim's request and "check my case", the reviewer's decision and the
transparency charts have keyboard tests of their own.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deepshield.services.access import Role
from deepshield.services.api_keys import list_keys
from deepshield.services.takedown import review
from principals import SETUP
from web_portal import write_photos
from web_site import Site, script_problems, tab_to

pytestmark = pytest.mark.browser


def _sign_in_by_keyboard(page: Any, site: Site, role: Role, home: str) -> None:
    page.goto(f"{site.url}/staff/sign-in")
    tab_to(page, "#api_key")
    page.keyboard.type(site.tokens[role])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}{home}")


def test_a_helpline_files_and_follows_a_case_with_the_keyboard_alone(site: Site, page: Any,
                                                                      tmp_path: Path) -> None:
    photos = write_photos(tmp_path, 1, seed=90)
    _sign_in_by_keyboard(page, site, Role.HELPLINE, "/staff/helpline")
    tab_to(page, "a[href='/staff/helpline/file']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/staff/helpline/file")
    tab_to(page, "#files")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files([str(path) for path in photos])
    page.wait_for_selector('#file-list li[data-state="done"]')
    for selector, text in (("#location_urls", "https://forum.example/t/90"),
                           ("#signature_name", "Robin Example"),
                           ("#contact_email", "robin.private@example.org"),
                           ("#depicted_person_country", "GB"), ("#platform_countries", "US")):
        tab_to(page, selector)
        page.keyboard.type(text)
    tab_to(page, "#requester_role")
    page.keyboard.press("ArrowDown")  # the first choice after the prompt; the test reads it back
    for selector in ("#statement_ticked", "#good_faith", "#under18-no"):
        tab_to(page, selector)
        page.keyboard.press("Space")
    tab_to(page, "#file-submit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    number = page.locator("#filed-case-number").inner_text()
    case = review.get_case(site.ctx, number, site.principal(Role.HELPLINE))
    assert case.state == "valid" and case.hash_count == 3

    tab_to(page, f"a[href='/staff/helpline/cases/{number}']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/staff/helpline/cases/{number}")
    assert page.locator("#victim-summary").inner_text().startswith("Your request is complete")
    tab_to(page, "form.sign-out button")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/staff/sign-in?signed_out=1")
    assert script_problems(page) == []


def test_an_administrator_makes_and_revokes_a_key_with_the_keyboard_alone(site: Site, page: Any) -> None:
    _sign_in_by_keyboard(page, site, Role.ADMIN, "/staff/admin")
    page.goto(f"{site.url}/staff/admin/keys")
    before = {key.key_id for key in list_keys(site.ctx, SETUP)}
    tab_to(page, "form[action='/staff/admin/keys'] input[type=radio]")  # the first role offered
    page.keyboard.press("Space")
    tab_to(page, "form[action='/staff/admin/keys'] input[name='label']")
    page.keyboard.type("made by keyboard")
    tab_to(page, "form[action='/staff/admin/keys'] button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    made = [key for key in list_keys(site.ctx, SETUP) if key.key_id not in before]
    assert len(made) == 1 and made[0].label == "made by keyboard"
    tab_to(page, f"form[action='/staff/admin/keys/{made[0].key_id}/revoke'] button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    revoked = {key.key_id: key for key in list_keys(site.ctx, SETUP)}[made[0].key_id]
    assert revoked.revoked_at is not None
    assert script_problems(page) == []


def test_anyone_checks_a_file_on_the_verify_page_with_the_keyboard_alone(site: Site, page: Any,
                                                                         tmp_path: Path) -> None:
    photos = write_photos(tmp_path, 1, seed=91)
    page.goto(f"{site.url}/verify")
    tab_to(page, "input[type=file]")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(photos[0]))
    tab_to(page, "form button[type=submit], form input[type=submit]")
    page.keyboard.press("Enter")
    page.locator('[data-verdict="unknown"]').wait_for()
    assert "No label found. That does not mean it is real." in page.inner_text("main")
    assert script_problems(page) == []
