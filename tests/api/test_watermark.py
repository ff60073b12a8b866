"""POST /v1/watermark/detect reads the marks from an upload with the repository's keys; bad uploads get
clear 4xx errors. POST /v1/watermark/key gives a provider its own secret key."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from deepshield.services.access import Role
from deepshield.services.label.watermark_keys import parse_key_document, provider_key
from deepshield.store import audit_repository
from deepshield.watermark import PUBLIC_KEY, embed
from factories import encode_image, photo_pixels


def _jpeg(pixels: np.ndarray, quality: int = 75) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_a_marked_and_recompressed_upload_yields_its_payload(api):
    marked = embed(photo_pixels(61, 640, 480), 0x00000000DEADBEEF)
    response = api.upload("/v1/watermark/detect", _jpeg(marked), Role.PLATFORM)
    assert response.status_code == 200
    body = response.json()
    assert body["found"] is True and body["payload"] == "00000000deadbeef"
    assert 0 < body["confidence"] <= 1
    with api.ctx.store.transaction() as session:
        events = audit_repository.recent_events(session, 5)
        assert any(e.action == "watermark.detect" and e.actor == api.actor(Role.PLATFORM)
                   for e in events)


def test_an_unmarked_upload_is_reported_as_not_found(api):
    response = api.upload("/v1/watermark/detect", _jpeg(photo_pixels(62, 640, 480)), Role.HELPLINE)
    assert response.status_code == 200
    assert response.json() == {"found": False, "payload": None, "confidence": 0.0, "scale": None,
                               "rotation_deg": None, "key_id": None, "marks": []}


def test_unreadable_small_and_video_uploads_are_refused(api):
    small = encode_image(photo_pixels(63, 120, 100), "PNG")
    for data, status, code in ((b"not an image", 415, "unsupported_media"),
                               (small, 400, "invalid_request"),
                               (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, "corrupt_media")):
        response = api.upload("/v1/watermark/detect", data, Role.PLATFORM)
        api.expect_error(response, status, code)
    api.assert_healthy()


def test_detection_reads_with_every_providers_key_and_lists_every_mark(api):
    """A secret-key mark is read by this repository (it holds the key), never by the public code;
    a second mark (the public key's) is listed too, each with the key it was read with."""
    key = provider_key(api.ctx, api.principal(Role.PROVIDER))
    marked = embed(photo_pixels(64, 640, 480), 0x1111222233334444, key=key)
    marked = embed(marked, 0x5555666677778888, key=PUBLIC_KEY)
    response = api.upload("/v1/watermark/detect", _jpeg(marked, 90), Role.PLATFORM)
    assert response.status_code == 200
    body = response.json()
    assert body["found"] is True and (body["payload"], body["key_id"]) == ("5555666677778888", "public")
    assert [(mark["payload"], mark["key_id"]) for mark in body["marks"]] == [
        ("5555666677778888", "public"), ("1111222233334444", key.key_id)]
    assert all(set(mark) == {"payload", "key_id", "slot", "confidence"} for mark in body["marks"])


def test_a_provider_fetches_its_own_key_and_no_other_role_may(api):
    first = api.client.post("/v1/watermark/key", headers=api.headers(Role.PROVIDER))
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    document = first.json()
    key = parse_key_document(document)  # a key file's content: it checks itself
    assert document["owner"] == api.actor(Role.PROVIDER) and key.key_id == document["key_id"]
    again = api.client.post("/v1/watermark/key", headers=api.headers(Role.PROVIDER)).json()
    assert again == document  # made on first use, the same ever after
    for role in (Role.PLATFORM, Role.HELPLINE, Role.PARTNER):
        api.expect_error(api.client.post("/v1/watermark/key", headers=api.headers(role)), 403, "forbidden")
    api.expect_error(api.client.post("/v1/watermark/key"), 401)
    with api.ctx.store.transaction() as session:
        events = [(e.action, e.target) for e in audit_repository.recent_events(session, 20)]
    assert ("watermark_key.create", f"watermark_key:{key.key_id}") in events
    assert ("watermark_key.export", f"watermark_key:{key.key_id}") in events
