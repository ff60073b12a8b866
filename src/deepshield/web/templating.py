"""Rendering pages: one Jinja2 environment (autoescaped) over ``web/templates``.

``render`` gives every template the same few names:
- ``form_token``: the anti-forgery token its forms must carry (``{{ form_token_field() }}`` writes
  the hidden input);
- ``principal``: the signed-in staff member or victim, when a session came with the request;
- ``static(path)``: the URL of a file under ``web/static``, with a version query so a new release's
  files are not mixed with an old cached copy;
- ``nav``: the staff menu for the principal's role.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from deepshield.services.access import Principal, Role
from deepshield.web.forms import FORM_TOKEN_FIELD
from deepshield.web.sessions import FORM_COOKIE, form_token_of, set_cookie

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

#: Where the quick exit goes: a neutral, widely used page (as the UK government's "Exit this page"
#: component does), opened with ``location.replace`` so Back does not return to the portal.
QUICK_EXIT_URL = "https://www.bbc.co.uk/weather"

#: The staff menu: (path, label, roles that see it). A role sees only what its pages serve; the
#: services still decide on every request.
STAFF_NAV: tuple[tuple[str, str, frozenset[Role]], ...] = (
    ("/staff/helpline", "Our cases", frozenset({Role.HELPLINE, Role.ADMIN})),
    ("/staff/helpline/file", "File a request", frozenset({Role.HELPLINE, Role.ADMIN})),
    ("/staff/reviewer", "Review queue", frozenset({Role.PLATFORM, Role.ADMIN})),
    ("/staff/admin", "Administration", frozenset({Role.ADMIN})),
    ("/staff/transparency", "Transparency", frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE})),
)


@cache
def _static_version(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "missing"


def static(path: str) -> str:
    """The URL of ``web/static/<path>``, versioned by its content."""
    return f"/static/{path}?v={_static_version(path)}"


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["static"] = static
    env.globals["quick_exit_url"] = QUICK_EXIT_URL
    return env


def staff_nav(principal: Principal | None) -> list[tuple[str, str]]:
    if principal is None or principal.role is Role.VICTIM:
        return []
    return [(path, label) for path, label, roles in STAFF_NAV if principal.role in roles]


def render(request: Request, template: str, *, status_code: int = 200,
           headers: dict[str, str] | None = None, **values: Any) -> HTMLResponse:
    """``template`` rendered with ``values`` and the names every page has (see the module)."""
    token = form_token_of(request)
    principal = values.pop("principal", None) or getattr(request.state, "principal", None)

    def form_token_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(FORM_TOKEN_FIELD, token)

    html = environment().get_template(template).render(
        request=request, form_token=token, form_token_field=form_token_field, principal=principal,
        nav=staff_nav(principal), path=request.url.path, **values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    new_value = getattr(request.state, "new_form_value", "")
    if new_value:
        set_cookie(request, response, FORM_COOKIE, new_value)
    return response
