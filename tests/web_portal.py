"""The victim portal's helpers, shared by its browser and HTTP tests (test_victim_portal,
test_victim_journey, test_portal_privacy, test_quick_exit, test_content_security): photos written as
files and the server's PDQ of them, the request page's file input and fingerprints, its form and
result, signing in to "check my case", a case filed through the API, and what went wrong on a page."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx

from deepshield.cases import intake
from deepshield.media import MediaLimits, decode_image
from deepshield.signals.pdq import PdqHash, pdq_from_pixels
from factories import encode_image, photo_pixels
from web_site import Site

EMAIL = "a-private-address@example.org"
SIGNATURE = "Sam Example"
LOCATION = "https://forum.example/t/123"
#: The time a test waits for the page's fingerprints (a few small photos take well under a second).
HASHING_TIMEOUT_MS = 30_000
#: How long a hash may take to reach (or leave) every process's matcher (sync interval 0.5 s).
MATCH_SETTLE_S = 10.0
#: Generous for a loaded test machine (the first request to a new site does more work).
HTTP_TIMEOUT_S = 30.0


def write_photos(folder: Path, count: int = 2, *, seed: int = 40, fmt: str = "JPEG",
                 suffix: str = "jpg") -> list[Path]:
    """``count`` distinct photo-like images (Pillow), written as files under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"holiday-{seed + index}.{suffix}"
        path.write_bytes(encode_image(photo_pixels(seed + index, 480, 360), fmt, **(
            {"quality": 90} if fmt == "JPEG" else {})))
        paths.append(path)
    return paths


def server_pdq(path: Path) -> PdqHash:
    """The server's PDQ of a file: decoded as the server decodes it, hashed by ``pdqhash``."""
    return pdq_from_pixels(decode_image(path.read_bytes(), MediaLimits()).pixels)


def choose_files(page: Any, paths: list[Path]) -> None:
    """Select ``paths`` in the request page's file input and wait until each has its fingerprints."""
    before = page.locator("#file-list .file-item").count()
    page.set_input_files("#files", [str(path) for path in paths])
    wait_for_fingerprints(page, before + len(paths))


def wait_for_fingerprints(page: Any, count: int) -> None:
    page.wait_for_function(
        """(count) => {
            const items = [...document.querySelectorAll('#file-list .file-item')];
            return items.length === count && items.every((item) => item.dataset.state === 'done'
                                                                  || item.dataset.state === 'failed');
        }""", arg=count, timeout=HASHING_TIMEOUT_MS)


def shown_fingerprints(page: Any) -> dict[str, dict[str, str]]:
    """What the page shows for each file: {name: {"PDQ": ..., "Quality": ..., "SHA-256": ..., "MD5": ...}}."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#file-list .file-item')]
        .map((item) => {
            const terms = [...item.querySelectorAll('dl.hashes dt')].map((dt) => dt.textContent.trim());
            const values = [...item.querySelectorAll('dl.hashes dd')].map((dd) => dd.textContent.trim());
            return [item.querySelector('.file-name strong').textContent,
                    Object.fromEntries(terms.map((term, i) => [term, values[i]]))];
        }))""")


def fill_request(page: Any, *, email: str | None = EMAIL, signature: str | None = SIGNATURE,
                 locations: tuple[str, ...] = (LOCATION,), under_18: bool | None = False,
                 tick_statements: bool = True) -> None:
    """Answer the request form's questions (None leaves a question unanswered)."""
    if locations:
        page.get_by_label("Web addresses, one per line").fill("\n".join(locations))
    page.get_by_label("I am the person in the pictures or videos").check()
    if email is not None:
        page.get_by_label("Email address to reach you").fill(email)
    page.get_by_label("Country where the person in the pictures lives").select_option("GB")
    page.get_by_label("United States").check()
    if under_18 is not None:
        page.get_by_label("Yes, they were under 18" if under_18 else "No, they were 18 or older").check()
    page.locator("#danger-no").check()
    if tick_statements:
        page.get_by_label(intake.GOOD_FAITH_STATEMENT).check()
        page.get_by_label(intake.SIGNATURE_STATEMENT).check()
    if signature is not None:
        page.get_by_label("Your name, as a signature").fill(signature)


