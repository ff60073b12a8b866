"""The victim portal's pages: served with the privacy headers, plain words that are the services'
own, "check my case" over HTTP (sign-in, one answer for every failure, lockout, withdrawal, appeal,
sign-out, a session that reaches her case only), and in Chromium: the request page's in-browser
fingerprints and the API's answers beside each section, the self-test that stops a broken browser,
the under-18 route, "check my case" with JavaScript off, and axe-core and screenshots on every page.

The helpers it shares with the portal's other tests (files, the request form, signing in, a page's
problems) are in tests/web_portal.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepshield.api.app import create_app
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.cases import intake
from deepshield.services import web_sessions
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import review, victim_access
from deepshield.services.takedown.records import NOT_RECOGNISED
from deepshield.settings import Settings
from deepshield.store.models import utcnow
from deepshield.web.routes.case_status import DONE_MESSAGES
from deepshield.web.routes.portal import STATE_SUMMARIES, TAKE_IT_DOWN_URL
from live_server import serving
from web_portal import (
    EMAIL,
    HTTP_TIMEOUT_S,
    LOCATION,
    SIGNATURE,
    choose_files,
    file_case,
    fill_request,
    problems_of,
    read_result,
    server_pdq,
    shown_fingerprints,
    sign_in_case,
    submit_request,
    watch_problems,
    write_photos,
    wrong,
)
from web_site import Site, assert_accessible, form_token_in

#: Every victim page that needs no session, and what its first heading says.
PUBLIC_PAGES = {
    "/": "Stop intimate images of you spreading online",
    "/help": "Get help",
    "/safety": "Cover your tracks",
    "/under-18": "If the person in the images is under 18",
    "/request": "Stop my images spreading",
    "/case": "Check my case",
}


def press_and_wait(page: Any, button: str, url: str) -> None:
    """Press the form button named ``button`` and wait until the page at ``url`` is shown."""
    page.get_by_role("button", name=button).click()
    page.wait_for_url(url)
    page.wait_for_load_state()


def sign_in_client(client: httpx.Client, case_number: str, pin: str) -> httpx.Response:
    token = form_token_in(client.get("/case").text)
    return client.post("/case/sign-in", data={"case_number": case_number, "pin": pin, "form_token": token})


def error_text(html: str) -> str:
    """The sign-in page's error sentence (the service's), or ''."""
    found = re.search(r'id="sign-in-error">\s*<h2>[^<]*</h2>\s*<p>([^<]*)</p>', html)
    return found.group(1) if found else ""


# --- over HTTP --------------------------------------------------------------------------------


def test_every_victim_page_is_served_with_its_heading_and_the_privacy_headers(site: Site) -> None:
    for path, heading in PUBLIC_PAGES.items():
        response = httpx.get(f"{site.url}{path}", timeout=HTTP_TIMEOUT_S)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert f"<h1>{heading}</h1>" in response.text.replace("&#39;", "'"), path
        assert 'id="quick-exit"' in response.text, path
    # Her status needs her case number and PIN first.
    status = httpx.get(f"{site.url}/case/status", timeout=HTTP_TIMEOUT_S)
    assert status.status_code == 303 and status.headers["location"] == "/case"


class _Assets(HTMLParser):
    """Every resource a page loads (scripts, styles, images, media) and every link it has."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.links: list[str] = []
        self.inline_scripts = 0
        self.style_attributes = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if "style" in values:
            self.style_attributes += 1
        if tag == "script" and not values.get("src"):
            self.inline_scripts += 1
        for name in ("src", "poster", "srcset", "data"):
            if values.get(name):
                self.loaded.append(str(values[name]))
        if tag == "link" and values.get("href"):
            self.loaded.append(str(values["href"]))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))


def _assets(html: str) -> _Assets:
    parser = _Assets()
    parser.feed(html)
    return parser


