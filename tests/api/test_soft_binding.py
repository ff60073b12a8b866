"""The Soft Binding Resolution API over real HTTP (TestClient, and a uvicorn server for the
client), on SQLite and PostgreSQL: shapes, public reads, keyed writes, rate limits, bad input."""

from __future__ import annotations

import base64
import io
import socket
import struct
import uuid
from collections.abc import Iterator
from functools import cache

import pytest
from PIL import Image

from deepshield.api.app import create_app
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.errors import Conflict, Forbidden, InvalidRequest, NotFound, RateLimited, Unauthorized
from deepshield.media import MediaLimits
from deepshield.provenance.repository_client import RepositoryClient, RepositoryMatch, RepositoryUnavailable
from deepshield.services.access import Role
from deepshield.services.api_keys import create_key
from deepshield.services.label.labelling import label_media
from deepshield.services.label.manifest_registry import PDQ_ALG, WATERMARK_ALG, binding_history
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.label.watermark_keys import parse_key_document
from deepshield.services.spread.hashing import hash_media
from deepshield.settings import load_settings
from deepshield.store import manifest_repository
from deepshield.watermark import embed
from factories import encode_image, photo_pixels
from live_server import serving
from principals import SETUP

LABEL_ID = "0123456789abcdef"
OTHER_LABEL_ID = "fedcba9876543210"
_C2PA_TAIL = bytes.fromhex("00110010800000aa00389b71")
LIMITS = MediaLimits()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    return _box(b"jumb", _box(b"jumd", type_uuid + b"\x03" + label.encode() + b"\0") + b"".join(children))


def c2pa_store(*manifest_ids: str, filler: bytes = b"claim") -> bytes:
    """A structurally valid, unsigned manifest store (JUMBF); the last manifest is the active one."""
    return _superbox(b"c2pa" + _C2PA_TAIL, "c2pa", *(
        _superbox(b"c2ma" + _C2PA_TAIL, manifest_id, _box(b"json", filler)) for manifest_id in manifest_ids))


def new_manifest_id() -> str:
    return f"urn:c2pa:{uuid.uuid4()}"


def flip_bits(pdq_hex: str, count: int) -> str:
    return f"{int(pdq_hex, 16) ^ (((1 << count) - 1) << (256 - count)):064x}"


@cache
def marked_photo(seed: int, label_id: str) -> tuple[bytes, bytes, str]:
    """(the unmarked photo, the photo carrying watermark ``label_id``, the marked one's PDQ)."""
    pixels = photo_pixels(seed)
    marked = encode_image(embed(pixels, int(label_id, 16)), "JPEG", quality=92)
    fingerprint = hash_media(marked, LIMITS).pdq
    assert fingerprint is not None
    return encode_image(pixels, "JPEG", quality=92), marked, fingerprint.hex


@pytest.fixture
def repo(api):
    """The API with the public rate limit off (rate-limit tests put their own limiter back)."""
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    return api


def register(api, bindings: list[dict[str, str]], manifest_id: str | None = None,
             role: Role = Role.PROVIDER, **extra: object) -> str:
    manifest_id = manifest_id or new_manifest_id()
    body = {"manifestStore": base64.b64encode(c2pa_store(manifest_id)).decode(), "manifestId": manifest_id,
            "bindings": bindings, "labelId": LABEL_ID, "generator": "test-generator", **extra}
    response = api.post_json("/manifests", body, role)
    assert response.status_code == 200, response.text
    assert response.json() == {"manifestId": manifest_id}
    return manifest_id


def by_binding(api, alg: str, value: str, **params: object) -> list[dict[str, object]]:
    response = api.client.get("/matches/byBinding", params={"alg": alg, "value": value, **params})
    assert response.status_code == 200, response.text
    return response.json()["matches"]


# --- Store and fetch -----------------------------------------------------------------------


