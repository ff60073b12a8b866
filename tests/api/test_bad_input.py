"""Bad input gets the right 4xx with ``{"error", "detail"}``, and the server keeps answering."""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import pytest

from deepshield.media.limits import MediaLimits
from deepshield.services.access import Role
from deepshield.store import audit_repository
from factories import encode_image, encode_video, photo_pixels, scene_video_frames

BANK = "intake"
UPLOAD_ROUTES = {  # route -> a role allowed to call it
    "/v1/hash": Role.PLATFORM,
    "/v1/match": Role.PLATFORM,
    f"/v1/banks/{BANK}/entries": Role.HELPLINE,
}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose header claims ``width``×``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))


def _photo_jpeg() -> bytes:
    return encode_image(photo_pixels(31), "JPEG", quality=90)


def _broken_png_pixels() -> bytes:
    png = bytearray(encode_image(photo_pixels(32, 64, 48), "PNG"))
    start = png.index(b"IDAT") + 40
    png[start:start + 64] = bytes(64)  # the chunk's CRC no longer holds
    return bytes(png)


MEDIA_CASES = {
    # name: (bytes, status, error code)
    "empty file": (b"", 400, "empty_media"),
    "text file": (b"name,email\nsomeone,someone@example.org\n", 415, "unsupported_media"),
    "pdf document": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >>\nendobj\n", 415,
                     "unsupported_media"),
    "zip archive": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40), 415, "unsupported_media"),
    "truncated jpeg": (_photo_jpeg()[:3000], 400, "corrupt_media"),
    "png signature then garbage": (b"\x89PNG\r\n\x1a\n" + b"\x13\x37" * 200, 400, "corrupt_media"),
    "png with broken pixel data": (_broken_png_pixels(), 400, "corrupt_media"),
    "decompression bomb header": (png_claiming(100_000, 100_000), 413, "media_too_large"),
    "truncated mp4": (encode_video(scene_video_frames(3, 2))[:600], 400, "corrupt_media"),
}


@pytest.fixture
def bank_api(api):
    api.create_bank(BANK)
    return api


def refused(api, response, status: int, code: str | None) -> dict:
    body = api.expect_error(response, status, code)
    api.assert_healthy()
    return body


@pytest.mark.parametrize("case", MEDIA_CASES)
def test_unreadable_media_is_refused_on_every_upload_route(bank_api, case):
    data, status, code = MEDIA_CASES[case]
    for path, role in UPLOAD_ROUTES.items():
        refused(bank_api, bank_api.upload(path, data, role), status, code)
    assert bank_api.active_entries() == {BANK: 0}


def test_images_over_max_pixels_are_refused_and_smaller_ones_accepted(start_api, settings):
    limited = dataclasses.replace(settings, limits=MediaLimits(max_pixels=100_000))
    api = start_api(limited)
    api.create_bank(BANK)
    too_big = encode_image(photo_pixels(33, 640, 480), "PNG")
    for path, role in UPLOAD_ROUTES.items():
        body = refused(api, api.upload(path, too_big, role), 413, "media_too_large")
        assert "pixels" in body["detail"]
    fits = api.upload("/v1/hash", encode_image(photo_pixels(33, 300, 300), "PNG"), Role.PLATFORM)
    assert fits.status_code == 200, fits.text


def test_bodies_over_the_byte_limits_get_413(start_api, settings):
    api = start_api(dataclasses.replace(
        settings, limits=MediaLimits(max_image_bytes=60_000, max_video_bytes=5_000)))
    video = encode_video(scene_video_frames(4, 4))
    assert len(video) > 5_000
    noise = np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    just_over = encode_image(noise, "PNG")  # over the file limit, under the body limit's slack
    assert 60_000 < len(just_over) < 100_000
    far_over = b"\xff\xd8\xff" + bytes(400_000)

    def chunked() -> Iterator[bytes]:
        boundary = b"--cut\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n"
        yield boundary
        for _ in range(50):
            yield b"\xff" * 10_000

    for path, role in UPLOAD_ROUTES.items():
        refused(api, api.upload(path, far_over, role), 413, "media_too_large")
        refused(api, api.upload(path, just_over, role), 413, "media_too_large")
        body = refused(api, api.upload(path, video, role, filename="v.mp4"), 413, "media_too_large")
        assert "video" in body["detail"]
        no_length = api.client.post(path, content=chunked(), headers={
            **api.headers(role), "content-type": "multipart/form-data; boundary=cut"})
        refused(api, no_length, 413, "media_too_large")

    def chunked_json() -> Iterator[bytes]:
        yield b'{"signals": [{"type": "pdq", "value": "'
        for _ in range(50):
            yield b"a" * 10_000
        yield b'"}]}'

    no_length = api.client.post("/v1/match", content=chunked_json(), headers={
        **api.headers(Role.PLATFORM), "content-type": "application/json"})
    refused(api, no_length, 413, "media_too_large")


