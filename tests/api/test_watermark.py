"""POST /v1/watermark/detect reads the mark from an upload; bad uploads get clear 4xx errors."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from deepshield.services.access import Role
from deepshield.store import audit_repository
from deepshield.watermark import embed
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
                               "rotation_deg": None}


def test_unreadable_small_and_video_uploads_are_refused(api):
    small = encode_image(photo_pixels(63, 120, 100), "PNG")
    for data, status, code in ((b"not an image", 415, "unsupported_media"),
                               (small, 400, "invalid_request"),
                               (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, "corrupt_media")):
        response = api.upload("/v1/watermark/detect", data, Role.PLATFORM)
        api.expect_error(response, status, code)
    api.assert_healthy()
