"""``POST /v1/forensics/compare``: a file compared with a suspected source, open like verify."""

from __future__ import annotations

import base64
import io

import cv2
import numpy as np
from PIL import Image

from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services.access import Role
from deepshield.store import audit_repository
from factories import encode_image, textured_pixels


def _pair() -> tuple[bytes, bytes]:
    source = textured_pixels(61)
    donor = textured_pixels(62)
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.ellipse(mask, (220, 200), (60, 80), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 4)[..., None]
    edited = np.clip(source * (1 - alpha) + donor * alpha + 0.5, 0, 255).astype(np.uint8)
    smaller = cv2.resize(edited, (448, 336), interpolation=cv2.INTER_AREA)
    return encode_image(smaller, "JPEG", quality=80), encode_image(source, "PNG")


def _post(api, suspect: bytes, source: bytes, headers=None, **params):
    return api.client.post("/v1/forensics/compare", params=params or None, headers=headers,
                           files={"suspect": ("suspect.jpg", suspect, "image/jpeg"),
                                  "source": ("source.png", source, "image/png")})


def test_anyone_compares_two_pictures_and_gets_the_outcome_in_words_with_its_numbers(api):
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    suspect, source = _pair()
    response = _post(api, suspect, source)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "derived_local_difference"
    assert body["summary"].startswith(
        "This file matches the source (source.png) everywhere except in")
    assert "fake" not in body["summary"] and "real" not in body["summary"]
    assert body["numbers"]["inliers"] >= 20 and len(body["numbers"]["regions"]) == 1
    assert body["limits"] and "figure_png" not in body
    unrelated = _post(api, suspect, encode_image(textured_pixels(63), "PNG")).json()
    assert unrelated["outcome"] == "not_derived"
    assert "says nothing about any other source" in unrelated["summary"]
    with api.ctx.store.transaction() as session:
        events = [e for e in audit_repository.recent_events(session) if e.action == "forensics.compare"]
    assert {e.actor for e in events} == {"public"}
    assert sorted(e.detail for e in events) == sorted(
        ['{"kind": "image", "outcome": "derived_local_difference", "regions": 1}',
         '{"kind": "image", "outcome": "not_derived", "regions": 0}'])


def test_the_figure_and_mask_come_back_as_png_when_asked(api):
    suspect, source = _pair()
    body = _post(api, suspect, source, api.headers(Role.HELPLINE), figure="true").json()
    figure = Image.open(io.BytesIO(base64.b64decode(body["figure_png"])))
    mask = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["mask_png"]))))
    assert figure.format == "PNG" and figure.width > figure.height
    assert mask.shape == (336, 448) and mask.max() == 255


def test_bad_forms_and_files_get_clear_errors(api):
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    suspect, source = _pair()
    only_one = api.client.post("/v1/forensics/compare", files={"suspect": ("s.jpg", suspect, "image/jpeg")})
    assert "missing: 'source'" in api.expect_error(only_one, 400, "invalid_request")["detail"]
    extra = api.client.post("/v1/forensics/compare", files={
        "suspect": ("s.jpg", suspect, "image/jpeg"), "source": ("t.png", source, "image/png"),
        "file": ("u.png", source, "image/png")})
    assert "the fields 'suspect' and 'source'" in api.expect_error(extra, 400)["detail"]
    small_extra = api.client.post("/v1/forensics/compare", data={"note": "hello"}, files={
        "suspect": ("s.jpg", suspect, "image/jpeg"), "source": ("t.png", source, "image/png")})
    assert "unexpected form fields: 'note'" in api.expect_error(small_extra, 400)["detail"]
    api.expect_error(_post(api, b"", source), 400)
    api.expect_error(_post(api, suspect, b"not an image at all"), 415)
    api.expect_error(_post(api, suspect[:400], source), 400, "corrupt_media")
    not_a_form = api.client.post("/v1/forensics/compare", content=suspect,
                                 headers={"content-type": "image/jpeg"})
    assert "'suspect' and 'source'" in api.expect_error(not_a_form, 400)["detail"]
    api.assert_healthy()
