import numpy as np
import pytest

from deepshield.signals import repost
from deepshield.signals.pdq import pdq_distance, pdq_from_pixels
from factories import photo_pixels


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return photo_pixels(31, 640, 480)


def test_uniform_borders_and_letterboxing_are_trimmed_exactly(photo):
    for fill in (0, 255, 128):
        framed = np.pad(photo, ((48, 48), (30, 30), (0, 0)), constant_values=fill)
        assert np.array_equal(repost.trim_uniform_borders(framed), photo)
    letterboxed = np.pad(photo, ((60, 60), (0, 0), (0, 0)))
    assert np.array_equal(repost.trim_uniform_borders(letterboxed), photo)


def test_an_image_without_borders_is_returned_as_is(photo):
    assert repost.trim_uniform_borders(photo) is photo
    flat = np.full((100, 100, 3), 200, np.uint8)  # all border: keep a sliver, never nothing
    assert min(repost.trim_uniform_borders(flat).shape[:2]) >= 32


def test_crops_keep_the_asked_share_at_the_asked_place(photo):
    assert repost.crop(photo, 0.9).shape[:2] == (432, 576)
    corner = repost.crop(photo, 0.9, 1, 1)
    assert np.array_equal(corner, photo[48:, 64:])
    assert repost.cut_top(photo, 0.2).shape[0] == 384


def test_a_bordered_copy_meets_the_original_through_the_trimmed_query(photo):
    original = pdq_from_pixels(photo).hex
    framed = np.pad(photo, ((48, 48), (64, 64), (0, 0)))
    assert pdq_distance(pdq_from_pixels(framed).hex, original) > 31  # plain PDQ misses it
    queries = dict(repost.derived_queries(framed))
    assert pdq_distance(queries["trimmed"].hex, original) <= 31


def test_a_rotated_copy_meets_the_hash_set_through_a_rotated_back_query(photo):
    import cv2

    height, width = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 2.0, 1.0)
    rotated = cv2.warpAffine(photo, matrix, (width, height))
    queries = dict(repost.derived_queries(rotated))
    banked = dict(repost.hash_set(photo))
    best = min(pdq_distance(q.hex, b.hex) for q in queries.values() for b in banked.values())
    assert best <= 31


def test_a_cropped_copy_meets_the_hash_set(photo):
    original = pdq_from_pixels(photo).hex
    cropped = repost.crop(photo, 0.9, 0, 1)  # 10 % off the bottom and the left
    assert pdq_distance(pdq_from_pixels(cropped).hex, original) > 31
    hashes = pdq_from_pixels(cropped).hex
    assert min(pdq_distance(hashes, h.hex) for _, h in repost.hash_set(photo)) <= 31


def test_the_hash_set_is_versioned_and_named():
    assert repost.HASH_SET_VERSION == "deepshield-hash-set/1"
    names = [name for name, _ in repost.hash_set(photo_pixels(3))]
    assert names == ["crop95", "crop90", "corner90-tl", "corner90-tr", "corner90-bl", "corner90-br"]