def submit_request(page: Any) -> tuple[str, str]:
    """Press "Send my request" and read the case number and PIN the page shows once."""
    page.get_by_role("button", name="Send my request").click()
    return read_result(page)


def read_result(page: Any) -> tuple[str, str]:
    page.locator("#result").wait_for(state="visible", timeout=HASHING_TIMEOUT_MS)
    return (page.locator("#result-case-number").inner_text().strip(),
            page.locator("#result-pin").inner_text().strip())


def sign_in_case(page: Any, site_url: str, case_number: str, pin: str) -> None:
    """Open "check my case" and sign in with the case number and PIN (with or without JavaScript);
    returns once her status page, or the sign-in page's message, is shown."""
    page.goto(f"{site_url}/case")
    page.get_by_label("Case number").fill(case_number)
    page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Check my case").click()
    page.locator("#case-number, #sign-in-error").first.wait_for()
    page.wait_for_load_state()


def file_case(site: Site | str, form: dict[str, Any] | None = None) -> tuple[str, str]:
    """File a complete adult request through the API's public door: (case number, PIN)."""
    url = site if isinstance(site, str) else site.url
    body = form or {
        "requester_role": "victim",
        "signature": {"name": SIGNATURE, "statement_ticked": True},
        "locations": [{"url": LOCATION}],
        "good_faith": True,
        "contact": {"email": EMAIL},
        "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False},
    }
    response = httpx.post(f"{url}/v1/requests/public", json=body, timeout=HTTP_TIMEOUT_S)
    assert response.status_code == 201, response.text
    return response.json()["case"]["case_number"], response.json()["pin"]


@dataclasses.dataclass
class _Watched:
    """What a page logged: console errors with their URL, page errors, and the pages it opened."""

    console: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    page_errors: list[str] = dataclasses.field(default_factory=list)
    documents: set[str] = dataclasses.field(default_factory=set)

    def problems(self, answered_with_an_error: tuple[str, ...] = ()) -> list[str]:
        """Console errors (CSP violations among them) and page errors, leaving out only the status
        line of a page whose error status is its answer (a refused sign-in, a page not found) or of
        a call to one of the paths ``answered_with_an_error`` (the API refusing a form, as the test
        meant it to). The site serves its own favicon, so no other load may fail."""
        found = [f"page error: {error}" for error in self.page_errors]
        for text, url in self.console:
            failed_load = text.startswith("Failed to load resource")
            expected = failed_load and (
                url in self.documents or any(path in url for path in answered_with_an_error))
            if not expected:
                found.append(f"console: {text} ({url})")
        return found


_WATCHED: dict[int, _Watched] = {}


def watch_problems(page: Any) -> _Watched:
    """Watch ``page`` from now on; ``_Watched.problems()`` says what went wrong."""
    watched = _WATCHED.setdefault(id(page), _Watched())
    page.on("console", lambda message: watched.console.append(
        (message.text, str(message.location.get("url", "")))) if message.type == "error" else None)
    page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
    page.on("response", lambda response: watched.documents.add(response.url)
            if response.request.resource_type == "document" else None)
    return watched


def problems_of(page: Any, answered_with_an_error: tuple[str, ...] = ()) -> list[str]:
    """What went wrong on ``page`` since ``watch_problems(page)`` (see ``_Watched.problems``)."""
    return _WATCHED[id(page)].problems(answered_with_an_error)


def wrong(pin: str) -> str:
    """A PIN that is not ``pin`` (its last digit changed)."""
    return pin[:-1] + ("0" if pin[-1] != "0" else "1")
