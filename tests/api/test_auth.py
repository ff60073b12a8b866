"""Who may call what: every route (but the case routes) against every kind of caller.

The expected answers are the documented table (docs/API.md, its "Roles" section, HMA.md and
SOFT_BINDING_API.md) written out below as literals, route by route and role by role. They are
NOT read from ``services/access.py``: the code under test is compared with the documents, so a
change to the code's table that the documents do not make fails here. ``ACTION_TABLE`` does the
same for the role table itself, which also covers the acts that only the CLI reaches (bank
export and import, keys, labelling).

The case, victim and misuse routes have their own matrix, with case scoping:
tests/api/test_case_authorization.py. Together the two literal tables must name every route the
app serves (``test_every_route_of_the_app_is_in_a_literal_table``).

The world the calls refer to (the app, its keys, a bank, a manifest, registered items, the
installation's signing keys, a case) is built once per module on each backend: no test changes
what another relies on (each withdrawal, disable, revoked key or new bank is a piece of its own).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import itertools
import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.routing import Route as StarletteRoute

from api.conftest import Api, basic
from case_forms import request_form
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services.access import Action, Role, roles_for
from deepshield.services.api_keys import create_key, revoke_key
from deepshield.services.label.manifest_registry import WATERMARK_ALG, register_manifest
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.spread.banks import SignalInput
from deepshield.services.spread.content_registry import ContentItemInput, register_items
from deepshield.settings import Settings
from deepshield.store.models import AuditEvent, AuditReadEvent
from deepshield.web.headers import is_web_path
from factories import encode_image, photo_pixels
from principals import SETUP

ADMIN, PLATFORM, HELPLINE = Role.ADMIN, Role.PLATFORM, Role.HELPLINE
PARTNER, PROVIDER, VICTIM = Role.PARTNER, Role.PROVIDER, Role.VICTIM
EVERY_KEY = frozenset({ADMIN, PLATFORM, HELPLINE, PARTNER, PROVIDER})
MATCHERS = frozenset({ADMIN, PLATFORM, HELPLINE})
#: Served to everyone, with a key, a wrong key or none (rate-limited without a valid key).
PUBLIC = "public"

#: docs/API.md (and HMA.md, SOFT_BINDING_API.md), written out: the callers each route serves.
#: A role is a key of that role; VICTIM is a case number and PIN (Basic). Every other caller
#: gets 403 (a key) or 401 (a victim's credentials: these routes take keys only).
ALLOWED: dict[tuple[str, str], frozenset[Role] | str] = {
    ("POST", "/v1/hash"): EVERY_KEY,
    ("POST", "/v1/match"): MATCHERS,
    ("GET", "/v1/banks"): EVERY_KEY,
    ("POST", "/v1/banks"): frozenset({ADMIN}),
    ("POST", "/v1/banks/{name}/entries"): frozenset({ADMIN, HELPLINE}),
    ("DELETE", "/v1/banks/{name}/entries/{entry_id}"): frozenset({ADMIN, HELPLINE}),
    ("PATCH", "/v1/banks/{name}/entries/{entry_id}"): frozenset({ADMIN}),
    ("POST", "/v1/watermark/detect"): EVERY_KEY,
    # WATERMARK_KEYS.md: a provider's own secret key, for labelling into this repository.
    ("POST", "/v1/watermark/key"): frozenset({ADMIN, PROVIDER}),
    ("GET", "/v1/exchange/updates"): frozenset({ADMIN, PARTNER}),
    ("POST", "/v1/exchange/feedback"): frozenset({PARTNER}),
    # HMA.md: "a platform key for lookups; any key for hashing" (helplines and admins match too).
    ("POST", "/h/hash"): EVERY_KEY,
    ("GET", "/m/lookup"): MATCHERS,
    ("POST", "/m/lookup"): MATCHERS,
    ("GET", "/m/raw_lookup"): MATCHERS,
    ("GET", "/m/index/status"): MATCHERS,
    # SOFT_BINDING_API.md: writes for admin and provider keys, reads for everyone.
    ("POST", "/manifests"): frozenset({ADMIN, PROVIDER}),
    ("POST", "/bindings"): frozenset({ADMIN, PROVIDER}),
    ("PUT", "/bindings"): frozenset({ADMIN, PROVIDER}),
    ("GET", "/matches/byBinding"): PUBLIC,
    ("POST", "/matches/byBinding"): PUBLIC,
    ("POST", "/matches/byContent"): PUBLIC,
    ("GET", "/manifests/{manifestId}"): PUBLIC,
    ("GET", "/services/supportedAlgorithms"): PUBLIC,
    ("POST", "/v1/verify"): PUBLIC,
    ("POST", "/v1/forensics/compare"): PUBLIC,  # API.md "Forensics": public like verify
    # API.md "Forensics": finding the source names registered references and items: keys only.
    ("POST", "/v1/forensics/sources"): frozenset({ADMIN, PLATFORM, HELPLINE}),
    ("GET", "/v1/audit/verify"): frozenset({ADMIN}),
    ("GET", "/v1/audit/events"): frozenset({ADMIN}),
    ("GET", "/v1/notifications"): frozenset({ADMIN}),
    ("POST", "/v1/notifications/deliver"): frozenset({ADMIN}),
    ("POST", "/v1/content"): frozenset({ADMIN, PLATFORM}),
    ("POST", "/v1/content/import"): frozenset({ADMIN, PLATFORM}),
    ("GET", "/v1/content/flagged"): frozenset({ADMIN, PLATFORM}),
    ("POST", "/v1/content/{item_id}/removed"): frozenset({ADMIN, PLATFORM}),
    # A file's evidence pack is signed by the installation: keys only, no victim (issue 12, Fix 9).
    ("POST", "/v1/reports/file"): frozenset({ADMIN, PLATFORM, HELPLINE}),
    ("GET", "/v1/reports/transparency"): frozenset({ADMIN, PLATFORM, HELPLINE}),
    ("POST", "/v1/reports/check"): PUBLIC,
}
#: Routes that need no key at all, and the one refused to every caller (tests/api/test_hma.py).
OPEN_OR_REFUSED = {("GET", "/v1/health"), ("GET", "/status"), ("GET", "/h/hash")}
#: Takedown cases, victims and misuse: tests/api/test_case_authorization.py.
CASE_MATRIX_PREFIXES = ("/v1/requests", "/v1/cases", "/v1/victim", "/v1/misuse")

#: The role table of docs/API.md "Roles", docs/CASES.md "Who does what" and ARCHITECTURE.md,
#: written out for every act, the CLI-only ones included.
ACTION_TABLE: dict[Action, frozenset[Role]] = {
    Action.HASH: EVERY_KEY,
    Action.MATCH: MATCHERS,
    Action.SCAN: frozenset({ADMIN, PLATFORM}),  # CLI only: docs/SCAN.md "Who may scan"
    Action.BANK_LIST: EVERY_KEY,
    Action.BANK_CREATE: frozenset({ADMIN}),
    Action.BANK_ADD: frozenset({ADMIN, HELPLINE}),
    Action.BANK_WITHDRAW: frozenset({ADMIN, HELPLINE}),
    Action.BANK_DISABLE: frozenset({ADMIN}),
    Action.BANK_EXPORT: frozenset({ADMIN}),
    Action.BANK_IMPORT: frozenset({ADMIN}),
    Action.KEYS_MANAGE: frozenset({ADMIN}),
    Action.WATERMARK_DETECT: EVERY_KEY,
    Action.EXCHANGE_FETCH: frozenset({ADMIN, PARTNER}),
    Action.EXCHANGE_FEEDBACK: frozenset({PARTNER}),
    Action.LABEL: frozenset({ADMIN, PROVIDER}),
    Action.MANIFEST_WRITE: frozenset({ADMIN, PROVIDER}),
    Action.VERIFY: EVERY_KEY,
    Action.FORENSICS_COMPARE: EVERY_KEY,
    Action.SOURCE_SEARCH: frozenset({ADMIN, PLATFORM, HELPLINE}),
    Action.CASE_FILE: frozenset({ADMIN, HELPLINE}),
    Action.CASE_LIST: frozenset({ADMIN, PLATFORM, HELPLINE}),
    Action.CASE_READ: frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    Action.CASE_READ_CONTACT: frozenset({ADMIN}),
    Action.CASE_UPDATE: frozenset({ADMIN, HELPLINE, VICTIM}),
    Action.CASE_REVIEW: frozenset({ADMIN, PLATFORM}),
    Action.CASE_APPEAL: frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    Action.CASE_APPEAL_DECIDE: frozenset({ADMIN, PLATFORM}),
    Action.CASE_WITHDRAW: frozenset({ADMIN, HELPLINE, VICTIM}),
    Action.CASE_LEGAL_HOLD: frozenset({ADMIN}),
    Action.MISUSE_MANAGE: frozenset({ADMIN, PLATFORM}),
    Action.CONTENT_REGISTER: frozenset({ADMIN, PLATFORM}),
    Action.CONTENT_SWEEP: frozenset({ADMIN, PLATFORM}),
    Action.REPORT_EVIDENCE: frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    Action.REPORT_FILE: frozenset({ADMIN, PLATFORM, HELPLINE}),
    Action.REPORT_TRANSPARENCY: frozenset({ADMIN, PLATFORM, HELPLINE}),
    Action.AUDIT_VERIFY: frozenset({ADMIN}),
    Action.NOTIFICATIONS_MANAGE: frozenset({ADMIN}),
}

BANK = "authz"
MANIFEST_ID = "urn:c2pa:0f0e0d0c-0b0a-4908-8706-050403020100"
LABEL_ID = "00000000000000a1"
_C2PA_TAIL = bytes.fromhex("00110010800000aa00389b71")
_FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def _jumbf(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    description = b"jumd" + type_uuid + b"\x03" + label.encode() + b"\0"
    payload = struct.pack(">I", 4 + len(description)) + description + b"".join(children)
    return struct.pack(">I", 8 + len(payload)) + b"jumb" + payload


#: A minimal (unsigned) C2PA manifest store holding the manifest MANIFEST_ID.
MANIFEST_STORE = _jumbf(b"c2pa" + _C2PA_TAIL, "c2pa", _jumbf(b"c2ma" + _C2PA_TAIL, MANIFEST_ID))


def app_routes(api: Any) -> set[tuple[str, str]]:
    """Every (method, path) the app serves: its route tree walked (routes left out of the
    OpenAPI document included), joined with the OpenAPI document. The framework's own
    documentation routes are left out, and so are the web door's pages (``web.headers.is_web_path``),
    whose tables of who may open what are in tests/web."""
    found: set[tuple[str, str]] = set()

    def walk(routes: Iterable[Any]) -> None:
        for route in routes:
            if (isinstance(route, APIRoute | StarletteRoute) and route.path not in _FRAMEWORK_ROUTES
                    and not is_web_path(route.path)):
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # {item_id:path} -> {item_id}
                found.update((method, path) for method in route.methods or () if method != "HEAD")
            for child in (getattr(route, "routes", None),
                          getattr(getattr(route, "original_router", None), "routes", None)):
                if child:
                    walk(child)

    walk(api.client.app.routes)
    paths = api.client.get("/openapi.json").json()["paths"]
    documented = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    assert documented <= found, f"the route tree walk missed {sorted(documented - found)}"
    return found


@dataclass
class World:
    """What the requests refer to: a bank with one entry (added by the helpline), a photo, a
    manifest (MANIFEST_ID, bound to LABEL_ID, registered by the provider), and a case whose
    number and PIN are the victim's credentials. Shared by the module's tests: the counters hand
    out names and items no other call of the module has used."""

    api: Any
    entry_id: int
    photo_jpeg: bytes
    pdq_hex: str
    victim: dict[str, str]
    names: itertools.count[int]
    items: itertools.count[int]  # the registered items item-0, item-1, ... (one per "removed" call)

    def fresh_entry(self) -> int:
        """A new entry of BANK added by the helpline (each withdrawal or disable gets its own)."""
        response = self.api.post_json(f"/v1/banks/{BANK}/entries", {"signals": [
            {"type": "md5", "value": f"{next(self.names):032x}"}]}, HELPLINE)
        assert response.status_code == 201, response.text
        return int(response.json()["entries"][0]["id"])


def _entry_url(world: World) -> str:
    return f"/v1/banks/{BANK}/entries/{world.fresh_entry()}"


@functools.cache
def _unsigned_pdf() -> bytes:
    """A real PDF that no one signed: its check answers 200 with ``valid`` false."""
    from deepshield.reports.pdf import render_pdf

    return render_pdf("<p>Not an evidence pack.</p>")


def _photo(world: World, field: str = "file") -> dict[str, Any]:
    return {field: ("p.jpg", world.photo_jpeg, "image/jpeg")}


def _pdq_signal(world: World) -> list[dict[str, str]]:
    return [{"type": "pdq", "value": world.pdq_hex}]


def _binding() -> dict[str, str]:
    return {"bindingValue": LABEL_ID, "manifestId": MANIFEST_ID}


#: A valid call of each route: its URL and body.
REQUESTS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("GET", "/v1/banks"): lambda w: {"url": "/v1/banks"},
    ("POST", "/v1/banks"): lambda w: {"url": "/v1/banks", "json": {"name": f"made-{next(w.names)}"}},
    ("POST", "/v1/hash"): lambda w: {"url": "/v1/hash", "files": _photo(w)},
    ("POST", "/v1/match"): lambda w: {"url": "/v1/match", "json": {"signals": _pdq_signal(w)}},
    ("POST", "/v1/banks/{name}/entries"): lambda w: {
        "url": f"/v1/banks/{BANK}/entries", "json": {"signals": _pdq_signal(w)}},
    ("DELETE", "/v1/banks/{name}/entries/{entry_id}"): lambda w: {"url": _entry_url(w)},
    ("PATCH", "/v1/banks/{name}/entries/{entry_id}"): lambda w: {"url": _entry_url(w),
                                                                  "json": {"enabled": False}},
    ("POST", "/v1/watermark/detect"): lambda w: {"url": "/v1/watermark/detect", "files": _photo(w)},
    ("POST", "/v1/watermark/key"): lambda w: {"url": "/v1/watermark/key"},
    ("GET", "/v1/exchange/updates"): lambda w: {"url": "/v1/exchange/updates?checkpoint=0"},
    ("POST", "/v1/exchange/feedback"): lambda w: {
        "url": "/v1/exchange/feedback",
        "json": {"feedback": [{"entry_id": w.entry_id, "status": "Blocked"}]}},
    ("POST", "/h/hash"): lambda w: {"url": "/h/hash", "files": _photo(w, "photo")},
    ("GET", "/m/lookup"): lambda w: {"url": f"/m/lookup?signal_type=pdq&signal={w.pdq_hex}"},
    ("POST", "/m/lookup"): lambda w: {"url": "/m/lookup", "files": _photo(w, "photo")},
    ("GET", "/m/raw_lookup"): lambda w: {"url": f"/m/raw_lookup?signal_type=pdq&signal={w.pdq_hex}"},
    ("GET", "/m/index/status"): lambda w: {"url": "/m/index/status"},
    ("POST", "/manifests"): lambda w: {"url": "/manifests", "json": {
        "manifestStore": base64.b64encode(MANIFEST_STORE).decode(), "manifestId": MANIFEST_ID}},
    ("POST", "/bindings"): lambda w: {"url": "/bindings", "json": _binding()},
    ("PUT", "/bindings"): lambda w: {"url": "/bindings", "json": _binding()},
    ("GET", "/matches/byBinding"): lambda w: {
        "url": f"/matches/byBinding?alg={WATERMARK_ALG}&value={LABEL_ID}"},
    ("POST", "/matches/byBinding"): lambda w: {"url": "/matches/byBinding",
                                               "json": {"alg": WATERMARK_ALG, "value": LABEL_ID}},
    ("POST", "/matches/byContent"): lambda w: {"url": "/matches/byContent", "content": w.photo_jpeg},
    ("GET", "/manifests/{manifestId}"): lambda w: {"url": f"/manifests/{MANIFEST_ID}"},
    ("GET", "/services/supportedAlgorithms"): lambda w: {"url": "/services/supportedAlgorithms"},
    ("POST", "/v1/verify"): lambda w: {"url": "/v1/verify", "files": _photo(w)},
    ("POST", "/v1/forensics/compare"): lambda w: {"url": "/v1/forensics/compare",
                                                  "files": {**_photo(w, "suspect"), **_photo(w, "source")}},
    ("POST", "/v1/forensics/sources"): lambda w: {"url": "/v1/forensics/sources", "files": _photo(w)},
    ("GET", "/v1/audit/verify"): lambda w: {"url": "/v1/audit/verify"},
    ("GET", "/v1/audit/events"): lambda w: {"url": "/v1/audit/events?limit=5"},
    ("GET", "/v1/notifications"): lambda w: {"url": "/v1/notifications"},
    ("POST", "/v1/notifications/deliver"): lambda w: {"url": "/v1/notifications/deliver"},
    ("POST", "/v1/content"): lambda w: {"url": "/v1/content", "json": {"items": [
        {"item_id": f"upload-{next(w.names)}", "signals": [{"type": "pdq", "value": w.pdq_hex}]}]}},
    ("POST", "/v1/content/import"): lambda w: {
        "url": "/v1/content/import", "headers": {"content-type": "text/csv"},
        "content": f"item_id,signal_type,signal_value\nbulk-{next(w.names)},pdq,{w.pdq_hex}\n"},
    ("GET", "/v1/content/flagged"): lambda w: {"url": "/v1/content/flagged"},
    ("POST", "/v1/content/{item_id}/removed"): lambda w: {"url": f"/v1/content/item-{next(w.items)}/removed"},
    ("POST", "/v1/reports/file"): lambda w: {"url": "/v1/reports/file", "files": _photo(w)},
    ("GET", "/v1/reports/transparency"): lambda w: {"url": "/v1/reports/transparency?format=json"},
    ("POST", "/v1/reports/check"): lambda w: {
        "url": "/v1/reports/check", "files": {"file": ("r.pdf", _unsigned_pdf(), "application/pdf")}},
}
KEYED = sorted(route for route, allowed in ALLOWED.items() if allowed != PUBLIC)
PUBLIC_ROUTES = sorted(route for route, allowed in ALLOWED.items() if allowed == PUBLIC)

WRONG_CREDENTIALS = ["no key", "not a bearer scheme", "malformed key", "unknown key id", "wrong secret",
                     "revoked key"]


#: Registered items for the "removed" route, one per call: the module makes 12 such calls (six
#: wrong credentials, five roles and a victim); a call past the last one would get a 404.
REGISTERED_ITEMS = 40


@pytest.fixture(scope="module")
def world(start_module_api: Callable[[Settings], Api], module_cheap_kdf_settings: Settings) -> World:
    settings = module_cheap_kdf_settings
    # The victim signs in once per route and caller: no lockout however many calls the matrix makes.
    api = start_module_api(settings.with_overrides(
        cases=dataclasses.replace(settings.cases, pin_max_failures=1000)))
    # The matrix calls each public route once per role and credential: no rate limit here.
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    register_manifest(api.ctx, MANIFEST_ID, MANIFEST_STORE, [(WATERMARK_ALG, LABEL_ID)],
                      principal=api.principal(PROVIDER))
    photo_jpeg = encode_image(photo_pixels(11), "JPEG", quality=90)
    hashed = api.upload("/v1/hash", photo_jpeg, ADMIN)
    assert hashed.status_code == 200, hashed.text
    api.create_bank(BANK)
    added = api.post_json(f"/v1/banks/{BANK}/entries",
                          {"signals": [{"type": "pdq", "value": hashed.json()["pdq"]}]}, HELPLINE)
    assert added.status_code == 201, added.text
    # Registered items for the "removed" route (one per call), and keys that sign evidence packs.
    register_items(api.ctx, [ContentItemInput(f"item-{n}", [SignalInput("md5", f"{n:032x}")], None)
                             for n in range(REGISTERED_ITEMS)], SETUP)
    init_signing_keys(api.ctx, force=False, principal=SETUP)
    filed = api.post_json("/v1/requests", request_form(safety_check={"in_immediate_danger": False}), HELPLINE)
    assert filed.status_code == 201, filed.text
    return World(api, added.json()["entries"][0]["id"], photo_jpeg, hashed.json()["pdq"],
                 basic(filed.json()["case"]["case_number"], filed.json()["pin"]),
                 itertools.count(1000), itertools.count())


def _call(world: World, route: tuple[str, str], credentials: dict[str, str],
          request: dict[str, Any] | None = None) -> Any:
    """A valid call of ``route`` (``request``, or a new one) with ``credentials`` beside the
    request's own headers."""
    request = dict(request or REQUESTS[route](world))
    headers = {**request.pop("headers", {}), **credentials}
    return world.api.client.request(route[0], headers=headers, **request)