def test_a_registered_store_is_fetched_byte_for_byte_without_a_key(repo):
    manifest_id = new_manifest_id()
    store = c2pa_store("urn:c2pa:parent", manifest_id)
    body = {"manifestStore": base64.b64encode(store).decode(), "bindings": [{"alg": WATERMARK_ALG,
                                                                             "value": LABEL_ID}],
            "generator": "gen", "model": "m", "createdAt": "2026-03-04T05:06:07+00:00"}
    response = repo.post_json("/manifests", body, Role.PROVIDER)
    assert response.status_code == 200, response.text
    assert response.json() == {"manifestId": manifest_id}  # read from the store
    fetched = repo.client.get(f"/manifests/{manifest_id}")
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/c2pa"
    assert fetched.content == store
    active = repo.client.get(f"/manifests/{manifest_id}", params={"returnActiveManifest": "true"})
    assert active.content == c2pa_store(manifest_id)
    assert active.headers["etag"] != fetched.headers["etag"]


def test_the_api_s_own_two_steps_store_then_bind(repo):
    manifest_id = new_manifest_id()
    store = c2pa_store(manifest_id)
    response = repo.client.post("/manifests", content=store, headers={
        **repo.headers(Role.PROVIDER), "Content-Type": "application/c2pa"})
    assert response.status_code == 200, response.text
    assert response.json() == {"manifestId": manifest_id}
    pdq = "a5" * 32
    for value in (LABEL_ID, pdq):  # the API's c2pa.bindings carries no alg: it is inferred
        bound = repo.post_json("/bindings", {"bindingValue": value, "manifestId": manifest_id}, Role.PROVIDER)
        assert bound.status_code == 204, bound.text
        assert bound.content == b""
    assert by_binding(repo, WATERMARK_ALG, LABEL_ID) == [{"manifestId": manifest_id, "similarityScore": 100}]
    assert by_binding(repo, PDQ_ALG, pdq) == [{"manifestId": manifest_id, "similarityScore": 100}]


def test_registering_again_is_accepted_and_other_bytes_are_a_conflict(repo):
    manifest_id = register(repo, [{"alg": WATERMARK_ALG, "value": LABEL_ID}])
    register(repo, [{"alg": WATERMARK_ALG, "value": LABEL_ID}], manifest_id)
    other = {"manifestStore": base64.b64encode(c2pa_store(manifest_id, filler=b"x")).decode(),
             "manifestId": manifest_id}
    repo.expect_error(repo.post_json("/manifests", other, Role.PROVIDER), 409, "conflict")
    assert repo.client.get(f"/manifests/{manifest_id}").content == c2pa_store(manifest_id)


def test_writes_need_a_provider_or_admin_key(repo):
    manifest_id = new_manifest_id()
    body = {"manifestStore": base64.b64encode(c2pa_store(manifest_id)).decode()}
    repo.expect_error(repo.client.post("/manifests", json=body), 401, "unauthorized")
    for role in (Role.PLATFORM, Role.HELPLINE, Role.PARTNER):
        repo.expect_error(repo.post_json("/manifests", body, role), 403, "forbidden")
        rebind = {"bindingValue": LABEL_ID, "manifestId": manifest_id}
        repo.expect_error(repo.client.put("/bindings", json=rebind, headers=repo.headers(role)), 403,
                          "forbidden")
    repo.expect_error(repo.client.get(f"/manifests/{manifest_id}"), 404, "not_found")
    assert repo.post_json("/manifests", body, Role.ADMIN).status_code == 200


def test_put_bindings_points_a_value_at_another_manifest(repo):
    first = register(repo, [{"alg": PDQ_ALG, "value": "c3" * 32}])
    second = register(repo, [])
    body = {"bindingValue": "c3" * 32, "alg": PDQ_ALG, "manifestId": second}
    response = repo.client.put("/bindings", json=body, headers=repo.headers(Role.PROVIDER))
    assert response.status_code == 204, response.text
    assert [match["manifestId"] for match in by_binding(repo, PDQ_ALG, "c3" * 32)] == [second]
    unbound = {"bindingValue": OTHER_LABEL_ID, "manifestId": first}
    repo.expect_error(repo.client.put("/bindings", json=unbound, headers=repo.headers(Role.PROVIDER)), 404)
    missing = {"bindingValue": LABEL_ID, "manifestId": new_manifest_id()}
    repo.expect_error(repo.post_json("/bindings", missing, Role.PROVIDER), 404, "not_found")


