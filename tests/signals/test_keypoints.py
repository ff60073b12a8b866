"""Local features (``signals.keypoints``): stored compactly, and placing a crop taken anywhere."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepshield.signals.keypoints import (
    MAX_KEYPOINTS,
    MIN_INLIERS,
    QUERY_KEYPOINTS,
    STORED_KEYPOINTS,
    InvalidKeypoints,
    from_bytes,
    keypoints,
    locate,
    to_bytes,
)
from factories import photo_pixels


def _crop(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return np.ascontiguousarray(pixels[y:y + h, x:x + w])


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return photo_pixels(7, 800, 600)


def test_a_stored_set_is_bounded_spread_over_the_image_and_deterministic(photo):
    found = keypoints(photo)
    assert MIN_INLIERS * 4 <= len(found) <= STORED_KEYPOINTS
    assert found.descriptors.shape == (len(found), 32) and found.descriptors.dtype == np.uint8
    assert ((found.points >= 0) & (found.points <= 1)).all()
    # Every quarter of the image keeps some: a crop anywhere keeps a share.
    quarters = {(int(x >= 0.5), int(y >= 0.5)) for x, y in found.points}
    assert quarters == {(0, 0), (0, 1), (1, 0), (1, 1)}
    again = keypoints(photo)
    assert np.array_equal(found.points, again.points) and np.array_equal(found.descriptors, again.descriptors)


def test_the_stored_form_round_trips_and_refuses_anything_else(photo):
    found = keypoints(photo)
    data = to_bytes(found)
    assert len(data) == 10 + 36 * len(found)
    assert found.size == (384, 512)
    back = from_bytes(data)
    assert np.array_equal(back.descriptors, found.descriptors)
    assert np.abs(back.points - found.points).max() <= 1 / 65535 and back.size == found.size
    assert len(from_bytes(to_bytes(keypoints(np.zeros((20, 20, 3), np.uint8))))) == 0  # too small: empty
    for bad, words in [(b"", "not a"), (b"PNG\x00\x00\x01", "not a"), (data[:-1], "bytes, not"),
                       (data + b"\x00", "bytes, not"),
                       (b"DSK1" + (MAX_KEYPOINTS + 1).to_bytes(2, "big") + bytes(4), "at most"),
                       (b"DSK1" + bytes(6), "pixels a side")]:
        with pytest.raises(InvalidKeypoints, match=words):
            from_bytes(bad)


@pytest.mark.parametrize("box", [(240, 180, 560, 420), (0, 150, 480, 360), (300, 20, 500, 400)])
def test_a_crop_anywhere_is_placed_to_a_fraction_of_a_percent(photo, box):
    stored = keypoints(photo)
    copy = _crop(photo, box)
    located = locate(keypoints(copy, QUERY_KEYPOINTS), stored)
    assert located is not None and located.inliers >= MIN_INLIERS
    x, y, w, h = box
    expected = (x / 800, y / 600, w / 800, h / 600)
    assert np.abs(np.array(located.box) - expected).max() < 0.005, (located.box, expected)


def test_a_resized_crop_is_placed_too(photo):
    copy = cv2.resize(_crop(photo, (100, 60, 600, 480)), (300, 240), interpolation=cv2.INTER_AREA)
    located = locate(keypoints(copy, QUERY_KEYPOINTS), keypoints(photo))
    assert located is not None
    assert np.abs(np.array(located.box) - (100 / 800, 60 / 600, 600 / 800, 480 / 600)).max() < 0.005


def test_other_pictures_mirrored_and_rotated_copies_are_not_placed(photo):
    stored = keypoints(photo)
    for seed in (8, 9, 10):
        other = photo_pixels(seed, 800, 600)
        assert locate(keypoints(other, QUERY_KEYPOINTS), stored) is None
    mirrored = np.ascontiguousarray(photo[:, ::-1])
    assert locate(keypoints(mirrored, QUERY_KEYPOINTS), stored) is None
    matrix = cv2.getRotationMatrix2D((400, 300), 12, 1.0)
    rotated = cv2.warpAffine(photo, matrix, (800, 600))
    assert locate(keypoints(rotated, QUERY_KEYPOINTS), stored) is None  # not upright
    flat = np.full((64, 64, 3), 128, np.uint8)
    assert locate(keypoints(flat, QUERY_KEYPOINTS), stored) is None  # no features at all