def _refused_call(world: World, route: tuple[str, str], credentials: dict[str, str]) -> tuple[Any, bool]:
    """A call expected to be refused: its response, and whether the banks stayed as they were
    (compared after the request was prepared, which may add the entry it names)."""
    request = REQUESTS[route](world)
    before = world.api.active_entries()
    response = _call(world, route, credentials, request)
    return response, world.api.active_entries() == before


def _authorization(api: Any, credential: str) -> dict[str, str]:
    """The headers for one kind of wrong credential."""
    admin_token = api.tokens[ADMIN]
    prefix, key_id, secret = admin_token.split("_", 2)
    if credential == "no key":
        return {}
    if credential == "not a bearer scheme":
        return {"Authorization": f"Basic {admin_token}"}
    if credential == "malformed key":
        return {"Authorization": "Bearer this-is-not-a-key"}
    if credential == "unknown key id":
        return {"Authorization": f"Bearer {prefix}_{'0' * 12}_{secret}"}
    if credential == "wrong secret":
        other = ("A" if secret[0] != "A" else "B") + secret[1:]
        return {"Authorization": f"Bearer {prefix}_{key_id}_{other}"}
    if credential == "revoked key":
        info, token = create_key(api.ctx, ADMIN, "soon revoked", SETUP)
        revoke_key(api.ctx, info.key_id, SETUP)
        return {"Authorization": f"Bearer {token}"}
    raise AssertionError(credential)