def _png(data: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def test_a_foreign_provider_cannot_repoint_a_label_and_the_stripped_copy_still_recovers(repo):
    init_signing_keys(repo.ctx, force=False, principal=SETUP)
    labelled = label_media(repo.ctx, encode_image(photo_pixels(71, 640, 480), "JPEG", quality=92),
                           generator="GenuineGen", model=None, principal=repo.principal(Role.PROVIDER))
    stripped = _png(labelled.data)  # the metadata is gone; the watermark stays

    def verdict() -> tuple[str, str | None]:
        response = repo.client.post("/v1/verify", files={"file": ("copy.png", stripped, "image/png")})
        assert response.status_code == 200, response.text
        report = response.json()
        return report["verdict"], (report["repository"]["recovered_manifest"] or {}).get("manifest_id")

    assert verdict() == ("recovered", labelled.manifest_id)
    _, token = create_key(repo.ctx, Role.PROVIDER, "another provider", SETUP)
    intruder = {"Authorization": f"Bearer {token}"}
    foreign = new_manifest_id()
    response = repo.client.post("/manifests", content=c2pa_store(foreign),
                                headers={**intruder, "Content-Type": "application/c2pa"})
    assert response.status_code == 200, response.text
    for method, body in [
        ("PUT", {"bindingValue": labelled.label_id, "manifestId": foreign}),
        ("PUT", {"bindingValue": labelled.pdq_hex, "alg": PDQ_ALG, "manifestId": foreign}),
        ("PUT", {"bindingValue": labelled.label_id, "manifestId": labelled.manifest_id}),
        ("POST", {"bindingValue": labelled.label_id, "manifestId": foreign}),
        ("POST", {"bindingValue": OTHER_LABEL_ID, "manifestId": labelled.manifest_id}),
    ]:
        refused = repo.client.request(method, "/bindings", json=body, headers=intruder)
        assert "another key" in repo.expect_error(refused, 403, "forbidden")["detail"], (method, body)
    takeover = {"manifestStore": base64.b64encode(c2pa_store(new_manifest_id())).decode(),
                "bindings": [{"alg": WATERMARK_ALG, "value": labelled.label_id}]}
    repo.expect_error(repo.client.post("/manifests", json=takeover, headers=intruder), 403, "forbidden")
    assert [m["manifestId"] for m in by_binding(repo, WATERMARK_ALG, labelled.label_id)] == \
        [labelled.manifest_id]
    assert verdict() == ("recovered", labelled.manifest_id)

    # The admin may re-point it (audit-logged); the superseded binding is kept as history.
    admin_put = repo.client.put("/bindings", json={"bindingValue": labelled.label_id, "manifestId": foreign},
                                headers=repo.headers(Role.ADMIN))
    assert admin_put.status_code == 204, admin_put.text
    history = binding_history(repo.ctx, WATERMARK_ALG, labelled.label_id)
    assert [(row.manifest_id, row.current, row.superseded_by) for row in history] == [
        (labelled.manifest_id, False, repo.actor(Role.ADMIN)), (foreign, True, None)]


@pytest.mark.parametrize("body, status, code", [
    ({"manifestStore": "not base64!"}, 400, "invalid_request"),
    ({"manifestStore": base64.b64encode(b"plain bytes").decode()}, 400, "invalid_manifest_store"),
    ({"manifestStore": base64.b64encode(c2pa_store("urn:c2pa:a")).decode(), "manifestId": "urn:c2pa:b"},
     400, "invalid_request"),
    ({"manifestStore": base64.b64encode(c2pa_store("urn:c2pa:a")).decode(),
      "bindings": [{"alg": "com.example.other.1", "value": LABEL_ID}]}, 400, "invalid_request"),
    ({"manifestStore": base64.b64encode(c2pa_store("urn:c2pa:a")).decode(),
      "bindings": [{"alg": WATERMARK_ALG, "value": "xyz"}]}, 400, "invalid_signal"),
    ({"manifestStore": base64.b64encode(c2pa_store("urn:c2pa:a", filler=b"x" * 2_200_000)).decode()},
     413, "manifest_too_large"),
    ({"manifestStore": "", "unexpected": 1}, 422, "invalid_request"),
])
def test_malformed_manifest_registrations_are_clear_4xx(repo, body, status, code):
    repo.expect_error(repo.post_json("/manifests", body, Role.PROVIDER), status, code)
    repo.expect_error(repo.client.get("/manifests/urn:c2pa:a"), 404, "not_found")


def test_malformed_raw_stores_and_bodies_are_clear_4xx(repo):
    headers = {**repo.headers(Role.PROVIDER), "Content-Type": "application/c2pa"}
    repo.expect_error(repo.client.post("/manifests", content=b"", headers=headers), 400,
                      "invalid_manifest_store")
    repo.expect_error(repo.client.post("/manifests", content=b"\0" * (2 * 1024 * 1024 + 1), headers=headers),
                      413, "manifest_too_large")
    repo.expect_error(repo.client.post("/manifests", content=b"x", headers={
        **repo.headers(Role.PROVIDER), "Content-Type": "text/plain"}), 400, "invalid_request")
    neither = {"manifestId": "urn:c2pa:a"}
    repo.expect_error(repo.post_json("/bindings", neither, Role.PROVIDER), 400, "invalid_request")
    ambiguous = {"manifestId": "urn:c2pa:a", "bindingValue": "abc"}
    repo.expect_error(repo.post_json("/bindings", ambiguous, Role.PROVIDER), 400, "invalid_signal")
    repo.expect_error(repo.client.get("/manifests/not-a-urn"), 400, "invalid_request")


# --- Queries -------------------------------------------------------------------------------


def test_supported_algorithms_need_no_key(repo):
    response = repo.client.get("/services/supportedAlgorithms")
    assert response.status_code == 200
    assert response.json() == {"watermarks": [{"alg": WATERMARK_ALG}], "fingerprints": [{"alg": PDQ_ALG}]}


def test_by_binding_finds_watermarks_exactly_and_pdq_within_31_bits(repo):
    pdq = "5a" * 32
    manifest_id = register(repo, [{"alg": WATERMARK_ALG, "value": LABEL_ID}, {"alg": PDQ_ALG, "value": pdq}])
    assert by_binding(repo, WATERMARK_ALG, LABEL_ID) == [{"manifestId": manifest_id, "similarityScore": 100}]
    raw_base64 = base64.b64encode(bytes.fromhex(LABEL_ID)).decode()
    assert by_binding(repo, WATERMARK_ALG, raw_base64)[0]["manifestId"] == manifest_id
    assert by_binding(repo, WATERMARK_ALG, OTHER_LABEL_ID) == []
    farthest = by_binding(repo, PDQ_ALG, flip_bits(pdq, 31))
    assert farthest == [{"manifestId": manifest_id, "similarityScore": 3}]
    assert by_binding(repo, PDQ_ALG, flip_bits(pdq, 32)) == []
    posted = repo.client.post("/matches/byBinding", json={"alg": PDQ_ALG, "value": flip_bits(pdq, 16)},
                              params={"maxResults": 5})
    assert posted.status_code == 200, posted.text
    assert posted.json() == {"matches": [{"manifestId": manifest_id, "similarityScore": 50}]}


def test_max_results_cuts_the_strongest_first_list(repo):
    pdq = "69" * 32
    exact = register(repo, [{"alg": PDQ_ALG, "value": pdq}])
    near = register(repo, [{"alg": PDQ_ALG, "value": flip_bits(pdq, 4)}])
    assert [match["manifestId"] for match in by_binding(repo, PDQ_ALG, pdq)] == [exact, near]
    assert [match["manifestId"] for match in by_binding(repo, PDQ_ALG, pdq, maxResults=1)] == [exact]


@pytest.mark.parametrize("params, status, code", [
    ({"alg": "com.example.unknown.1", "value": LABEL_ID}, 400, "invalid_request"),
    ({"alg": WATERMARK_ALG, "value": "not-hex-at-all"}, 400, "invalid_signal"),
    ({"alg": PDQ_ALG, "value": LABEL_ID}, 400, "invalid_signal"),
    ({"alg": WATERMARK_ALG, "value": LABEL_ID, "maxResults": 0}, 400, "invalid_request"),
    ({"alg": WATERMARK_ALG, "value": LABEL_ID, "maxResults": 101}, 400, "invalid_request"),
    ({"alg": WATERMARK_ALG, "value": LABEL_ID, "maxResults": "ten"}, 422, "invalid_request"),
    ({"alg": WATERMARK_ALG}, 422, "invalid_request"),
])
def test_malformed_binding_queries_are_clear_4xx(repo, params, status, code):
    body = repo.expect_error(repo.client.get("/matches/byBinding", params=params), status, code)
    if params.get("alg", "").startswith("com."):
        assert WATERMARK_ALG in body["detail"] and PDQ_ALG in body["detail"]
    repo.expect_error(repo.client.post("/matches/byBinding", content=b"{oops",
                                       headers={"Content-Type": "application/json"}), 422)
    repo.expect_error(repo.client.post("/matches/byBinding", json={"alg": WATERMARK_ALG}), 422)


def test_by_content_finds_a_watermarked_image_sent_as_the_body_or_as_a_file(repo):
    _, marked, pdq = marked_photo(31, LABEL_ID)
    manifest_id = register(repo, [{"alg": WATERMARK_ALG, "value": LABEL_ID}, {"alg": PDQ_ALG, "value": pdq}])
    register(repo, [{"alg": WATERMARK_ALG, "value": OTHER_LABEL_ID}])
    expected = {"matches": [{"manifestId": manifest_id, "similarityScore": 100}]}
    as_body = repo.client.post("/matches/byContent", content=marked, headers={"Content-Type": "image/jpeg"})
    assert as_body.status_code == 200, as_body.text
    assert as_body.json() == expected
    as_file = repo.client.post("/matches/byContent", files={"file": ("copy.jpg", marked, "image/jpeg")})
    assert as_file.json() == expected


def test_by_content_finds_a_pdq_near_copy_and_not_an_unrelated_image(repo):
    original, _, pdq = marked_photo(32, LABEL_ID)
    manifest_id = register(repo, [{"alg": WATERMARK_ALG, "value": LABEL_ID}, {"alg": PDQ_ALG, "value": pdq}])
    copy = encode_image(Image.open(io.BytesIO(original)).resize((480, 360)), "JPEG", quality=75)
    response = repo.client.post("/matches/byContent", content=copy, params={"maxResults": 3})
    matches = response.json()["matches"]
    assert [match["manifestId"] for match in matches] == [manifest_id]
    assert 50 < matches[0]["similarityScore"] < 100
    only_watermark = repo.client.post("/matches/byContent", content=copy, params={"alg": WATERMARK_ALG})
    assert only_watermark.json() == {"matches": []}
    hinted = repo.client.post("/matches/byContent", content=copy, params={
        "alg": WATERMARK_ALG, "hintAlg": WATERMARK_ALG, "hintValue": LABEL_ID})
    assert [match["manifestId"] for match in hinted.json()["matches"]] == [manifest_id]
    unrelated = encode_image(photo_pixels(77), "JPEG", quality=90)
    assert repo.client.post("/matches/byContent", content=unrelated).json() == {"matches": []}


def test_malformed_uploads_are_clear_4xx(repo, start_api, settings):
    repo.expect_error(repo.client.post("/matches/byContent", content=b""), 400, "empty_media")
    repo.expect_error(repo.client.post("/matches/byContent", content=b"GIF? no, plain text"), 415,
                      "unsupported_media")
    _, marked, _ = marked_photo(31, LABEL_ID)
    repo.expect_error(repo.client.post("/matches/byContent", content=marked, params={"alg": "nope"}), 400,
                      "invalid_request")
    repo.expect_error(repo.client.post("/matches/byContent", content=marked, params={"maxResults": 0}), 400)
    small = start_api(settings.with_overrides(limits=MediaLimits(max_image_bytes=20_000,
                                                                 max_video_bytes=20_000)))
    small.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    small.expect_error(small.client.post("/matches/byContent", content=marked), 413, "media_too_large")
    small.expect_error(small.client.post("/matches/byContent", files={"file": ("a.jpg", marked)}), 413,
                       "media_too_large")
    small.assert_healthy()


# --- Rate limits ---------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_public_reads_are_rate_limited_per_address_and_recover(api):
    clock = FakeClock()
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=60, burst=3, clock=clock)
    for _ in range(3):
        assert api.client.get("/services/supportedAlgorithms").status_code == 200
    refused = api.client.get("/matches/byBinding", params={"alg": WATERMARK_ALG, "value": LABEL_ID})
    body = api.expect_error(refused, 429, "rate_limited")
    assert refused.headers["retry-after"] == "1"
    assert "retry in 1 s" in body["detail"]
    api.expect_error(api.client.get(f"/manifests/{new_manifest_id()}"), 429)
    # Keyed writes are not counted against the public budget.
    assert api.post_json("/manifests", {"manifestStore": base64.b64encode(
        c2pa_store(new_manifest_id())).decode()}, Role.PROVIDER).status_code == 200
    clock.now += 1.0  # one token back at 60 a minute
    assert api.client.get("/services/supportedAlgorithms").status_code == 200
    api.expect_error(api.client.get("/services/supportedAlgorithms"), 429)
    api.client.app.state.public_rate_limiter.reset()
    assert api.client.get("/services/supportedAlgorithms").status_code == 200
    api.assert_healthy()


