"""``forensics.compare``: a suspect laid onto a suspected source, and the outcome it supports.

Pictures are made here (``factories.textured_pixels``): a source, the same picture with an
ellipse replaced by another picture (feathered), reposted (scaled, re-encoded, sometimes
mirrored); unrelated pictures; pictures without detail. bench/forensics.py measures the rates.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from deepshield.forensics import Outcome, compare
from deepshield.forensics.figure import PANEL_HEIGHT, figure_png, mask_png
from factories import textured_pixels

CENTRE, AXES = (400, 180), (70, 90)  # the replaced ellipse, source pixels (640 × 480)


def _jpeg(pixels: np.ndarray, quality: int = 80) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _ellipse(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, CENTRE, AXES, 0, 0, 360, 255, -1)
    return mask


def _edited(source: np.ndarray, donor_seed: int = 77) -> np.ndarray:
    donor = textured_pixels(donor_seed, source.shape[1], source.shape[0])
    alpha = cv2.GaussianBlur(_ellipse(source.shape[:2]).astype(np.float32) / 255, (0, 0), 4)[..., None]
    return np.clip(source * (1 - alpha) + donor * alpha + 0.5, 0, 255).astype(np.uint8)


def _reposted(pixels: np.ndarray, scale: float = 0.7, quality: int = 80, mirror: bool = False) -> np.ndarray:
    height, width = pixels.shape[:2]
    smaller = cv2.resize(pixels, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return _jpeg(np.ascontiguousarray(smaller[:, ::-1]) if mirror else smaller, quality)


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return textured_pixels(5)


def test_a_reposted_picture_with_a_region_replaced_is_derived_with_that_region(source: np.ndarray) -> None:
    suspect = _reposted(_edited(source))
    result = compare(suspect, source)
    assert result.outcome is Outcome.DERIVED_LOCAL_DIFFERENCE
    assert result.inliers >= 50 and result.overlap > 0.95 and result.correlation > 0.9
    assert len(result.regions) == 1
    x, y, width, height = result.regions[0].box
    # The ellipse in the suspect's pixels (scaled 0.7): the box holds its centre and about its size.
    assert x < CENTRE[0] * 0.7 < x + width and y < CENTRE[1] * 0.7 < y + height
    assert 0.7 < width / (2 * AXES[0] * 0.7) < 1.5 and 0.7 < height / (2 * AXES[1] * 0.7) < 1.5
    truth = cv2.resize(_ellipse(source.shape[:2]), (suspect.shape[1], suspect.shape[0])) > 127
    found = result.mask() > 0
    assert result.mask().shape == suspect.shape[:2]
    assert (found & truth).sum() / (found | truth).sum() > 0.6
    assert result.regions[0].face_overlap is None  # no faces were given


def test_an_unedited_mirrored_repost_is_derived_with_no_difference(source: np.ndarray) -> None:
    result = compare(_reposted(source, scale=0.6, quality=70, mirror=True), source)
    assert result.outcome is Outcome.DERIVED_NO_DIFFERENCE
    assert result.mirrored and result.regions == () and not result.mask().any()
    assert result.agreement > 0.95


def test_a_region_is_described_against_the_faces_given(source: np.ndarray) -> None:
    suspect = _edited(source)
    face = (CENTRE[0] - 40, CENTRE[1] - 50, 80, 100)
    elsewhere = (20, 300, 80, 100)
    result = compare(suspect, source, faces=[elsewhere, face])
    assert result.outcome is Outcome.DERIVED_LOCAL_DIFFERENCE
    assert result.regions[0].face_overlap > 0.9
    assert compare(suspect, source, faces=[elsewhere]).regions[0].face_overlap == 0.0


def test_an_unrelated_picture_is_not_derived(source: np.ndarray) -> None:
    result = compare(_reposted(textured_pixels(9)), source)
    assert result.outcome is Outcome.NOT_DERIVED
    assert result.regions == () and result.views is None and "share next to no detail" in result.reason


def test_pictures_without_detail_are_inconclusive_not_unrelated() -> None:
    flat = np.full((300, 400, 3), 128, np.uint8)
    result = compare(flat, textured_pixels(3))
    assert result.outcome is Outcome.INCONCLUSIVE
    assert "too little detail" in result.reason


def test_a_source_covering_little_of_the_suspect_is_inconclusive(source: np.ndarray) -> None:
    # A collage: the source, small, inside a larger picture of other content.
    canvas = textured_pixels(31, 1280, 960)
    canvas[300:720, 400:960] = cv2.resize(source, (560, 420), interpolation=cv2.INTER_AREA)
    result = compare(_jpeg(canvas, 90), source)
    assert result.outcome is Outcome.INCONCLUSIVE
    assert result.overlap < 0.3 and "covers only" in result.reason and result.regions == ()


def test_a_picture_bent_by_a_non_rigid_warp_is_never_called_unchanged(source: np.ndarray) -> None:
    height, width = source.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    bent = cv2.remap(source, xs + 4 * np.sin(ys / 40), ys + 4 * np.cos(xs / 50), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)
    result = compare(_jpeg(bent, 90), source)
    assert result.outcome is not Outcome.DERIVED_NO_DIFFERENCE


def test_the_same_inputs_give_the_same_numbers(source: np.ndarray) -> None:
    suspect = _reposted(_edited(source))
    assert compare(suspect, source).to_dict() == compare(suspect, source).to_dict()


def test_the_figure_shows_four_panels_and_the_mask_is_the_suspects_size(source: np.ndarray) -> None:
    suspect = _reposted(_edited(source))
    result = compare(suspect, source)
    figure = Image.open(io.BytesIO(figure_png(result)))
    assert figure.format == "PNG" and figure.height > PANEL_HEIGHT
    assert figure.width > 4 * PANEL_HEIGHT * suspect.shape[1] / suspect.shape[0]
    mask = np.asarray(Image.open(io.BytesIO(mask_png(result))))
    assert mask.shape == suspect.shape[:2] and set(np.unique(mask)) == {0, 255}
    unrelated = compare(_reposted(textured_pixels(9)), source)
    assert figure_png(unrelated) is None
    assert not np.asarray(Image.open(io.BytesIO(mask_png(unrelated)))).any()


@pytest.mark.parametrize("bad", [np.zeros((40, 40), np.uint8), np.zeros((40, 40, 3), np.float32),
                                 np.zeros((20, 40, 3), np.uint8), np.zeros((40, 40, 4), np.uint8)])
def test_arrays_that_are_not_rgb_pictures_are_refused(bad: np.ndarray, source: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        compare(bad, source)
    with pytest.raises(ValueError, match="uint8 RGB"):
        compare(source, bad)
