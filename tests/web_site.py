"""What the web door's tests share beyond fixtures (tests/web/conftest.py holds those): the running
site and its keys, signing staff in (in a browser, or an HTTP client), reading a page's form token
and main text, the problems a page logged, and the accessibility checks. The victim portal's own
helpers are in web_portal.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from deepshield.api.app import create_app
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services import web_sessions
from deepshield.services.access import KEY_ROLES, Principal, Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from live_server import serving
from principals import SETUP

AXE_SOURCE = Path(__file__).resolve().parent / "web" / "vendor" / "axe.min.js"
#: axe-core rule tags checked: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
#: Generous for a loaded test machine: a staff client's timeout for every request.
STAFF_HTTP_TIMEOUT_S = 60.0


_PROBLEMS: dict[int, list[str]] = {}


def page_problems(page: Any) -> list[str]:
    """The console errors and CSP violations seen on ``page`` so far."""
    return _PROBLEMS.setdefault(id(page), [])


def script_problems(page: Any) -> list[str]:
    """``page_problems`` less the browser's "Failed to load resource" notes, which it logs for every
    answer that is not 2xx: these tests ask for 4xx answers on purpose (a refused decision, the 409
    of a form sent twice). Nothing else may fail to load (the site serves its own favicon)."""
    return [problem for problem in page_problems(page) if "Failed to load resource" not in problem]


@dataclass
class Site:
    """The running app (API and pages), its service context, and a key for every role."""

    url: str
    ctx: ServiceContext
    tokens: dict[Role, str] = field(default_factory=dict)
    key_ids: dict[Role, str] = field(default_factory=dict)

    def principal(self, role: Role) -> Principal:
        """The principal the server finds for this role's key, for calling a service directly."""
        return Principal(f"key:{self.key_ids[role]}", role)

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def add_key(self, role: Role, label: str) -> tuple[str, str]:
        """Another key of ``role`` (a second helpline, say): (token, key id)."""
        info, token = create_key(self.ctx, role, label, SETUP)
        return token, info.key_id


def start_site_on(stack: ExitStack, settings: Settings) -> Site:
    ctx = ServiceContext.open(settings)
    stack.callback(ctx.close)
    app = create_app(settings, context=ctx)
    # Tests file many requests from one address.
    app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    url = stack.enter_context(serving(app, "the web server"))
    site = Site(url, ctx)
    for role in sorted(KEY_ROLES):
        info, token = create_key(ctx, role, f"{role.value} test key", SETUP)
        site.tokens[role], site.key_ids[role] = token, info.key_id
    return site


def assert_accessible(page: Any, *, what: str = "") -> None:
    """axe-core finds no serious or critical WCAG 2.2 A/AA violation on ``page`` as it stands."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluate() runs outside the page's CSP, which blocks a <script> tag (as it should).
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8") + "\n;undefined")
    violations = page.evaluate(
        """async (tags) => {
            const result = await window.axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations
              .filter((v) => v.impact === 'serious' || v.impact === 'critical')
              .map((v) => `${v.impact} ${v.id}: ${v.help} at `
                + v.nodes.map((n) => n.target.join(' ')).join(', '));
        }""", WCAG_TAGS)
    assert violations == [], f"axe-core on {what or page.url}: " + "\n".join(violations)


def accessible_at_both_widths(page: Any) -> None:
    """axe-core finds nothing serious at 1280 px, nor at 360 px where the tables scroll."""
    assert_accessible(page)
    page.set_viewport_size({"width": 360, "height": 800})
    try:
        assert_accessible(page, what=f"{page.url} at 360 px")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})


def found(pattern: str, html: str) -> str:
    """The first group of ``pattern`` in ``html``; fails the test when it is not there."""
    match = re.search(pattern, html)
    assert match is not None, f"{pattern} is not on the page"
    return match.group(1)


def form_token_in(html: str) -> str:
    """The anti-forgery token a page's forms carry (``name="form_token" value="..."``); fails the
    test when the page has none."""
    return found(r'name="form_token" value="([^"]+)"', html)


def main_text(html: str) -> str:
    """The page's main content as text (tags removed, spaces collapsed), for reading sentences."""
    main = html[html.index("<main"):html.index("</main>")]
    text = re.sub(r"<[^>]+>", " ", main).replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"')
    return re.sub(r"\s+", " ", text)


def tab_to(page: Any, selector: str, *, most: int = 200) -> None:
    """Press Tab until the focused element matches ``selector`` (fails after ``most`` presses)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("(selector) => document.activeElement?.matches(selector) ?? false", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def sign_in_staff(page: Any, site: Site, role: Role, *, token: str | None = None) -> None:
    """Sign ``page`` in to the staff pages with ``role``'s key, through the sign-in form."""
    page.goto(f"{site.url}/staff/sign-in")
    page.get_by_label("API key").fill(token or site.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@contextmanager
def staff_client(site: Site | str, role: Role | None, *, token: str | None = None) -> Iterator[httpx.Client]:
    """An HTTP client of ``site`` (a Site, or the URL of an app served apart, with ``token``) signed
    in to the staff pages through the sign-in form, with ``token`` or else ``role``'s key; with
    neither (``role`` None), not signed in. The sign-in is checked: a 303, a ``ds_staff`` cookie,
    and, on a Site with ``role``, a session of that role. Requests time out after 60 s."""
    url = site if isinstance(site, str) else site.url
    with httpx.Client(base_url=url, timeout=STAFF_HTTP_TIMEOUT_S) as client:
        if token is None and role is not None:
            assert isinstance(site, Site), "an app served apart has no keys here: pass its token"
            token = site.tokens[role]
        if token is not None:
            public = form_token_in(client.get("/staff/sign-in").text)
            signed_in = client.post("/staff/sign-in", data={"api_key": token, "form_token": public})
            assert signed_in.status_code == 303, signed_in.text
            assert "ds_staff" in client.cookies
            if role is not None and isinstance(site, Site):
                assert web_sessions.session_principal(site.ctx, client.cookies["ds_staff"]).role is role
        yield client


def staff_form_token(client: httpx.Client) -> str:
    """The form token of ``client``'s staff session (a signed-in page's forms carry it)."""
    return web_sessions.form_token(client.cookies["ds_staff"])