def test_the_rate_limit_comes_from_the_settings(start_api, settings):
    env = {"DEEPSHIELD_PUBLIC_BURST": "2", "DEEPSHIELD_PUBLIC_RATE_PER_MINUTE": "1"}
    limited = start_api(settings.with_overrides(server=load_settings(env).server))
    statuses = [limited.client.get("/services/supportedAlgorithms").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    with pytest.raises(InvalidRequest, match="DEEPSHIELD_PUBLIC_BURST"):
        load_settings({"DEEPSHIELD_PUBLIC_BURST": "0"})
    with pytest.raises(InvalidRequest, match="DEEPSHIELD_PUBLIC_RATE_PER_MINUTE"):
        load_settings({"DEEPSHIELD_PUBLIC_RATE_PER_MINUTE": "many"})
    off = load_settings({"DEEPSHIELD_PUBLIC_RATE_PER_MINUTE": "0"}).server
    assert not PublicRateLimiter.from_settings(off).enabled


def test_the_limiter_forgets_the_least_recent_address_when_full():
    limiter = PublicRateLimiter(rate_per_minute=1, burst=1, max_clients=2)
    limiter.check("a")
    limiter.check("b")
    with pytest.raises(RateLimited):
        limiter.check("a")
    limiter.check("c")  # "b" is forgotten, so it starts full again
    limiter.check("b")


# --- The client, against a real server -----------------------------------------------------


@pytest.fixture
def live_repository(ctx, settings) -> Iterator[tuple[str, object]]:
    """A uvicorn server on a free port, sharing the test's store; yields (base URL, app)."""
    app = create_app(settings, context=ctx)
    app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    with serving(app) as url:
        yield url, app


def _key(ctx, role: Role) -> str:
    return create_key(ctx, role, f"{role.value} client test", SETUP)[1]


def test_the_client_registers_finds_and_fetches_over_http(ctx, live_repository):
    base_url, _ = live_repository
    _, marked, pdq = marked_photo(33, LABEL_ID)
    manifest_id = new_manifest_id()
    store = c2pa_store("urn:c2pa:parent", manifest_id)
    with RepositoryClient(base_url, api_key=_key(ctx, Role.PROVIDER)) as client:
        assert client.supported_algorithms() == {"watermarks": [{"alg": WATERMARK_ALG}],
                                                 "fingerprints": [{"alg": PDQ_ALG}]}
        stored = client.register_manifest(manifest_id, store, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq)],
                                          label_id=LABEL_ID, generator="gen", model="m")
        assert stored == manifest_id
        assert client.register_manifest(manifest_id, store, [(WATERMARK_ALG, LABEL_ID)]) == manifest_id
        assert client.matches_by_binding(WATERMARK_ALG, LABEL_ID) == [RepositoryMatch(manifest_id, 100, None)]
        near = client.matches_by_binding(PDQ_ALG, flip_bits(pdq, 8), max_results=1)
        assert [match.manifest_id for match in near] == [manifest_id]
        assert client.matches_by_content(marked, content_type="image/jpeg") == [
            RepositoryMatch(manifest_id, 100, None)]
        assert client.get_manifest(manifest_id) == store
        assert client.get_manifest(manifest_id, active_only=True) == c2pa_store(manifest_id)
        with pytest.raises(Conflict):
            client.register_manifest(manifest_id, c2pa_store(manifest_id, filler=b"y"), [])
        with pytest.raises(NotFound):
            client.get_manifest(new_manifest_id())
        with pytest.raises(InvalidRequest):
            client.matches_by_binding("com.example.other.1", LABEL_ID)
        with pytest.raises(InvalidRequest):  # a value too long for a URL goes in a POST body
            client.matches_by_binding(PDQ_ALG, "ab" * 1500)


