"""``POST /v1/forensics/sources``: the ranked candidate sources of an uploaded file, keys only."""

from __future__ import annotations

import cv2
import numpy as np

from deepshield.services.access import Role
from deepshield.services.spread import banks, content_registry
from deepshield.settings import SourceSettings
from factories import encode_image, textured_pixels
from principals import SETUP

BANK = "reference-library"


def _suspect(source: np.ndarray) -> bytes:
    """``source`` with an ellipse replaced by another picture, scaled and re-encoded."""
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.ellipse(mask, (400, 180), (70, 90), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 4)[..., None]
    edited = np.clip(source * (1 - alpha) + textured_pixels(77) * alpha + 0.5, 0, 255).astype(np.uint8)
    return encode_image(cv2.resize(edited, (448, 336), interpolation=cv2.INTER_AREA), "JPEG", quality=80)


def test_a_helpline_finds_a_reference_and_compares_it(start_api, settings, tmp_path):
    library = tmp_path / "library"
    (library / "shots").mkdir(parents=True)
    api = start_api(settings.with_overrides(sources=SourceSettings(library=library)))
    source = textured_pixels(5)
    (library / "shots" / "beach.png").write_bytes(encode_image(source, "PNG"))
    banks.create_bank(api.ctx, BANK, "", SETUP)
    banks.add_media(api.ctx, BANK, encode_image(source, "PNG"), "helpline", "shots/beach.png", SETUP)
    content_registry.register_media(api.ctx, "post-5", encode_image(source, "PNG"), SETUP)

    response = api.client.post("/v1/forensics/sources", params={"compare": "true", "limit": 3},
                               files={"file": ("suspect.jpg", _suspect(source), "image/jpeg")},
                               headers=api.headers(Role.HELPLINE))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "image" and body["searched"] == ["reference_library"]  # no registry for a helpline
    [candidate] = body["candidates"]
    assert candidate["reference"] == "shots/beach.png" and candidate["reachable"] is True
    assert candidate["signals"][0]["signal"] == "keypoints" and candidate["signals"][0]["inliers"] >= 15
    assert str(library) not in response.text  # the server's paths are never shown
    [compared] = body["comparisons"]
    assert compared["rank"] == 1 and compared["comparison"]["outcome"] == "derived_local_difference"


def test_the_platform_also_gets_the_content_registry(api):
    source = textured_pixels(21)
    content_registry.register_media(api.ctx, "post-77", encode_image(source, "PNG"), SETUP)
    reposted = encode_image(cv2.resize(source, (384, 288), interpolation=cv2.INTER_AREA), "JPEG")
    response = api.upload("/v1/forensics/sources", reposted, Role.PLATFORM)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["searched"] == ["reference_library", "content_registry"] and "comparisons" not in body
    [candidate] = body["candidates"]
    assert (candidate["corpus"], candidate["item_id"], candidate["status"]) == ("content_registry", "post-77",
                                                                                  "live")
    assert candidate["signals"][0]["signal"] == "pdq"


def test_the_public_and_other_roles_are_refused_and_bad_input_is_refused(api):
    data = encode_image(textured_pixels(3), "JPEG")
    response = api.client.post("/v1/forensics/sources", files={"file": ("a.jpg", data, "image/jpeg")})
    api.expect_error(response, 401)
    for role in (Role.PARTNER, Role.PROVIDER):
        api.expect_error(api.upload("/v1/forensics/sources", data, role), 403)
    bad_face = api.client.post("/v1/forensics/sources", params={"face": "1,2,x,4"},
                               files={"file": ("a.jpg", data, "image/jpeg")}, headers=api.headers(Role.ADMIN))
    api.expect_error(bad_face, 400)
    outside = api.client.post("/v1/forensics/sources", params={"face": "600,400,100,100"},
                              files={"file": ("a.jpg", data, "image/jpeg")}, headers=api.headers(Role.ADMIN))
    api.expect_error(outside, 400)
    api.expect_error(api.client.post("/v1/forensics/sources", params={"limit": 21},
                                     files={"file": ("a.jpg", data, "image/jpeg")},
                                     headers=api.headers(Role.ADMIN)), 422)