def test_victim_pages_load_nothing_from_elsewhere_and_hold_no_inline_script_or_style(site: Site) -> None:
    for path in PUBLIC_PAGES:
        assets = _assets(httpx.get(f"{site.url}{path}", timeout=HTTP_TIMEOUT_S).text)
        assert assets.loaded, path
        assert all(url.startswith("/static/") for url in assets.loaded), (path, assets.loaded)
        assert assets.inline_scripts == 0 and assets.style_attributes == 0, path


def test_help_links_to_the_well_known_services_and_under_18s_to_take_it_down(site: Site) -> None:
    links = _assets(httpx.get(f"{site.url}/help", timeout=HTTP_TIMEOUT_S).text).links
    for service in ("https://stopncii.org/", "https://revengepornhelpline.org.uk/", "https://cybercivilrights.org/",
                    TAKE_IT_DOWN_URL):
        assert service in links
    assert TAKE_IT_DOWN_URL == "https://takeitdown.ncmec.org/"
    assert TAKE_IT_DOWN_URL in _assets(httpx.get(f"{site.url}/under-18", timeout=HTTP_TIMEOUT_S).text).links
    start = httpx.get(f"{site.url}/", timeout=HTTP_TIMEOUT_S)
    for route in ("/request", "/case", "/under-18", "/help", "/safety"):
        assert route in _assets(start.text).links
    assert "your images never leave your device" in start.text


def test_the_request_page_asks_in_the_intakes_own_words(site: Site) -> None:
    html = httpx.get(f"{site.url}/request", timeout=HTTP_TIMEOUT_S).text
    for sentence in (intake.SIGNATURE_STATEMENT, intake.GOOD_FAITH_STATEMENT, intake.SAFETY_ADVICE):
        assert sentence in html
    assert "<noscript>" in html and "deepshield hash FILE" in html
    assert "deepshield hash VIDEO" in html
    # What it says of a request just filed is what her status page says.
    for state in ("incomplete", "referred"):
        assert STATE_SUMMARIES[state] == victim_access.STATE_SUMMARIES[state]
        assert STATE_SUMMARIES[state].replace("'", "&#39;") in html
    number, pin = file_case(site)
    principal = victim_access.victim_principal(site.ctx, number, pin)
    assert victim_access.victim_status(site.ctx, principal).summary.startswith(STATE_SUMMARIES["valid"])


