import io

import cv2
import numpy as np
import pytest
from PIL import Image

from deepshield.watermark import detect, embed
from factories import photo_pixels

PAYLOAD = 0x0123456789ABCDEF


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _resize(pixels: np.ndarray, factor: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    size = (round(width * factor), round(height * factor))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return photo_pixels(21, 768, 512)


@pytest.fixture(scope="module")
def marked(photo) -> np.ndarray:
    return embed(photo, PAYLOAD)


def test_embedding_is_invisible_by_psnr_and_changes_only_luma(photo, marked):
    assert marked.shape == photo.shape and marked.dtype == np.uint8
    assert cv2.PSNR(photo, marked) >= 41.5
    delta = marked.astype(int) - photo.astype(int)
    unclipped = (photo > 5).all(axis=2) & (photo < 250).all(axis=2)
    # The same change goes to R, G and B, so hue is kept (up to rounding).
    assert np.abs(delta[..., 0] - delta[..., 1])[unclipped].max() <= 1
    assert np.abs(delta[..., 1] - delta[..., 2])[unclipped].max() <= 1


def test_the_input_array_is_not_modified(photo):
    before = photo.copy()
    embed(photo, PAYLOAD)
    assert np.array_equal(photo, before)


def test_a_marked_image_yields_its_exact_payload(marked):
    detection = detect(marked)
    assert detection.found and detection.payload == PAYLOAD
    assert detection.payload_hex == "0123456789abcdef"
    assert 0.5 < detection.confidence <= 1.0
    assert int("".join(map(str, detection.bits)), 2) == PAYLOAD


@pytest.mark.parametrize("attack", [
    pytest.param(lambda x: _jpeg(x, 50), id="jpeg50"),
    pytest.param(lambda x: _resize(x, 0.5), id="resize0.5"),
    pytest.param(lambda x: _resize(x, 1.5), id="resize1.5"),
    pytest.param(lambda x: _jpeg(_resize(x, 0.8), 80), id="screenshot"),
    pytest.param(lambda x: x[40:-30, 60:-20], id="crop"),
    pytest.param(lambda x: np.clip(x.astype(np.float32) * 1.2, 0, 255).astype(np.uint8), id="brighter"),
])
def test_the_payload_survives_common_edits(marked, attack):
    detection = detect(np.ascontiguousarray(attack(marked)))
    assert detection.found and detection.payload == PAYLOAD


def test_a_small_rotation_is_found_and_undone(marked):
    height, width = marked.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 2, 1)
    rotated = cv2.warpAffine(marked, matrix, (width, height), flags=cv2.INTER_CUBIC)
    detection = detect(rotated)
    assert detection.found and detection.payload == PAYLOAD
    assert abs(abs(detection.rotation_deg) - 2) < 0.5


def test_different_payloads_come_back_distinct():
    image = photo_pixels(22, 640, 480)
    for payload in (0, 0xFFFFFFFFFFFFFFFF, 0x8000000000000001):
        assert detect(embed(image, payload)).payload == payload


def test_unmarked_images_are_reported_unmarked():
    rng = np.random.default_rng(5)
    images = [photo_pixels(seed, 512, 384) for seed in range(30, 40)]
    images += [rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)]
    images += [np.full((256, 256, 3), 128, dtype=np.uint8)]
    for image in images:
        detection = detect(image)
        assert not detection.found and detection.payload is None and detection.confidence == 0.0


@pytest.mark.parametrize("image, message", [
    (np.zeros((300, 300), np.uint8), "H×W×3"),
    (np.zeros((300, 300, 3), np.float32), "uint8"),
])
def test_unusable_arrays_are_refused_with_a_reason(image, message):
    with pytest.raises(ValueError, match=message):
        embed(image, PAYLOAD)
    with pytest.raises(ValueError, match=message):
        detect(image)


def test_marking_needs_256_px_but_reading_works_down_to_128_so_halved_copies_are_read():
    with pytest.raises(ValueError, match="at least 256"):
        embed(np.zeros((200, 400, 3), np.uint8), PAYLOAD)
    with pytest.raises(ValueError, match="at least 128"):
        detect(np.zeros((100, 400, 3), np.uint8))
    marked = embed(photo_pixels(23, 512, 512), PAYLOAD)
    halved = _jpeg(_resize(marked, 0.5), 90)
    assert halved.shape[:2] == (256, 256)
    assert detect(halved).payload == PAYLOAD
    assert not detect(np.zeros((200, 400, 3), np.uint8)).found
