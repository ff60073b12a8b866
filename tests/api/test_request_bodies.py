"""Every route that reads a body reads it through ``api/bodies.py``, under its service's limit.

Against the real app on a real database (SQLite and PostgreSQL): a body over a route's limit is
413 with the route's code, whether it declares its length (refused before one byte is read) or
streams without one (reading stops as soon as the limit is passed); a body of the wrong content
type is 400, unread; and valid bodies are still taken. The oversized bodies are fed to the app
directly through ASGI ``receive``, counting what the app pulls: the TestClient reads a streamed
body whole before the app sees it, so it could not tell whether the app stopped.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from api.conftest import Api
from api.test_cases_api import complete_form
from api.test_soft_binding import c2pa_store
from deepshield.api.bodies import JSON, MAX_JSON_BODY_BYTES
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.media import MediaLimits
from deepshield.services.access import Role
from deepshield.services.label import manifest_registry
from deepshield.services.label.manifest_registry import WATERMARK_ALG
from deepshield.services.spread import banks, content_registry, exchange, matching
from deepshield.services.takedown import intake, review

BANK = "bodies"
CASE = "DS-2222-2222-2222"  # the keyed routes read the body before they look the case up
GOOD_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
OTHER_PDQ = "0707f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
LABEL_ID = "0123456789abcdef"
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Route:
    """A route that reads a body: who may call it, what it takes, its limit and its 413 code."""

    method: str
    path: str
    role: Role | None  # None: a public route
    limit: int
    too_large: str
    content_type: str = "application/json"
    valid: bytes = b"{}"  # a body of the right type and size (not necessarily one the service takes)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


_SIGNALS = _json({"signals": [{"type": "pdq", "value": GOOD_PDQ}]})
_ACTION = _json({"reason": "waiting for the requester"})
_BINDING = _json({"manifestId": "urn:c2pa:a", "bindingValue": LABEL_ID})

ROUTES = [
    Route("POST", "/v1/banks", Role.ADMIN, MAX_JSON_BODY_BYTES, "media_too_large",
          valid=_json({"name": "b"})),
    Route("POST", f"/v1/banks/{BANK}/entries", Role.HELPLINE, banks.MAX_ADD_BODY_BYTES, "media_too_large",
          valid=_SIGNALS),
    Route("PATCH", f"/v1/banks/{BANK}/entries/1", Role.ADMIN, MAX_JSON_BODY_BYTES, "media_too_large",
          valid=_json({"enabled": False})),
    Route("POST", "/v1/match", Role.PLATFORM, matching.MAX_QUERY_BODY_BYTES, "media_too_large",
          valid=_SIGNALS),
    Route("POST", "/v1/exchange/feedback", Role.PARTNER, exchange.MAX_FEEDBACK_BODY_BYTES, "media_too_large",
          valid=_json({"feedback": []})),
    Route("POST", "/v1/content", Role.PLATFORM, content_registry.MAX_REGISTER_BODY_BYTES, "media_too_large"),
    Route("POST", "/v1/content/import", Role.PLATFORM, content_registry.MAX_IMPORT_BODY_BYTES,
          "media_too_large", content_type="text/csv", valid=b"item_id,signal_type,signal_value\n"),
    Route("POST", "/v1/requests", Role.HELPLINE, intake.MAX_INTAKE_BODY_BYTES, "body_too_large"),
    Route("POST", "/v1/requests/public", None, intake.MAX_INTAKE_BODY_BYTES, "body_too_large"),
    Route("PATCH", f"/v1/cases/{CASE}", Role.HELPLINE, intake.MAX_INTAKE_BODY_BYTES, "body_too_large"),
    *(Route("POST", f"/v1/cases/{CASE}/{action}", Role.ADMIN, review.MAX_ACTION_BODY_BYTES,
            "body_too_large", valid=_ACTION)
      for action in ("pause", "decision", "close", "appeals", "appeals/1/decision", "withdraw",
                     "legal-hold")),
    Route("POST", "/v1/misuse/strikes", Role.ADMIN, review.MAX_ACTION_BODY_BYTES, "body_too_large"),
    Route("POST", "/matches/byBinding", None, manifest_registry.MAX_BINDINGS_BODY_BYTES, "media_too_large",
          valid=_json({"alg": WATERMARK_ALG, "value": LABEL_ID})),
    Route("POST", "/manifests", Role.PROVIDER, manifest_registry.MAX_REGISTRATION_BODY_BYTES,
          "manifest_too_large"),
    Route("POST", "/manifests", Role.PROVIDER, manifest_registry.MAX_STORE_BODY_BYTES, "manifest_too_large",
          content_type="application/c2pa", valid=c2pa_store("urn:c2pa:a")),
    Route("POST", "/bindings", Role.PROVIDER, manifest_registry.MAX_BINDINGS_BODY_BYTES, "media_too_large",
          valid=_BINDING),
    Route("PUT", "/bindings", Role.PROVIDER, manifest_registry.MAX_BINDINGS_BODY_BYTES, "media_too_large",
          valid=_BINDING),
]


@pytest.fixture
def body_api(case_api: Api) -> Api:
    """The app with a cheap PIN KDF and the public rate limit off (the shared ``case_api``)."""
    return case_api


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    consumed: int  # body bytes the app pulled through ``receive``


def call(api: Api, route: Route, chunks: Iterator[bytes], *, content_type: str | None = None,
         content_length: int | None = None) -> Answer:
    """Send ``route`` a body of ``chunks`` through the app's ASGI interface, on the app's own event
    loop, and count the bytes the app asks for."""
    headers = {"content-type": content_type or route.content_type}
    if route.role is not None:
        headers.update({name.lower(): value for name, value in api.headers(route.role).items()})
    if content_length is not None:
        headers["content-length"] = str(content_length)
    else:
        headers["transfer-encoding"] = "chunked"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": route.method,
             "scheme": "http", "path": route.path, "raw_path": route.path.encode(), "query_string": b"",
             "root_path": "", "state": {}, "client": ("192.0.2.1", 40000), "server": ("testserver", 80),
             "headers": [(name.encode(), value.encode()) for name, value in headers.items()]}
    consumed = 0
    status = 0
    sent = bytearray()

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            sent.extend(message.get("body", b""))

    async def run() -> None:
        await api.client.app(scope, receive, send)

    api.client.portal.call(run)  # type: ignore[union-attr]
    return Answer(status, json.loads(sent) if sent else {}, consumed)


def oversized(limit: int) -> Iterator[bytes]:
    """A body that streams well past ``limit`` (without a declared length): a JSON string that
    never ends, as far as a reader that stops at the limit can tell."""
    yield b'{"x": "'
    for _ in range(limit // CHUNK + 8):
        yield b"a" * CHUNK


def _ids(route: Route) -> str:
    return f"{route.method} {route.path} {route.content_type}"


@pytest.mark.parametrize("route", ROUTES, ids=_ids)
def test_a_body_over_the_routes_limit_is_413_without_being_read_in_full(body_api: Api, route: Route):
    streamed = call(body_api, route, oversized(route.limit))
    assert streamed.status == 413, streamed
    assert streamed.body["error"] == route.too_large, streamed.body
    assert f"{route.limit:,} bytes" in streamed.body["detail"]
    # The reader stopped at the chunk that passed the limit: it never asked for the rest.
    assert route.limit < streamed.consumed <= route.limit + CHUNK, (streamed.consumed, route.limit)

    declared = call(body_api, route, oversized(route.limit), content_length=route.limit + 1)
    assert (declared.status, declared.body["error"], declared.consumed) == (413, route.too_large, 0)

    # At the limit exactly, the body is read in full and judged on what it says instead.
    at_limit = call(body_api, route, iter([route.valid.ljust(route.limit)]), content_length=route.limit)
    assert at_limit.status != 413 and at_limit.consumed == route.limit, at_limit
    body_api.assert_healthy()


@pytest.mark.parametrize("route", ROUTES, ids=_ids)
def test_a_body_of_the_wrong_content_type_is_400_unread(body_api: Api, route: Route):
    # No route takes a URL-encoded form (the import takes text/plain as well as CSV).
    answer = call(body_api, route, iter([route.valid]), content_type="application/x-www-form-urlencoded")
    assert (answer.status, answer.body["error"]) == (400, "invalid_request"), answer
    if route.path.endswith("/withdraw"):
        # Its body is optional: it is read to see whether it is empty (then: the defaults).
        assert answer.consumed == len(route.valid)
    else:
        assert answer.consumed == 0
    if route.content_type == "application/json":
        assert "application/json" in answer.body["detail"]


def test_a_raw_upload_over_the_byte_limit_is_413_without_being_read_in_full(start_api, settings):
    api = start_api(dataclasses.replace(settings, limits=MediaLimits(max_image_bytes=CHUNK,
                                                                     max_video_bytes=CHUNK)))
    api.client.app.state.public_rate_limiter = PublicRateLimiter(  # type: ignore[attr-defined]
        rate_per_minute=0)
    route = Route("POST", "/matches/byContent", None, CHUNK, "media_too_large", content_type="image/jpeg")
    answer = call(api, route, (b"\xff" * 4096 for _ in range(1000)))
    assert (answer.status, answer.body["error"]) == (413, "media_too_large"), answer
    assert CHUNK < answer.consumed <= CHUNK + 4096


def test_json_bodies_are_validated_with_the_routes_model(body_api: Api):
    refused = body_api.client.post("/v1/banks", content=b'{"name": 5}', headers={
        **body_api.headers(Role.ADMIN), "content-type": "application/json; charset=utf-8"})
    assert "name" in body_api.expect_error(refused, 422, "invalid_request")["detail"]
    refused = body_api.client.post(f"/v1/cases/{CASE}/pause", content=b'{"reason": "x", "until": 1}',
                                   headers={**body_api.headers(Role.ADMIN), "content-type": JSON})
    assert "until" in body_api.expect_error(refused, 422, "invalid_request")["detail"]


def test_valid_bodies_are_still_taken_on_every_route(body_api: Api):
    api = body_api
    admin, platform, helpline, provider = (api.headers(role) for role in
                                           (Role.ADMIN, Role.PLATFORM, Role.HELPLINE, Role.PROVIDER))

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    ok(api.client.post("/v1/banks", json={"name": BANK}, headers=admin), 201)
    entry = ok(api.client.post(f"/v1/banks/{BANK}/entries", headers=helpline,
                               json={"signals": [{"type": "pdq", "value": GOOD_PDQ}]}), 201)["entries"][0]
    ok(api.client.patch(f"/v1/banks/{BANK}/entries/{entry['id']}", json={"enabled": True}, headers=admin))
    assert ok(api.client.post("/v1/match", json={"signals": [{"type": "pdq", "value": GOOD_PDQ}]},
                              headers=platform))["matches"]
    ok(api.client.post("/v1/exchange/feedback", headers=api.headers(Role.PARTNER),
                       json={"feedback": [{"entry_id": entry["id"], "status": "Blocked"}]}))
    ok(api.client.post("/v1/content", headers=platform, json={
        "items": [{"item_id": "item-1", "signals": [{"type": "pdq", "value": OTHER_PDQ}]}]}), 201)
    csv = f"item_id,signal_type,signal_value\nitem-2,pdq,{OTHER_PDQ}\n"
    ok(api.client.post("/v1/content/import", content=csv, headers={**platform, "content-type": "text/csv"}),
       201)

    # Takedown: filing (keyed, public, incomplete then completed), review, appeal, hold, withdrawal.
    filed = ok(api.client.post("/v1/requests", json=complete_form(), headers=helpline), 201)
    number = filed["case"]["case_number"]
    ok(api.client.post("/v1/requests/public", json=complete_form()), 201)
    draft = complete_form()
    del draft["good_faith"]
    other = ok(api.client.post("/v1/requests", json=draft, headers=helpline), 201)["case"]["case_number"]
    ok(api.client.patch(f"/v1/cases/{other}", json={"good_faith": True}, headers=helpline))
    ok(api.client.post(f"/v1/cases/{number}/pause", json={"reason": "asked for the URL"}, headers=platform))
    ok(api.client.post(f"/v1/cases/{number}/resume", headers=platform))
    ok(api.client.post(f"/v1/cases/{number}/decision", headers=platform,
                       json={"decision": "declined", "reasons": "Could not find the item."}))
    case = ok(api.client.post(f"/v1/cases/{number}/appeals", json={"statement": "It is still there."},
                              headers=helpline), 201)
    ok(api.client.post(f"/v1/cases/{number}/appeals/{case['appeals'][-1]['id']}/decision", headers=admin,
                       json={"outcome": "upheld", "reasons": "Still not found."}))
    ok(api.client.post(f"/v1/cases/{number}/close", json={"reason": "decided"}, headers=platform))
    ok(api.client.post(f"/v1/cases/{number}/legal-hold", json={"hold": True}, headers=admin))
    ok(api.client.post(f"/v1/cases/{other}/withdraw", json={"confirm_now": True}, headers=helpline))
    ok(api.client.post("/v1/misuse/strikes", headers=platform,
                       json={"subject_kind": "uploader", "subject_ref": "uploader-1", "reason": "reposts"}),
       201)

    # The manifest repository: JSON and raw registrations, bindings, a query.
    stored = base64.b64encode(c2pa_store("urn:c2pa:one")).decode()
    ok(api.client.post("/manifests", headers=provider, json={
        "manifestStore": stored, "bindings": [{"alg": WATERMARK_ALG, "value": LABEL_ID}]}))
    ok(api.client.post("/manifests", content=c2pa_store("urn:c2pa:two"),
                       headers={**provider, "content-type": "application/c2pa"}))
    ok(api.client.put("/bindings", json={"manifestId": "urn:c2pa:two", "bindingValue": LABEL_ID},
                      headers=provider), 204)
    ok(api.client.post("/bindings", headers=provider,
                       json={"manifestId": "urn:c2pa:one", "bindingValue": "fedcba9876543210"}), 204)
    matches = ok(api.client.post("/matches/byBinding", json={"alg": WATERMARK_ALG, "value": LABEL_ID}))
    assert [match["manifestId"] for match in matches["matches"]] == ["urn:c2pa:two"]