def test_she_signs_in_with_her_case_number_and_pin_and_reads_her_status(site: Site) -> None:
    number, pin = file_case(site)
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        response = sign_in_client(client, number.lower().replace("-", " "), pin)  # as she might type it
        assert response.status_code == 303 and response.headers["location"] == "/case/status"
        cookie = next(value for name, value in response.headers.multi_items()
                      if name == "set-cookie" and value.startswith("ds_case="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "expires=" in cookie.lower()
        status = client.get("/case/status")
        assert status.status_code == 200
        assert status.headers["cache-control"] == "no-store"
        assert number in status.text
        assert STATE_SUMMARIES["valid"] in status.text
        assert "Deadlines" in status.text and "US law (the TAKE IT DOWN Act)" in status.text
        assert LOCATION in status.text
        # Nothing of the reviewers' or her own contact details.
        assert EMAIL not in status.text and SIGNATURE not in status.text
        # Once signed in, "check my case" goes straight to her status.
        again = client.get("/case")
        assert again.status_code == 303 and again.headers["location"] == "/case/status"


def test_the_portals_script_is_told_where_to_go_instead_of_being_redirected(site: Site) -> None:
    """So that it can open the next page with location.replace (no step in history)."""
    number, pin = file_case(site)
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        token = form_token_in(client.get("/case").text)
        replace = {"X-Portal-Navigation": "replace"}
        signed_in = client.post("/case/sign-in", headers=replace,
                                data={"case_number": number, "pin": pin, "form_token": token})
        assert signed_in.status_code == 204 and signed_in.headers["x-portal-location"] == "/case/status"
        assert "ds_case" in client.cookies
        refused = client.post("/case/sign-in", headers=replace,
                              data={"case_number": number, "pin": wrong(pin), "form_token": token})
        assert refused.status_code == 401 and "x-portal-location" not in refused.headers


def test_every_failed_sign_in_gets_the_same_page_and_sentence(site: Site) -> None:
    number, pin = file_case(site)
    other_number, other_pin = file_case(site)
    attempts = {
        "unknown case": ("DS-2222-3333-4444", pin),
        "wrong pin": (number, wrong(pin)),
        "not a case number": ("hello", pin),
        "another case's pin": (number, other_pin),
        "huge": ("DS-" + "A" * 5000, pin),
    }
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        answers = {}
        for name, (case_number, typed_pin) in attempts.items():
            response = sign_in_client(client, case_number, typed_pin)
            answers[name] = (response.status_code, error_text(response.text))
            assert "ds_case" not in client.cookies, name
    assert set(answers.values()) == {(401, NOT_RECOGNISED.replace("'", "&#39;"))}, answers
    # Two failures on her case are under the lockout: her own PIN still works, and the other case too.
    for case_number, own_pin in ((number, pin), (other_number, other_pin)):
        with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
            assert sign_in_client(client, case_number, own_pin).status_code == 303


def test_a_sign_in_without_the_form_token_is_refused(site: Site) -> None:
    number, pin = file_case(site)
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        client.get("/case")
        response = client.post("/case/sign-in", data={"case_number": number, "pin": pin})
        assert response.status_code == 403
        assert "did not come from this site" in response.text
        assert "ds_case" not in client.cookies


def test_sign_in_attempts_are_rate_limited_per_address(start_site: Callable[[Settings], Site],
                                                      cheap_kdf_settings: Settings) -> None:
    site = start_site(cheap_kdf_settings)
    number, pin = file_case(site)
    app = create_app(cheap_kdf_settings, context=site.ctx)
    app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=1, burst=2)
    with serving(app, "a rate-limited site") as url, \
            httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as client:
        token = form_token_in(client.get("/case").text)
        codes = [client.post("/case/sign-in", data={"case_number": number, "pin": wrong(pin),
                                                    "form_token": token}).status_code for _ in range(3)]
        assert codes == [401, 401, 429]
        limited = client.post("/case/sign-in", data={"case_number": number, "pin": pin, "form_token": token})
        assert limited.status_code == 429 and "Too many tries for now" in limited.text
        assert "ds_case" not in client.cookies


@pytest.fixture
def lockout_settings(cheap_kdf_settings: Settings) -> Settings:
    """A case locks after 3 wrong PINs, for 15 minutes."""
    return cheap_kdf_settings.with_overrides(cases=dataclasses.replace(
        cheap_kdf_settings.cases, pin_max_failures=3, pin_lockout_minutes=15))


def test_a_case_locks_after_repeated_wrong_pins_as_in_the_api(start_site: Callable[[Settings], Site],
                                                             lockout_settings: Settings) -> None:
    site = start_site(lockout_settings)
    number, pin = file_case(site)
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        answers = [error_text(sign_in_client(client, number, wrong(pin)).text) for _ in range(3)]
        locked = sign_in_client(client, number, pin)
        assert locked.status_code == 401
        assert set(answers) == {error_text(locked.text)} == {NOT_RECOGNISED.replace("'", "&#39;")}
    api = httpx.get(f"{site.url}/v1/victim/status", auth=(number, pin), timeout=HTTP_TIMEOUT_S)
    assert api.status_code == 401 and api.json()["detail"] == NOT_RECOGNISED


def test_she_withdraws_after_the_cool_off_cancels_and_signs_out_over_plain_forms(site: Site) -> None:
    number, pin = file_case(site)
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        sign_in_client(client, number, pin)
        token = web_sessions.form_token(client.cookies["ds_case"])
        unconfirmed = client.post("/case/withdraw", data={"form_token": token})
        assert unconfirmed.status_code == 400 and "Tick the box to confirm" in unconfirmed.text
        principal = victim_access.victim_principal(site.ctx, number, pin)
        assert victim_access.victim_status(site.ctx, principal).withdraw_effective_at is None
        asked = client.post("/case/withdraw", data={"form_token": token, "confirm": "yes"})
        assert asked.status_code == 303 and asked.headers["location"] == "/case/status?done=withdraw"
        status = victim_access.victim_status(site.ctx, principal)
        assert status.state == "valid" and status.withdraw_effective_at is not None
        page = client.get("/case/status")
        assert "You asked to withdraw this case" in page.text and "Cancel my withdrawal" in page.text
        cancelled = client.post("/case/withdraw/cancel", data={"form_token": token})
        assert cancelled.status_code == 303
        assert victim_access.victim_status(site.ctx, principal).withdraw_effective_at is None
        # A second cancel has nothing to cancel: the service's sentence, on her status page.
        again = client.post("/case/withdraw/cancel", data={"form_token": token})
        assert again.status_code == 409 and "no pending withdrawal to cancel" in again.text
        session_token = client.cookies["ds_case"]
        out = client.post("/case/sign-out", data={"form_token": token})
        assert out.status_code == 303 and out.headers["location"] == "/case?signed_out=1"
        assert client.get("/case/status").headers["location"] == "/case"
    with pytest.raises(Exception, match="session has ended"):
        web_sessions.session_principal(site.ctx, session_token)


def test_a_declined_request_can_be_appealed_from_her_status_page(site: Site) -> None:
    number, pin = file_case(site)
    _decline(site.ctx, number, site.principal(Role.PLATFORM))
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        sign_in_client(client, number, pin)
        page = client.get("/case/status")
        assert "Your request was declined" in page.text
        assert "The linked page shows no person at all." in page.text
        token = web_sessions.form_token(client.cookies["ds_case"])
        too_short = client.post("/case/appeal", data={"form_token": token, "statement": "no"})
        assert too_short.status_code == 400 and "give at least 10 characters" in too_short.text
        sent = client.post("/case/appeal", data={"form_token": token,
                                                  "statement": "It is me in the picture, at my old flat."})
        assert sent.status_code == 303
        assert victim_access.victim_status(site.ctx, victim_access.victim_principal(site.ctx, number, pin)) \
            .state == "appealed"


#: Who may see what, written out here (not computed from the code under test): with her own
#: "check my case" session, each path answers with (status, where it redirects, or None).
VICTIM_SESSION_REACH: dict[str, tuple[int, str | None]] = {
    "/case/status": (200, None),
    "/case/status?case_number={other}": (200, None),
    "/staff": (303, "/staff/sign-in"),
    "/staff/helpline": (303, "/staff/sign-in"),
    "/staff/helpline/file": (303, "/staff/sign-in"),
    "/staff/helpline/cases/{other}": (303, "/staff/sign-in"),
    "/staff/helpline/cases/{own}": (303, "/staff/sign-in"),
    "/staff/reviewer": (303, "/staff/sign-in"),
    "/staff/reviewer/cases/{other}": (303, "/staff/sign-in"),
    "/staff/reviewer/appeals": (303, "/staff/sign-in"),
    "/staff/admin": (303, "/staff/sign-in"),
    "/staff/admin/keys": (303, "/staff/sign-in"),
    "/staff/transparency": (303, "/staff/sign-in"),
    "/staff/transparency.csv": (303, "/staff/sign-in"),
    "/v1/cases/{other}": (401, None),
    "/v1/cases/{own}": (401, None),
    "/v1/victim/status": (401, None),
}


def test_her_session_reaches_her_own_case_only_and_no_staff_page(site: Site) -> None:
    number, pin = file_case(site)
    other_number, _ = file_case(site, {
        "requester_role": "victim", "signature": {"name": "Another Person", "statement_ticked": True},
        "locations": [{"url": "https://other.example/secret-location"}], "good_faith": True,
        "contact": {"email": "someone-else@example.org"}, "age_check": {"depicted_under_18": False}})
    with httpx.Client(base_url=site.url, timeout=HTTP_TIMEOUT_S) as client:
        assert sign_in_client(client, number, pin).status_code == 303
        for template, (status_code, location) in VICTIM_SESSION_REACH.items():
            path = template.format(own=number, other=other_number)
            response = client.get(path)
            assert response.status_code == status_code, (path, response.status_code)
            if location is not None:
                assert response.headers["location"] == location, path
            assert other_number not in response.text and "other.example" not in response.text, path
            if status_code == 200:
                assert number in response.text, path


def test_an_ended_session_sends_her_back_to_sign_in(site: Site) -> None:
    number, pin = file_case(site)
    started = web_sessions.sign_in_victim(site.ctx, number, pin)
    later = utcnow() + timedelta(minutes=site.ctx.settings.server.victim_session_minutes + 1)
    with pytest.raises(Exception, match="session has ended"):
        web_sessions.session_principal(site.ctx, started.token, now=later)
    with httpx.Client(base_url=site.url, cookies={"ds_case": "not-a-session"},
                      timeout=HTTP_TIMEOUT_S) as client:
        response = client.get("/case/status")
        assert response.status_code == 303 and response.headers["location"] == "/case"
        form = client.get("/case")
        assert form.status_code == 200 and 'ds_case=""' in form.headers.get("set-cookie", "")


# --- in Chromium ------------------------------------------------------------------------------


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A page in a fresh browser context, its problems watched (``watch_problems``)."""
    made = new_page()
    watch_problems(made)
    return made


def _no_problems(page: Any, answered_with_an_error: tuple[str, ...] = ()) -> None:
    """No console error, page error or CSP violation on ``page`` since ``watch_problems``."""
    problems = problems_of(page, answered_with_an_error)
    assert problems == [], problems


@pytest.mark.browser
def test_the_request_page_shows_each_files_preview_and_the_servers_fingerprints(
        site: Site, page: Any, tmp_path: Path) -> None:
    photos = write_photos(tmp_path, 2) + write_photos(tmp_path, 1, seed=60, fmt="PNG", suffix="png")
    page.goto(f"{site.url}/request")
    page.locator("#hasher-status", has_text="makes fingerprints correctly").wait_for()
    choose_files(page, photos)
    shown = shown_fingerprints(page)
    assert set(shown) == {path.name for path in photos}
    for path in photos:
        expected = server_pdq(path)
        data = path.read_bytes()
        assert shown[path.name] == {"PDQ": expected.hex, "Quality": str(expected.quality),
                                    "SHA-256": hashlib.sha256(data).hexdigest(),
                                    "MD5": hashlib.md5(data).hexdigest()}, path.name
    # Each thumbnail is made from the local file: a blob: URL of this page, decoded.
    previews = page.evaluate("""() => [...document.querySelectorAll('#file-list img')]
        .map((img) => [img.src.slice(0, 5), img.naturalWidth > 0])""")
    assert previews == [["blob:", True]] * 3
    assert page.locator("#hasher-status").inner_text().startswith("Fingerprints ready for 3 files")
    # Removing one takes it out of what would be sent.
    page.get_by_role("button", name=f"Remove {photos[0].name}").click()
    assert set(shown_fingerprints(page)) == {photos[1].name, photos[2].name}
    _no_problems(page)


@pytest.mark.browser
def test_a_file_that_is_not_a_picture_or_cannot_be_read_says_so_and_is_not_sent(
        site: Site, page: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture, just words\n", encoding="utf-8")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    photo = write_photos(tmp_path, 1)[0]
    page.goto(f"{site.url}/request")
    choose_files(page, [notes, broken, photo])
    states = page.evaluate("""() => [...document.querySelectorAll('#file-list .file-item')]
        .map((item) => [item.dataset.state, item.querySelector('.file-state').textContent])""")
    assert [state for state, _ in states] == ["failed", "failed", "done"]
    assert states[0][1].startswith("This is not a picture or a video this page can read")
    assert states[1][1] == "This file could not be read as an image. Its fingerprints will not be sent."
    assert set(shown_fingerprints(page)[photo.name]) == {"PDQ", "Quality", "SHA-256", "MD5"}
    status = page.locator("#hasher-status").inner_text()
    assert status == "Fingerprints ready for 1 file. 2 could not be read."
    fill_request(page)
    number, _ = submit_request(page)
    assert review.get_case(site.ctx, number, site.principal(Role.ADMIN)).hash_count == 3
    _no_problems(page)


@pytest.mark.browser
def test_her_case_number_and_pin_can_be_copied_and_downloaded_once(site: Site, new_page: Any) -> None:
    page = new_page(permissions=["clipboard-read", "clipboard-write"], accept_downloads=True)
    watch_problems(page)
    page.goto(f"{site.url}/request")
    page.locator("#hasher-status", has_text="makes fingerprints correctly").wait_for()
    fill_request(page)  # a location, no files: the API takes that too
    number, pin = submit_request(page)
    page.get_by_role("button", name="Copy the case number and PIN").click()
    page.get_by_role("status").filter(has_text="Copied").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == f"Case number: {number}\nPIN: {pin}"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download them as a text file").click()
    assert download.value.suggested_filename == "deepshield-case.txt"
    saved = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"Case number: {number}" in saved and f"PIN: {pin}" in saved and f"{site.url}/case" in saved
    # Downloading did not leave the page, and the form is gone: nothing can be sent twice.
    assert page.url == f"{site.url}/request" and page.locator("#request-form").is_hidden()
    _no_problems(page)


@pytest.mark.browser
def test_a_wrong_answer_is_shown_beside_its_section_in_the_apis_words_and_nothing_is_filed(
        site: Site, page: Any) -> None:
    page.goto(f"{site.url}/request")
    fill_request(page, locations=("ftp://forum.example/t/1",))
    page.get_by_role("button", name="Send my request").click()
    beside = page.locator("#error-locations")
    beside.wait_for(state="visible")
    assert beside.text_content() == "must be a web address starting with http:// or https://"
    assert page.locator("#error-summary").is_visible()
    assert page.locator("#result").is_hidden()
    assert review.list_cases(site.ctx, site.principal(Role.ADMIN)) == []
    _no_problems(page, answered_with_an_error=("/v1/requests/public",))


@pytest.mark.browser
def test_an_incomplete_request_is_kept_with_its_pin_and_completed_from_the_same_form(
        site: Site, page: Any, tmp_path: Path) -> None:
    page.goto(f"{site.url}/request")
    choose_files(page, write_photos(tmp_path, 1))
    fill_request(page, email=None, signature=None)
    number, pin = submit_request(page)
    assert re.fullmatch(r"\d{8}", pin)
    # The case number and PIN take the focus first: they are shown this once.
    assert page.evaluate("() => document.activeElement.id") == "result"
    admin = site.principal(Role.ADMIN)
    case = review.get_case(site.ctx, number, admin)
    assert case.state == "incomplete"
    # Each missing item, in the intake's own sentence, beside its section.
    you = page.locator("#error-you").text_content()
    declarations = page.locator("#error-declarations").text_content()
    for sentence in case.missing:
        field, words = sentence.split(": ", 1)
        assert words in (you if field == "contact.email" else declarations), sentence
    assert page.locator("#result-summary").inner_text() == STATE_SUMMARIES["incomplete"]
    page.get_by_label("Email address to reach you").fill(EMAIL)
    page.get_by_label("Your name, as a signature").fill(SIGNATURE)
    page.get_by_role("button", name="Add the missing details").click()
    page.locator("#request-form").wait_for(state="hidden")
    assert page.locator("#result-summary").inner_text() == STATE_SUMMARIES["valid"]
    case = review.get_case(site.ctx, number, admin)
    assert case.state == "valid" and case.hash_count == 3
    _no_problems(page)


@pytest.mark.browser
def test_under_18_is_sent_to_take_it_down_and_nothing_is_kept(site: Site, page: Any, tmp_path: Path) -> None:
    page.goto(f"{site.url}/request")
    choose_files(page, write_photos(tmp_path, 1))
    fill_request(page, under_18=True)
    notice = page.locator("#under18-notice")
    assert notice.is_visible()
    assert notice.get_by_role("link", name="Go to Take It Down").get_attribute("href") == TAKE_IT_DOWN_URL
    number, _ = submit_request(page)
    assert page.locator("#result-referral").inner_text() == intake.UNDER_18_REFERRAL
    assert page.locator("#result-summary").inner_text() == STATE_SUMMARIES["referred"]
    case = review.get_case(site.ctx, number, site.principal(Role.ADMIN))
    assert case.state == "referred" and case.locations == [] and case.hash_count == 0
    _no_problems(page)


_BROKEN_WORKER = "self.postMessage({selfTest: false});\nself.onmessage = (e) => self.postMessage(" \
                 "{id: e.data.id, error: 'not computed'});\n"


@pytest.mark.browser
def test_a_browser_that_fails_the_self_test_cannot_send_anything(site: Site, page: Any,
                                                                  tmp_path: Path) -> None:
    """A browser whose fingerprints come out wrong (stood in for by a Worker that fails its
    self-test, since Chromium here computes them right) is told so, and nothing is sent."""
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method != "GET" else None)
    page.route("**/static/hashing/worker.js*", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=_BROKEN_WORKER))
    page.goto(f"{site.url}/request")
    status = page.locator("#hasher-status")
    status.locator("text=failed its fingerprint check").wait_for()
    page.set_input_files("#files", [str(path) for path in write_photos(tmp_path, 1)])
    fill_request(page)
    page.get_by_role("button", name="Send my request").click()
    assert "failed its fingerprint check" in page.locator("#error-files").inner_text()
    assert "Nothing has been sent" in page.locator("#error-summary").inner_text()
    assert posts == []
    assert review.list_cases(site.ctx, site.principal(Role.ADMIN)) == []


@pytest.mark.browser
def test_check_my_case_withdraw_and_cancel_work_with_javascript_off(site: Site, new_page: Any) -> None:
    number, pin = file_case(site)
    page = new_page(java_script_enabled=False)
    watch_problems(page)
    sign_in_case(page, site.url, number, pin)
    assert page.url == f"{site.url}/case/status"
    assert page.locator("#case-number").inner_text() == number
    page.get_by_label("I want to withdraw my request").check()
    press_and_wait(page, "Withdraw my request", f"{site.url}/case/status?done=withdraw")
    assert "You asked to withdraw this case" in page.locator("#status-summary").inner_text()
    principal = victim_access.victim_principal(site.ctx, number, pin)
    assert victim_access.victim_status(site.ctx, principal).withdraw_effective_at is not None
    press_and_wait(page, "Cancel my withdrawal", f"{site.url}/case/status?done=cancel")
    assert page.locator("p.success").inner_text() == DONE_MESSAGES["cancel"]
    assert victim_access.victim_status(site.ctx, principal).withdraw_effective_at is None
    press_and_wait(page, "Sign out", f"{site.url}/case?signed_out=1")
    # The request page says what to do instead of hashing.
    page.goto(f"{site.url}/request")
    assert page.locator("#no-script").is_visible()
    assert page.locator("#request-form").is_hidden()
    _no_problems(page)


@pytest.mark.browser
def test_wrong_pins_in_the_page_get_one_message_and_lock_the_case(
        start_site: Callable[[Settings], Site], lockout_settings: Settings, page: Any) -> None:
    site = start_site(lockout_settings)
    number, pin = file_case(site)
    messages = []
    for typed in (wrong(pin), wrong(pin), wrong(pin), pin):
        sign_in_case(page, site.url, number, typed)
        messages.append(page.get_by_role("alert").locator("p").first.inner_text())
    assert page.url == f"{site.url}/case"  # the page was updated in place, leaving no history
    assert messages == [NOT_RECOGNISED] * 4
    sign_in_case(page, site.url, "DS-2222-3333-4444", pin)
    assert page.get_by_role("alert").locator("p").first.inner_text() == NOT_RECOGNISED
    api = httpx.get(f"{site.url}/v1/victim/status", auth=(number, pin), timeout=HTTP_TIMEOUT_S)
    assert api.status_code == 401


@pytest.mark.browser
def test_every_victim_page_passes_axe_and_is_screenshotted(
        site: Site, page: Any, tmp_path: Path, save_screenshots: Callable[[Any, str], list[Path]]) -> None:
    def check(name: str) -> None:
        assert_accessible(page, what=name)
        save_screenshots(page, f"victim-{name}")
        # At 360 px nothing is wider than the screen (no sideways scrolling).
        page.set_viewport_size({"width": 360, "height": 800})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 360, name
        page.set_viewport_size({"width": 1280, "height": 900})

    for path in PUBLIC_PAGES:
        page.goto(f"{site.url}{path}")
        if path == "/request":
            page.locator("#hasher-status", has_text="makes fingerprints correctly").wait_for()
        check(path.strip("/") or "start")
    _no_problems(page)
    page.goto(f"{site.url}/request")
    choose_files(page, write_photos(tmp_path, 2))
    check("request-hashed")
    fill_request(page, email=None)
    submit_request(page)
    check("request-incomplete")
    page.get_by_label("Email address to reach you").fill(EMAIL)
    page.get_by_role("button", name="Add the missing details").click()
    page.locator("#request-form").wait_for(state="hidden")
    number, pin = read_result(page)
    check("request-filed")
    _no_problems(page)
    sign_in_case(page, site.url, number, wrong(pin))
    check("case-sign-in-error")
    sign_in_case(page, site.url, number, pin)
    check("case-status")
    page.get_by_label("I want to withdraw my request").check()
    press_and_wait(page, "Withdraw my request", f"{site.url}/case/status?done=withdraw")
    check("case-withdrawal-pending")
    _no_problems(page, answered_with_an_error=("/case/sign-in",))
    page.goto(f"{site.url}/case/no-such-page")  # a path of the portal's: its own error page
    assert page.locator("h1").inner_text() == "We could not find that page"
    check("error")


def _decline(ctx: ServiceContext, number: str, platform: Principal) -> None:
    review.decide(ctx, number, "declined", "The linked page shows no person at all.", platform)


@pytest.mark.browser
def test_a_declined_case_with_its_appeal_form_passes_axe(
        site: Site, page: Any, save_screenshots: Callable[[Any, str], list[Path]]) -> None:
    number, pin = file_case(site)
    _decline(site.ctx, number, site.principal(Role.PLATFORM))
    sign_in_case(page, site.url, number, pin)
    assert page.get_by_label("Why the decision should change").is_visible()
    assert_accessible(page, what="declined status")
    save_screenshots(page, "victim-case-declined")
    page.get_by_label("Why the decision should change").fill("It is me in the picture, at my old flat.")
    press_and_wait(page, "Send my appeal", f"{site.url}/case/status?done=appeal")
    assert "An appeal is being looked at" in page.locator("#status-summary").inner_text()
    _no_problems(page)