def test_the_client_speaks_the_api_s_own_two_steps(ctx, live_repository):
    base_url, _ = live_repository
    first, second = new_manifest_id(), new_manifest_id()
    with RepositoryClient(base_url, api_key=_key(ctx, Role.PROVIDER)) as client:
        stored = client.register_manifest(first, c2pa_store(first), [(PDQ_ALG, "1e" * 32)], spec_only=True)
        assert stored == first
        client.register_manifest(second, c2pa_store(second), [], spec_only=True)
        assert [m.manifest_id for m in client.matches_by_binding(PDQ_ALG, "1e" * 32)] == [first]
        client.replace_bindings(second, [(PDQ_ALG, "1e" * 32)])
        assert [m.manifest_id for m in client.matches_by_binding(PDQ_ALG, "1e" * 32)] == [second]
        client.add_bindings(first, [(WATERMARK_ALG, LABEL_ID)])
        assert [m.manifest_id for m in client.matches_by_binding(WATERMARK_ALG, LABEL_ID)] == [first]


def test_the_client_turns_refusals_and_failures_into_deepshield_errors(ctx, live_repository):
    base_url, app = live_repository
    manifest_id = new_manifest_id()
    with RepositoryClient(base_url) as anonymous, pytest.raises(Unauthorized):
        anonymous.register_manifest(manifest_id, c2pa_store(manifest_id), [])
    with RepositoryClient(base_url, api_key=_key(ctx, Role.PLATFORM)) as platform, pytest.raises(Forbidden):
        platform.add_bindings(manifest_id, [(WATERMARK_ALG, LABEL_ID)])
    app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=1, burst=1)
    with RepositoryClient(base_url) as client:
        client.supported_algorithms()
        with pytest.raises(RateLimited) as limited:
            client.supported_algorithms()
        assert limited.value.retry_after_s == 60
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with (RepositoryClient(f"http://127.0.0.1:{port}", timeout=2) as client,
          pytest.raises(RepositoryUnavailable)):
        client.supported_algorithms()
    with pytest.raises(InvalidRequest):
        RepositoryClient("ftp://example.org")