def _problem(api: Any, response: Any, status: int, code: str) -> str | None:
    """None if ``response`` is ``status`` with the error shape and ``code``; else what is wrong."""
    try:
        api.expect_error(response, status, code)
    except AssertionError as error:
        return str(error).splitlines()[0]
    return None


def _fail_on(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} calls answered wrongly:\n" + "\n".join(problems)


# --- The tables themselves ---------------------------------------------------------------------


def test_every_route_of_the_app_is_in_a_literal_table(world):
    from api.test_case_authorization import ALLOWED as CASE_ALLOWED

    served = app_routes(world.api)
    listed = set(ALLOWED) | set(CASE_ALLOWED) | OPEN_OR_REFUSED
    assert served - listed == set(), "routes served but in no literal table (add them, with their roles)"
    assert listed - served == set(), "routes in a literal table that the app does not serve"
    assert {route for route in served if route[1].startswith(CASE_MATRIX_PREFIXES)} == set(CASE_ALLOWED)
    assert set(REQUESTS) == set(ALLOWED), "every route of the table needs a valid request"


def test_the_role_table_in_access_py_is_the_documented_one():
    assert set(ACTION_TABLE) == set(Action), "an act is missing from the documented table"
    wrong = {action.value: (sorted(roles_for(action)), sorted(expected))
             for action, expected in ACTION_TABLE.items() if roles_for(action) != expected}
    assert not wrong, f"access.py differs from the documents (code, documented): {wrong}"