def test_an_image_over_the_image_byte_limit_is_refused_though_under_the_video_limit(start_api, settings):
    api = start_api(dataclasses.replace(
        settings, limits=MediaLimits(max_image_bytes=20_000, max_video_bytes=1_000_000)))
    photo = _photo_jpeg()
    assert len(photo) > 20_000
    body = refused(api, api.upload("/v1/hash", photo, Role.PLATFORM), 413, "media_too_large")
    assert "image" in body["detail"]


def test_a_json_body_over_the_limit_without_content_length_gets_413(start_api, settings):
    api = start_api(dataclasses.replace(
        settings, limits=MediaLimits(max_image_bytes=10_000, max_video_bytes=10_000)))
    body = json.dumps({"name": "big", "description": "d" * 200_000}).encode()

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    response = api.client.post("/v1/banks", content=chunked(), headers={
        **api.headers(Role.ADMIN), "content-type": "application/json"})
    refused(api, response, 413, "media_too_large")


def test_malformed_multipart_bodies_are_400(bank_api):
    api = bank_api
    photo = _photo_jpeg()
    part = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
    bodies = {
        "no boundary parameter": ("multipart/form-data", part + photo + b"\r\n--cut--\r\n"),
        "garbage instead of parts": ("multipart/form-data; boundary=cut", b"\r\n\r\nnot a form at all"),
        "bad part headers": ("multipart/form-data; boundary=cut",
                             b"--cut\r\nContent-Disposition\r\n\r\nxx\r\n--cut--\r\n"),
        "file field twice": ("multipart/form-data; boundary=cut",
                             part + photo + b"\r\n" + part + photo + b"\r\n--cut--\r\n"),
    }
    for path, role in UPLOAD_ROUTES.items():
        for name, (content_type, content) in bodies.items():
            response = api.client.post(path, content=content,
                                       headers={**api.headers(role), "content-type": content_type})
            assert response.status_code == 400, (path, name, response.text)
            refused(api, response, 400, "invalid_request")


def test_a_form_without_a_file_field_is_400(bank_api):
    api = bank_api
    tiny = encode_image(photo_pixels(34, 32, 24), "PNG")
    assert len(tiny) < 4096
    forms = [
        {"files": {"image": ("a.png", tiny, "image/png")}},
        {"data": {"origin": "helpline"}, "files": {"other": ("a.png", tiny, "image/png")}},
    ]
    for path, role in UPLOAD_ROUTES.items():
        for form in forms:
            response = api.client.post(path, headers=api.headers(role), **form)
            body = refused(api, response, 400, "invalid_request")
            assert "'file'" in body["detail"]


def test_a_photo_sent_under_another_field_name_is_told_to_use_file(bank_api):
    response = bank_api.client.post("/v1/match", files={"image": ("a.jpg", _photo_jpeg(), "image/jpeg")},
                                    headers=bank_api.headers(Role.PLATFORM))
    body = refused(bank_api, response, 400, "invalid_request")
    assert "'file'" in body["detail"]


def test_a_body_of_the_wrong_content_type_is_400(bank_api):
    api = bank_api
    cases = [
        ("/v1/hash", "application/json", b'{"signals": []}'),
        ("/v1/hash", "image/jpeg", _photo_jpeg()),
        ("/v1/match", "text/plain", b"pdq:abc"),
        ("/v1/match", "image/jpeg", _photo_jpeg()),
        (f"/v1/banks/{BANK}/entries", "application/x-www-form-urlencoded", b"file=abc"),
    ]
    for path, content_type, content in cases:
        response = api.client.post(path, content=content,
                                   headers={**api.headers(Role.ADMIN), "content-type": content_type})
        refused(api, response, 400, "invalid_request")
    assert api.active_entries() == {BANK: 0}