# --- Watermark keys (issue 15): a mark finds only the manifests of the key it was read with ------


def test_by_content_reads_a_providers_secret_mark_and_never_crosses_keys(repo):
    """A provider registers a label marked with its own secret key (fetched from this repository);
    byContent reads that mark with the key the repository holds. A public-key mark carrying the
    same label id (anyone can make one) does not find that manifest, and the secret mark does not
    find a manifest registered for the public key."""
    own = repo.client.post("/v1/watermark/key", headers=repo.headers(Role.PROVIDER))
    assert own.status_code == 200, own.text
    key = parse_key_document(own.json())
    label_id = "00000000005ec4e7"
    pixels = photo_pixels(33)
    secret_marked = encode_image(embed(pixels, int(label_id, 16), key=key), "JPEG", quality=92)
    manifest_id = register(repo, [{"alg": WATERMARK_ALG, "value": label_id}], watermarkKeyId=key.key_id)
    public_only = register(repo, [{"alg": WATERMARK_ALG, "value": "00000000000b11c0"}])  # no key: public
    found = repo.client.post("/matches/byContent", content=secret_marked, params={"alg": WATERMARK_ALG})
    assert found.json() == {"matches": [{"manifestId": manifest_id, "similarityScore": 100}]}
    # The label id in a public mark, on the same picture: not that manifest's mark.
    public_marked = encode_image(embed(pixels, int(label_id, 16)), "JPEG", quality=92)
    response = repo.client.post("/matches/byContent", content=public_marked, params={"alg": WATERMARK_ALG})
    assert response.json() == {"matches": []}
    # A hint is a label id read offline, with the public key: it finds public-key manifests only.
    hinted = repo.client.post("/matches/byContent", content=encode_image(photo_pixels(34), "JPEG"), params={
        "alg": WATERMARK_ALG, "hintAlg": WATERMARK_ALG, "hintValue": label_id})
    assert hinted.json() == {"matches": []}
    hinted = repo.client.post("/matches/byContent", content=encode_image(photo_pixels(34), "JPEG"), params={
        "alg": WATERMARK_ALG, "hintAlg": WATERMARK_ALG, "hintValue": "00000000000b11c0"})
    assert [match["manifestId"] for match in hinted.json()["matches"]] == [public_only]


