"""What the web door's tests share beyond fixtures (tests/web/conftest.py holds those): the running
site and its keys, signing staff in, the problems a page logged, and the accessibility check."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deepshield.api.app import create_app
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services.access import KEY_ROLES, Principal, Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from live_server import serving
from principals import SETUP

AXE_SOURCE = Path(__file__).resolve().parent / "web" / "vendor" / "axe.min.js"
#: axe-core rule tags checked: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


_PROBLEMS: dict[int, list[str]] = {}


def page_problems(page: Any) -> list[str]:
    """The console errors and CSP violations seen on ``page`` so far."""
    return _PROBLEMS.setdefault(id(page), [])



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


def sign_in_staff(page: Any, site: Site, role: Role, *, token: str | None = None) -> None:
    """Sign ``page`` in to the staff pages with ``role``'s key, through the sign-in form."""
    page.goto(f"{site.url}/staff/sign-in")
    page.get_by_label("API key").fill(token or site.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