GOOD_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MALFORMED_SIGNALS = {
    "pdq with non-hex digits": {"type": "pdq", "value": "z" * 64},
    "pdq too short": {"type": "pdq", "value": GOOD_PDQ[:62]},
    "pdq too long": {"type": "pdq", "value": GOOD_PDQ + "00"},
    "md5 of the wrong length": {"type": "md5", "value": "ab" * 20},
    "sha256 with a space inside": {"type": "sha256", "value": "ab" * 16 + " " + "ab" * 15 + "a"},
    "unknown signal type": {"type": "sha1", "value": "ab" * 20},
    "vpdq that is not frames": {"type": "vpdq", "value": "not,a,frame"},
}


@pytest.mark.parametrize("case", MALFORMED_SIGNALS)
def test_malformed_hashes_are_400_when_matching_and_adding(bank_api, case):
    signal = MALFORMED_SIGNALS[case]
    refused(bank_api, bank_api.post_json("/v1/match", {"signals": [signal]}, Role.PLATFORM),
            400, "invalid_signal")
    refused(bank_api, bank_api.post_json(f"/v1/banks/{BANK}/entries", {"signals": [signal]},
                                         Role.HELPLINE), 400, "invalid_signal")
    assert bank_api.active_entries() == {BANK: 0}


def test_low_quality_and_degenerate_hashes_are_refused_with_422(bank_api):
    api = bank_api
    cases = [
        {"type": "pdq", "value": GOOD_PDQ, "quality": 10},
        {"type": "pdq", "value": "0" * 64},
        {"type": "pdq", "value": "f" * 64},
    ]
    for signal in cases:
        body = refused(api, api.post_json(f"/v1/banks/{BANK}/entries", {"signals": [signal]},
                                          Role.HELPLINE), 422, "low_quality_hash")
        assert "signal 1" in body["detail"]
    flat = encode_image(np.full((200, 200, 3), 128, dtype=np.uint8), "PNG")
    refused(api, api.upload(f"/v1/banks/{BANK}/entries", flat, Role.HELPLINE), 422, "low_quality_hash")
    assert api.active_entries() == {BANK: 0}


def test_a_low_quality_hash_is_refused_when_matching_too(bank_api):
    response = bank_api.post_json("/v1/match", {"signals": [
        {"type": "pdq", "value": GOOD_PDQ, "quality": 10}]}, Role.PLATFORM)
    refused(bank_api, response, 422, "low_quality_hash")


JSON_ROUTES = [
    pytest.param("POST", "/v1/banks", Role.ADMIN, id="create bank"),
    pytest.param("PATCH", f"/v1/banks/{BANK}/entries/1", Role.ADMIN, id="enable entry"),
    pytest.param("POST", "/v1/match", Role.PLATFORM, id="match"),
    pytest.param("POST", f"/v1/banks/{BANK}/entries", Role.HELPLINE, id="add entries"),
]


@pytest.mark.parametrize(("method", "path", "role"), JSON_ROUTES)
def test_invalid_json_bodies_are_422_on_every_json_route(bank_api, method, path, role):
    for content in (b'{"name": "x", ', b"[1, 2", b"", b'"just a string"', b'{"unexpected": true}'):
        response = bank_api.client.request(method, path, content=content, headers={
            **bank_api.headers(role), "content-type": "application/json"})
        refused(bank_api, response, 422, "invalid_request")


def test_invalid_json_gets_an_error_body_on_every_json_route_and_the_server_goes_on(bank_api):
    for param in JSON_ROUTES:
        method, path, role = param.values
        for content in (b'{"name": "x", ', b"\xff\xfe", b"null"):
            response = bank_api.client.request(method, path, content=content, headers={
                **bank_api.headers(role), "content-type": "application/json"})
            assert response.status_code in (400, 422), (path, content, response.text)
            refused(bank_api, response, response.status_code, "invalid_request")
    assert bank_api.active_entries() == {BANK: 0}


def test_json_that_breaks_the_body_schema_is_refused_without_writing(bank_api):
    api = bank_api
    bodies = [
        {"signals": []},
        {"signals": [{"type": "pdq"}]},
        {"signals": [{"type": "pdq", "value": GOOD_PDQ, "quality": 101}]},
        {"signals": [{"type": "pdq", "value": GOOD_PDQ}], "colour": "red"},
        {"signals": "pdq:" + GOOD_PDQ},
    ]
    for body in bodies:
        for path, role in (("/v1/match", Role.PLATFORM), (f"/v1/banks/{BANK}/entries", Role.HELPLINE)):
            response = api.post_json(path, body, role)
            assert response.status_code in (400, 422), (path, body, response.text)
            refused(api, response, response.status_code, "invalid_request")
    assert api.active_entries() == {BANK: 0}