def test_a_registration_names_only_its_own_key_or_the_public_one(repo):
    theirs = repo.client.post("/v1/watermark/key", headers=repo.headers(Role.ADMIN)).json()["key_id"]
    body = {"manifestStore": base64.b64encode(c2pa_store(new_manifest_id())).decode(), "bindings": [],
            "watermarkKeyId": theirs}
    repo.expect_error(repo.post_json("/manifests", body, Role.PROVIDER), 403, "forbidden")
    repo.expect_error(repo.post_json("/manifests", {**body, "watermarkKeyId": "0123456789abcdef"},
                                     Role.PROVIDER), 400, "invalid_request")
    repo.expect_error(repo.post_json("/manifests", {**body, "watermarkKeyId": "nope"}, Role.PROVIDER),
                      400, "invalid_request")
    register(repo, [], watermarkKeyId="public")


def test_a_registration_may_carry_the_outputs_keypoints_and_damaged_ones_are_refused(repo):
    from deepshield.signals.keypoints import from_bytes, keypoints, to_bytes

    data = to_bytes(keypoints(photo_pixels(35)))
    body = {"manifestStore": base64.b64encode(c2pa_store(new_manifest_id())).decode(), "bindings": []}
    for bad in ("not base64!", base64.b64encode(data[:-1]).decode(), base64.b64encode(b"PNG").decode()):
        repo.expect_error(repo.post_json("/manifests", {**body, "keypoints": bad}, Role.PROVIDER),
                          400, "invalid_request")
    manifest_id = register(repo, [], keypoints=base64.b64encode(data).decode())
    with repo.ctx.store.transaction() as session:
        stored = {row[1]: row[2] for row in manifest_repository.keypoints_after(session, 0)}
    assert from_bytes(stored[manifest_id]).descriptors.tobytes() == from_bytes(data).descriptors.tobytes()
