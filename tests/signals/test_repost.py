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
    assert repost.HASH_SET_VERSION == "deepshield-hash-set/2"
    names = [name for name, _ in repost.hash_set(photo_pixels(3))]
    # Version 1's six crops first, unchanged, then version 2's overlay cuts.
    assert names == ["crop95", "crop90", "corner90-tl", "corner90-tr", "corner90-bl", "corner90-br",
                     "cut-top20", "cut-bottom20", "cut-both20"]


def test_a_mirrored_copy_meets_the_original_exactly_through_the_mirrored_query(photo):
    original = pdq_from_pixels(repost.shrink(photo)).hex
    mirrored = dict(repost.derived_queries(np.ascontiguousarray(photo[:, ::-1])))["mirrored"]
    assert pdq_distance(mirrored.hex, original) == 0


@pytest.mark.parametrize("from_top", [True, False])
def test_a_caption_band_is_cut_off_on_the_very_row(photo, from_top):
    from PIL import Image, ImageDraw

    band = Image.new("RGB", (photo.shape[1], 90), (255, 255, 255))
    ImageDraw.Draw(band).text((30, 30), "WHEN MONDAY IS FINALLY OVER", fill=(0, 0, 0), font_size=30)
    parts = [np.asarray(band), photo] if from_top else [photo, np.asarray(band)]
    captioned = np.concatenate(parts)
    assert np.array_equal(repost.cut_caption_band(captioned, from_top), photo)
    name = "band-top" if from_top else "band-bottom"
    query = dict(repost.derived_queries(captioned))[name]
    assert pdq_distance(query.hex, pdq_from_pixels(repost.shrink(photo)).hex) <= 4
    # No band: nothing is cut, and a picture whose top is flat (a sky) is not taken for one.
    assert repost.cut_caption_band(photo, from_top) is None
    sky = np.concatenate([np.full((photo.shape[0], photo.shape[1], 3), 200, np.uint8), photo])
    assert repost.cut_caption_band(sky) is None


def test_the_region_set_is_versioned_and_holds_the_grid_then_the_anchored_ladder(photo):
    assert repost.REGION_SET_VERSION == "deepshield-regions/2"
    regions = repost.region_hashes(photo)
    assert len(regions) == repost.REGION_COUNT == 74 + 20
    # Version 1's grid comes first, unchanged: the first region is the top-left 90 % crop.
    assert regions[0][0] == (0.0, 0.0, 230 / 256, 173 / 192)
    ladder = [region for region, _ in regions[74:]]
    assert ladder[0] == (0.0, 0.0, 210 / 256, 157 / 192)  # 82 % at the top left
    assert ladder[-1] == (56 / 256, 42 / 192, 143 / 256, 108 / 192)  # 56 % at the centre


@pytest.mark.parametrize(("keep", "anchor"), [(0.6, (0.5, 0.5)), (0.6, (1.0, 0.0)), (0.7, (0.0, 1.0)),
                                              (0.8, (0.5, 0.5)), (0.65, (1.0, 1.0))])
def test_a_cropped_copy_meets_a_signed_region_through_the_region_queries(photo, keep, anchor):
    signed = [value.hex for _, value in repost.region_hashes(photo)]
    cropped = np.ascontiguousarray(repost.crop(photo, keep, *anchor))
    plain = pdq_from_pixels(cropped).hex
    queries = [value.hex for name, value in repost.region_queries(cropped)]
    assert min(pdq_distance(plain, value) for value in signed) > 31  # its own hash misses them
    assert min(pdq_distance(query, value) for query in queries for value in signed) <= 31


@pytest.mark.parametrize("degrees", [3.0, -3.0])
def test_a_copy_rotated_3_degrees_meets_the_signed_centre_through_a_rotated_back_query(photo, degrees):
    from PIL import Image

    rotated = np.asarray(Image.fromarray(photo).rotate(degrees, resample=Image.Resampling.BICUBIC))
    signed = [value.hex for _, value in repost.region_hashes(photo)]
    queries = dict(repost.region_queries(rotated))
    back = queries[f"region-rotate{-degrees:+g}"].hex
    assert min(pdq_distance(back, value) for value in signed) <= 16
    assert len(queries) == 5 * len(repost.REGION_QUERY_KEEPS) + len(repost.REGION_QUERY_ROTATIONS)