def test_an_unknown_bank_is_404(api):
    photo = _photo_jpeg()
    responses = [
        api.post_json("/v1/banks/nowhere/entries", {"signals": [{"type": "pdq", "value": GOOD_PDQ}]},
                      Role.HELPLINE),
        api.upload("/v1/banks/nowhere/entries", photo, Role.HELPLINE),
        api.client.delete("/v1/banks/nowhere/entries/1", headers=api.headers(Role.HELPLINE)),
        api.client.patch("/v1/banks/nowhere/entries/1", json={"enabled": False},
                         headers=api.headers(Role.ADMIN)),
    ]
    for response in responses:
        body = refused(api, response, 404, "not_found")
        assert "nowhere" in body["detail"]
    assert api.active_entries() == {}


def test_a_duplicate_bank_is_409_and_leaves_the_first_intact(bank_api):
    added = bank_api.post_json(f"/v1/banks/{BANK}/entries", {"signals": [{"type": "pdq", "value": GOOD_PDQ}]},
                               Role.HELPLINE)
    assert added.status_code == 201
    response = bank_api.post_json("/v1/banks", {"name": BANK, "description": "again"}, Role.ADMIN)
    refused(bank_api, response, 409, "conflict")
    assert bank_api.active_entries() == {BANK: 1}


@pytest.mark.parametrize("name", ["", "has space", "../etc", "-leading-dash", "x" * 65, "naïve", "a/b"])
def test_an_invalid_bank_name_is_400(api, name):
    refused(api, api.post_json("/v1/banks", {"name": name}, Role.ADMIN), 400, "invalid_request")
    assert api.active_entries() == {}


def test_withdrawing_or_toggling_an_unknown_entry_is_404(bank_api):
    api = bank_api
    api.create_bank("other")
    added = api.post_json("/v1/banks/other/entries", {"signals": [{"type": "pdq", "value": GOOD_PDQ}]},
                          Role.HELPLINE)
    other_entry = added.json()["entries"][0]["id"]
    for entry_id in (999_999, other_entry):  # the second exists, but in another bank
        url = f"/v1/banks/{BANK}/entries/{entry_id}"
        refused(api, api.client.delete(url, headers=api.headers(Role.HELPLINE)), 404, "not_found")
        refused(api, api.client.patch(url, json={"enabled": False}, headers=api.headers(Role.ADMIN)),
                404, "not_found")
    refused(api, api.client.delete(f"/v1/banks/{BANK}/entries/first", headers=api.headers(Role.HELPLINE)),
            422, "invalid_request")
    assert api.active_entries() == {BANK: 0, "other": 1}


def test_a_failed_add_writes_nothing(bank_api):
    api = bank_api
    good = {"type": "pdq", "value": GOOD_PDQ}
    attempts = [
        ({"signals": [good, {"type": "pdq", "value": "not-hex"}]}, 400, "invalid_signal"),
        ({"signals": [good, {"type": "pdq", "value": GOOD_PDQ[::-1], "quality": 10}]}, 422,
         "low_quality_hash"),
        ({"signals": [good], "case_ref": "Jane Doe, 5 Main Street"}, 400, "invalid_request"),
        ({"signals": [good], "origin": "somewhere"}, 400, "invalid_request"),
    ]
    for body, status, code in attempts:
        response = api.post_json(f"/v1/banks/{BANK}/entries", body, Role.HELPLINE)
        detail = refused(api, response, status, code)["detail"]
        assert GOOD_PDQ not in detail
    upload = api.upload(f"/v1/banks/{BANK}/entries", _photo_jpeg(), Role.HELPLINE, origin="somewhere")
    refused(api, upload, 400, "invalid_request")

    assert api.active_entries() == {BANK: 0}
    assert api.match_signals([good]) == []
    assert api.match_upload(_photo_jpeg()) == []
    with api.ctx.store.transaction() as session:
        actions = [event.action for event in audit_repository.recent_events(session, 1000)]
    assert "bank.add" not in actions
