"""Who may call what: every route against every kind of caller.

Expected outcomes come from the permission table in ``services/access.py`` (``roles_for``),
so the API and the table cannot drift apart silently.
"""

from __future__ import annotations

import base64
import functools
import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services.access import KEY_ROLES, Action, Role, roles_for
from deepshield.services.banks import SignalInput
from deepshield.services.content_registry import ContentItemInput, register_items
from deepshield.services.keys import create_key, revoke_key
from deepshield.services.manifest_registry import WATERMARK_ALG, register_manifest
from deepshield.services.signing_keys import init_signing_keys
from deepshield.store import audit_repository
from factories import encode_image, photo_pixels

BANK = "authz"
MANIFEST_ID = "urn:c2pa:0f0e0d0c-0b0a-4908-8706-050403020100"
LABEL_ID = "00000000000000a1"
_C2PA_TAIL = bytes.fromhex("00110010800000aa00389b71")


def _jumbf(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    description = b"jumd" + type_uuid + b"\x03" + label.encode() + b"\0"
    payload = struct.pack(">I", 4 + len(description)) + description + b"".join(children)
    return struct.pack(">I", 8 + len(payload)) + b"jumb" + payload


#: A minimal (unsigned) C2PA manifest store holding the manifest MANIFEST_ID.
MANIFEST_STORE = _jumbf(b"c2pa" + _C2PA_TAIL, "c2pa", _jumbf(b"c2ma" + _C2PA_TAIL, MANIFEST_ID))


@dataclass
class World:
    """What the requests of the matrix refer to: a bank, one of its entries and a photo (and a
    manifest, MANIFEST_ID, bound to LABEL_ID)."""

    entry_id: int
    photo_jpeg: bytes
    pdq_hex: str
    names: itertools.count[int]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as declared in the app, with {placeholders}
    action: Action | None  # None: a public route
    request: Callable[[World], dict[str, Any]]  # the URL and body of a valid call
    public: bool = False  # served to every caller, with or without a key

    @property
    def allowed(self) -> frozenset[Role]:
        return frozenset(Role) if self.public else roles_for(self.action)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _entry_url(world: World) -> str:
    return f"/v1/banks/{BANK}/entries/{world.entry_id}"


ROUTES = [
    Route("GET", "/v1/banks", Action.BANK_LIST, lambda w: {"url": "/v1/banks"}),
    Route("POST", "/v1/banks", Action.BANK_CREATE,
          lambda w: {"url": "/v1/banks", "json": {"name": f"made-{next(w.names)}"}}),
    Route("POST", "/v1/hash", Action.HASH,
          lambda w: {"url": "/v1/hash", "files": {"file": ("p.jpg", w.photo_jpeg, "image/jpeg")}}),
    Route("POST", "/v1/match", Action.MATCH,
          lambda w: {"url": "/v1/match", "json": {"signals": [{"type": "pdq", "value": w.pdq_hex}]}}),
    Route("POST", "/v1/banks/{name}/entries", Action.BANK_ADD,
          lambda w: {"url": f"/v1/banks/{BANK}/entries",
                     "json": {"signals": [{"type": "pdq", "value": w.pdq_hex}]}}),
    Route("DELETE", "/v1/banks/{name}/entries/{entry_id}", Action.BANK_WITHDRAW,
          lambda w: {"url": _entry_url(w)}),
    Route("PATCH", "/v1/banks/{name}/entries/{entry_id}", Action.BANK_DISABLE,
          lambda w: {"url": _entry_url(w), "json": {"enabled": False}}),
    Route("POST", "/v1/watermark/detect", Action.WATERMARK_DETECT,
          lambda w: {"url": "/v1/watermark/detect",
                     "files": {"file": ("p.jpg", w.photo_jpeg, "image/jpeg")}}),
    Route("GET", "/v1/exchange/updates", Action.EXCHANGE_FETCH,
          lambda w: {"url": "/v1/exchange/updates?checkpoint=0"}),
    Route("POST", "/v1/exchange/feedback", Action.EXCHANGE_FEEDBACK,
          lambda w: {"url": "/v1/exchange/feedback",
                     "json": {"feedback": [{"entry_id": w.entry_id, "status": "Blocked"}]}}),
    # HMA-compatible routes (GET /h/hash?url= is refused for everyone: tests/api/test_hma.py).
    Route("POST", "/h/hash", Action.HASH,
          lambda w: {"url": "/h/hash", "files": {"photo": ("p.jpg", w.photo_jpeg, "image/jpeg")}}),
    Route("GET", "/m/lookup", Action.MATCH,
          lambda w: {"url": f"/m/lookup?signal_type=pdq&signal={w.pdq_hex}"}),
    Route("POST", "/m/lookup", Action.MATCH,
          lambda w: {"url": "/m/lookup", "files": {"photo": ("p.jpg", w.photo_jpeg, "image/jpeg")}}),
    Route("GET", "/m/raw_lookup", Action.MATCH,
          lambda w: {"url": f"/m/raw_lookup?signal_type=pdq&signal={w.pdq_hex}"}),
    Route("GET", "/m/index/status", Action.MATCH, lambda w: {"url": "/m/index/status"}),
    # The C2PA Soft Binding Resolution API (docs/SOFT_BINDING_API.md): keyed writes...
    Route("POST", "/manifests", Action.MANIFEST_WRITE,
          lambda w: {"url": "/manifests", "json": {"manifestStore": base64.b64encode(MANIFEST_STORE).decode(),
                                                   "manifestId": MANIFEST_ID}}),
    Route("POST", "/bindings", Action.MANIFEST_WRITE,
          lambda w: {"url": "/bindings", "json": {"bindingValue": LABEL_ID, "manifestId": MANIFEST_ID}}),
    Route("PUT", "/bindings", Action.MANIFEST_WRITE,
          lambda w: {"url": "/bindings", "json": {"bindingValue": LABEL_ID, "manifestId": MANIFEST_ID}}),
    # ...and public reads.
    Route("GET", "/matches/byBinding", None,
          lambda w: {"url": f"/matches/byBinding?alg={WATERMARK_ALG}&value={LABEL_ID}"}, public=True),
    Route("POST", "/matches/byBinding", None,
          lambda w: {"url": "/matches/byBinding", "json": {"alg": WATERMARK_ALG, "value": LABEL_ID}},
          public=True),
    Route("POST", "/matches/byContent", None,
          lambda w: {"url": "/matches/byContent", "content": w.photo_jpeg}, public=True),
    Route("GET", "/manifests/{manifestId}", None, lambda w: {"url": f"/manifests/{MANIFEST_ID}"},
          public=True),
    Route("GET", "/services/supportedAlgorithms", None, lambda w: {"url": "/services/supportedAlgorithms"},
          public=True),
    # The public verification interface (a valid key is logged by name and not rate-limited).
    Route("POST", "/v1/verify", None,
          lambda w: {"url": "/v1/verify", "files": {"file": ("p.jpg", w.photo_jpeg, "image/jpeg")}},
          public=True),
    # The audit log, the notification outbox (admin), the platform's content registry.
    Route("GET", "/v1/audit/verify", Action.AUDIT_VERIFY, lambda w: {"url": "/v1/audit/verify"}),
    Route("GET", "/v1/audit/events", Action.AUDIT_VERIFY, lambda w: {"url": "/v1/audit/events?limit=5"}),
    Route("GET", "/v1/notifications", Action.NOTIFICATIONS_MANAGE, lambda w: {"url": "/v1/notifications"}),
    Route("POST", "/v1/notifications/deliver", Action.NOTIFICATIONS_MANAGE,
          lambda w: {"url": "/v1/notifications/deliver"}),
    Route("POST", "/v1/content", Action.CONTENT_REGISTER,
          lambda w: {"url": "/v1/content", "json": {"items": [
              {"item_id": f"upload-{next(w.names)}", "signals": [{"type": "pdq", "value": w.pdq_hex}]}]}}),
    Route("POST", "/v1/content/import", Action.CONTENT_REGISTER,
          lambda w: {"url": "/v1/content/import", "headers": {"content-type": "text/csv"},
                     "content": f"item_id,signal_type,signal_value\nbulk-{next(w.names)},pdq,{w.pdq_hex}\n"}),
    Route("GET", "/v1/content/flagged", Action.CONTENT_SWEEP, lambda w: {"url": "/v1/content/flagged"}),
    Route("POST", "/v1/content/{item_id}/removed", Action.CONTENT_SWEEP,
          lambda w: {"url": f"/v1/content/item-{next(w.names)}/removed"}),
    # Evidence packs and the transparency report (case packs: tests/api/test_case_authorization.py).
    Route("POST", "/v1/reports/file", Action.REPORT_EVIDENCE,
          lambda w: {"url": "/v1/reports/file", "files": {"file": ("p.jpg", w.photo_jpeg, "image/jpeg")}}),
    Route("GET", "/v1/reports/transparency", Action.REPORT_TRANSPARENCY,
          lambda w: {"url": "/v1/reports/transparency?format=json"}),
    # Anyone holding a pack may check it, like /v1/verify.
    Route("POST", "/v1/reports/check", None,
          lambda w: {"url": "/v1/reports/check",
                     "files": {"file": ("r.pdf", _unsigned_pdf(), "application/pdf")}},
          public=True),
]
KEYED_ROUTES = [route for route in ROUTES if not route.public]
PUBLIC_ROUTES = [route for route in ROUTES if route.public]
#: Routes that need no key, and the one refused to every caller.
OPEN_OR_REFUSED = {("GET", "/v1/health"), ("GET", "/status"), ("GET", "/h/hash")}
#: Takedown cases, victims and misuse have their own matrix, with victims' case number and PIN
#: and per-case scoping: tests/api/test_case_authorization.py.
CASE_MATRIX_PREFIXES = ("/v1/requests", "/v1/cases", "/v1/victim", "/v1/misuse")


@functools.cache
def _unsigned_pdf() -> bytes:
    """A real PDF that no one signed: its check answers 200 with ``valid`` false."""
    from deepshield.reports.pdf import render_pdf

    return render_pdf("<p>Not an evidence pack.</p>")

WRONG_CREDENTIALS = ["no key", "not a bearer scheme", "malformed key", "unknown key id", "wrong secret",
                     "revoked key"]


@pytest.fixture
def world(api) -> World:
    """A bank holding one photo's hash, added by the helpline; a manifest bound to LABEL_ID."""
    # The matrix calls each public route once per role and credential: no rate limit here.
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    register_manifest(api.ctx, MANIFEST_ID, MANIFEST_STORE, [(WATERMARK_ALG, LABEL_ID)], actor="test:setup")
    photo_jpeg = encode_image(photo_pixels(11), "JPEG", quality=90)
    hashed = api.upload("/v1/hash", photo_jpeg, Role.ADMIN)
    assert hashed.status_code == 200, hashed.text
    api.create_bank(BANK)
    added = api.post_json(f"/v1/banks/{BANK}/entries",
                          {"signals": [{"type": "pdq", "value": hashed.json()["pdq"]}]}, Role.HELPLINE)
    assert added.status_code == 201, added.text
    # Registered items for the "removed" route (one per call), and keys that sign evidence packs.
    register_items(api.ctx, [ContentItemInput(f"item-{n}", [SignalInput("md5", f"{n:032x}")], None)
                             for n in range(40)], actor="test:setup")
    init_signing_keys(api.ctx, force=False, actor="test:setup")
    return World(added.json()["entries"][0]["id"], photo_jpeg, hashed.json()["pdq"], itertools.count())


def _call(api, route: Route, credentials: dict[str, str], request: dict[str, Any]) -> Any:
    """Send one of the matrix's requests with ``credentials`` beside the request's own headers."""
    headers = {**request.pop("headers", {}), **credentials}
    return api.client.request(route.method, headers=headers, **request)


def _authorization(api, credential: str) -> dict[str, str]:
    """The headers for one kind of wrong credential."""
    admin_token = api.tokens[Role.ADMIN]
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
        info, token = create_key(api.ctx, Role.ADMIN, "soon revoked", "test:setup")
        revoke_key(api.ctx, info.key_id, "test:setup")
        return {"Authorization": f"Bearer {token}"}
    raise AssertionError(credential)


def test_every_route_but_the_open_ones_is_in_the_authorization_matrix(api):
    # The OpenAPI document is the public list of routes (the router's own tree is private).
    paths = api.client.get("/openapi.json").json()["paths"]
    declared = {(method.upper(), path) for path, operations in paths.items() for method in operations
                if not path.startswith(CASE_MATRIX_PREFIXES)}
    assert declared - OPEN_OR_REFUSED == {(route.method, route.path) for route in ROUTES}


@pytest.mark.parametrize("route", KEYED_ROUTES, ids=str)
def test_route_refuses_missing_malformed_wrong_and_revoked_keys_with_401(api, world, route):
    for credential in WRONG_CREDENTIALS:
        request = route.request(world)
        response = _call(api, route, _authorization(api, credential), request)
        body = api.expect_error(response, 401, "unauthorized")
        assert response.headers.get("www-authenticate") == "Bearer", credential
        assert api.tokens[Role.ADMIN].split("_", 2)[2] not in body["detail"]
    assert api.active_entries() == {BANK: 1}, "a refused call changed the banks"


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_serves_the_roles_the_access_table_allows_and_403s_the_others(api, world, route):
    allowed = route.allowed
    for role in sorted(KEY_ROLES):
        response = _call(api, route, api.headers(role), route.request(world))
        if role in allowed:
            assert 200 <= response.status_code < 300, f"{role}: {response.status_code} {response.text}"
        else:
            body = api.expect_error(response, 403, "forbidden")
            assert role.value in body["detail"], body


@pytest.mark.parametrize("route", PUBLIC_ROUTES, ids=str)
def test_public_route_serves_callers_with_no_key_or_any_wrong_one(api, world, route):
    for credential in WRONG_CREDENTIALS:
        response = _call(api, route, _authorization(api, credential), route.request(world))
        assert 200 <= response.status_code < 300, f"{credential}: {response.status_code} {response.text}"


def test_forbidden_writes_change_nothing_and_are_not_logged_as_done(api, world):
    platform = Role.PLATFORM
    writes = [route for route in KEYED_ROUTES if route.action is not Action.BANK_LIST
              and platform not in route.allowed]
    assert writes, "the platform role may no longer be refused any write"
    for route in writes:
        response = _call(api, route, api.headers(platform), route.request(world))
        api.expect_error(response, 403, "forbidden")
    assert api.active_entries() == {BANK: 1}
    assert api.match_signals([{"type": "pdq", "value": world.pdq_hex}])[0]["entry_id"] == world.entry_id
    with api.ctx.store.transaction() as session:
        platform_actions = {event.action for event in audit_repository.recent_events(session, 1000)
                            if event.actor == api.actor(platform)}
    assert not {action for action in platform_actions if action.startswith("bank.")}


def test_anonymous_call_with_an_invalid_body_gets_401_not_a_body_error(api):
    response = api.client.post("/v1/banks", content=b"{not json",
                               headers={"content-type": "application/json"})
    api.expect_error(response, 401, "unauthorized")


def test_health_needs_no_key_and_reports_ok(api):
    for headers in ({}, {"Authorization": "Bearer this-is-not-a-key"}):
        response = api.client.get("/v1/health", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["store"] == api.ctx.store.backend
        assert set(body) == {"status", "store", "version"}