# --- Every route, every caller -------------------------------------------------------------------


def test_keyed_routes_refuse_missing_malformed_wrong_and_revoked_keys_with_401(world):
    api, problems = world.api, []
    for route in KEYED:
        for credential in WRONG_CREDENTIALS:
            response, unchanged = _refused_call(world, route, _authorization(api, credential))
            problem = _problem(api, response, 401, "unauthorized")
            if problem is None and response.headers.get("www-authenticate") != "Bearer":
                problem = "no WWW-Authenticate: Bearer"
            if problem is None and api.tokens[ADMIN].split("_", 2)[2] in response.text:
                problem = "the key's secret came back"
            if problem is None and not unchanged:
                problem = "a refused call changed the banks"
            if problem:
                problems.append(f"{route} with {credential}: {problem}")
    _fail_on(problems)


def test_each_route_serves_exactly_the_documented_roles(world):
    api, problems = world.api, []
    for route in KEYED:
        allowed = ALLOWED[route]
        assert isinstance(allowed, frozenset)
        for role in sorted(EVERY_KEY):
            response = _call(world, route, api.headers(role))
            if role in allowed:
                if not 200 <= response.status_code < 300:
                    problems.append(f"{route} as {role}: {response.status_code} {response.text[:200]}")
                continue
            problem = _problem(api, response, 403, "forbidden")
            if problem is None and role.value not in response.json()["detail"]:
                problem = f"the 403 does not name the role: {response.text}"
            if problem:
                problems.append(f"{route} as {role}: {problem}")
        # A victim's case number and PIN reach her case's routes only; here they are no key.
        response, unchanged = _refused_call(world, route, world.victim)
        problem = _problem(api, response, 401, "unauthorized") if VICTIM not in allowed else None
        if problem is None and not unchanged:
            problem = "a refused call changed the banks"
        if problem:
            problems.append(f"{route} as a victim: {problem}")
    _fail_on(problems)


def test_public_routes_serve_callers_with_no_key_any_wrong_one_or_any_role(world):
    api, problems = world.api, []
    for route in PUBLIC_ROUTES:
        callers = {credential: _authorization(api, credential) for credential in WRONG_CREDENTIALS}
        callers.update({role.value: api.headers(role) for role in sorted(EVERY_KEY)})
        callers["a victim"] = world.victim
        for name, credentials in callers.items():
            response = _call(world, route, credentials)
            if not 200 <= response.status_code < 300:
                problems.append(f"{route} with {name}: {response.status_code} {response.text[:200]}")
    _fail_on(problems)


def test_forbidden_writes_change_nothing_and_are_not_logged_as_done(world):
    api, problems = world.api, []
    writes = [route for route in KEYED if route[0] != "GET" and PLATFORM not in ALLOWED[route]]
    assert writes, "the platform role may no longer be refused any write"
    # Other tests of the module may have added entries for the photo: what it matches now must
    # still be what it matches after the refused writes, the world's entry among them.
    photo = [{"type": "pdq", "value": world.pdq_hex}]
    matched = api.match_signals(photo)
    assert world.entry_id in {match["entry_id"] for match in matched}
    with api.ctx.store.transaction() as session:
        last_seq = max(session.scalar(select(func.max(table.seq))) or 0
                       for table in (AuditEvent, AuditReadEvent))
    for route in writes:
        response, unchanged = _refused_call(world, route, api.headers(PLATFORM))
        problem = _problem(api, response, 403, "forbidden")
        if problem is None and not unchanged:
            problem = "a refused call changed the banks"
        if problem:
            problems.append(f"{route}: {problem}")
    _fail_on(problems)
    assert api.match_signals(photo) == matched
    with api.ctx.store.transaction() as session:  # the whole log: reads are in their own table
        platform_actions = {action for table in (AuditEvent, AuditReadEvent)
                            for action in session.scalars(select(table.action).where(
                                table.seq > last_seq, table.actor == api.actor(PLATFORM)))}
    assert platform_actions, "the platform's calls were not logged at all"
    assert not {action for action in platform_actions if action.startswith("bank.")}


def test_anonymous_call_with_an_invalid_body_gets_401_not_a_body_error(world):
    api = world.api
    response = api.client.post("/v1/banks", content=b"{not json",
                               headers={"content-type": "application/json"})
    api.expect_error(response, 401, "unauthorized")


def test_health_needs_no_key_and_reports_ok(world):
    api = world.api
    for headers in ({}, {"Authorization": "Bearer this-is-not-a-key"}):
        response = api.client.get("/v1/health", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["store"] == api.ctx.store.backend
        assert set(body) == {"status", "store", "version"}


def test_a_victims_credentials_reach_her_case_but_not_a_file_pack(world):
    # Issue 12, Fix 9: the case's pack yes (scoped), the installation's signature on any file no.
    api = world.api
    case_number = base64.b64decode(world.victim["Authorization"].split()[1]).decode().split(":")[0]
    own = api.client.get(f"/v1/cases/{case_number}/report", headers=world.victim)
    assert own.status_code == 200 and own.content.startswith(b"%PDF"), own.text[:200]
    api.expect_error(_call(world, ("POST", "/v1/reports/file"), world.victim), 401, "unauthorized")
