"""Analysis in bounded memory: ``decode_image(..., for_analysis=True)`` reduces an image over
``MediaLimits.max_analysis_pixels`` while decoding it, and leaves every other image exactly as
it was; the watermark detector bounds its own planes. The limits are lowered here so that
ordinary-sized test images take the paths that 100 Mpx ones take in production.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

import deepshield.media.image as image_module
from deepshield.media import CorruptMedia, MediaLimits, decode_image
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.label.labelling import label_media
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.spread.hashing import hash_media
from deepshield.services.verify.verification import verify_media
from deepshield.signals.pdq import pdq_dihedral_from_pixels
from deepshield.watermark.analysis import WORKING_SHORT_SIDE
from deepshield.watermark.detection import DIRECT_MAX_PIXELS, MAX_ASPECT, analysis_plane, bounded
from factories import encode_image, photo_pixels
from principals import SETUP

#: Images over 1 Mpx are reduced to at most 250 kpx.
LOW = MediaLimits(max_analysis_pixels=1_000_000, reduced_analysis_pixels=250_000)


@pytest.fixture
def small_bands(monkeypatch):
    """Convert small tiles, so that every test below crosses many tile edges."""
    monkeypatch.setattr(image_module, "_BAND_PIXELS", 20_000)
    monkeypatch.setattr(image_module, "_TILE_SIDE", 300)


def _png(image: Image.Image | np.ndarray) -> bytes:
    return encode_image(image, "PNG")


def test_an_image_within_the_analysis_limit_is_decoded_exactly_as_before():
    data = encode_image(photo_pixels(1, 1000, 1000), "JPEG", quality=90)  # exactly 1 Mpx
    full = decode_image(data, LOW)
    analysed = decode_image(data, LOW, for_analysis=True)
    assert analysed.reduction == 1 and (analysed.width, analysed.height) == (1000, 1000)
    np.testing.assert_array_equal(analysed.pixels, full.pixels)
    # So its hashes are the full-size ones (bit-identical to the reference's).
    assert hash_media(data, LOW).pdq == pdq_dihedral_from_pixels(full.pixels)[0][1]


def test_a_larger_png_is_reduced_exactly_as_a_whole_image_box_filter_would(small_bands):
    pixels = photo_pixels(2, 1201, 1003)  # odd sides: the last box in each direction is partial
    decoded = decode_image(_png(pixels), LOW, for_analysis=True)
    assert (decoded.width, decoded.height) == (1201, 1003)
    assert decoded.reduction == 3  # the smallest factor: 401 × 335 ≤ 250 kpx
    assert decoded.pixels.shape[0] * decoded.pixels.shape[1] <= LOW.reduced_analysis_pixels
    expected = np.asarray(Image.fromarray(pixels).reduce(3))
    np.testing.assert_array_equal(decoded.pixels, expected)
    # Without for_analysis the same file is decoded at full size.
    np.testing.assert_array_equal(decode_image(_png(pixels), LOW).pixels, pixels)


def test_reduction_keeps_the_stored_colours_under_transparent_alpha(small_bands):
    rgba = np.dstack([photo_pixels(3, 1200, 1000), np.zeros((1000, 1200), np.uint8)])
    decoded = decode_image(_png(rgba), LOW, for_analysis=True)
    expected = np.asarray(Image.fromarray(rgba[..., :3]).reduce(decoded.reduction))
    np.testing.assert_array_equal(decoded.pixels, expected)
    assert decoded.pixels.mean() > 20  # not the black a premultiplied reduction would give


def test_reduction_of_a_palette_image_matches_its_rgb_reduction(small_bands):
    palette = Image.fromarray(photo_pixels(4, 1200, 1000)).quantize(64)
    decoded = decode_image(_png(palette), LOW, for_analysis=True)
    expected = np.asarray(palette.convert("RGB").reduce(decoded.reduction))
    np.testing.assert_array_equal(decoded.pixels, expected)


def test_16_bit_greyscale_is_scaled_by_the_whole_images_peak_in_every_band(small_bands):
    grey = np.full((1000, 1200), 200, dtype=np.uint16)
    grey[-10:, -10:] = 65535  # only the last band holds values over 8 bits
    decoded = decode_image(_png(Image.fromarray(grey)), LOW, for_analysis=True)
    # 200 / 65535 × 255 = 0.78: every band is scaled alike, so the flat part is 0, not 200.
    assert decoded.pixels[0, 0, 0] == 0
    assert decoded.pixels[-1, -1, 0] == 255


def test_a_large_jpeg_is_reduced_by_the_decoder_and_keeps_its_orientation():
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn clockwise
    data = encode_image(photo_pixels(5, 1600, 1200), "JPEG", quality=92, exif=exif.tobytes())
    decoded = decode_image(data, LOW, for_analysis=True)
    assert (decoded.width, decoded.height) == (1200, 1600)  # the upright size
    assert decoded.reduction > 1
    height, width = decoded.pixels.shape[:2]
    assert height > width and height * width <= LOW.reduced_analysis_pixels
    full = decode_image(data, LOW)
    shrunk = np.asarray(Image.fromarray(full.pixels).resize((width, height), Image.Resampling.BOX))
    assert np.abs(decoded.pixels.astype(int) - shrunk.astype(int)).mean() < 4


def test_a_large_webp_is_decoded_by_opencv_and_reduced():
    pixels = photo_pixels(9, 1600, 1200)
    data = encode_image(pixels, "WEBP", quality=90)
    decoded = decode_image(data, LOW, for_analysis=True)
    assert (decoded.width, decoded.height) == (1600, 1200) and decoded.reduction == 3
    assert decoded.pixels.shape == (400, 534, 3)
    full = decode_image(data, LOW).pixels  # Pillow's decoder, full size
    boxed = np.asarray(Image.fromarray(full).reduce(3))
    assert np.abs(decoded.pixels.astype(int) - boxed.astype(int)).mean() < 1.5
    with pytest.raises(CorruptMedia, match="WEBP"):
        decode_image(data[:len(data) // 2], LOW, for_analysis=True)


def test_a_large_animated_webp_is_reduced_from_its_first_frame():
    frames = [Image.fromarray(photo_pixels(seed, 1600, 1200)) for seed in (10, 11)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], quality=90)
    decoded = decode_image(buffer.getvalue(), LOW, for_analysis=True)
    assert decoded.reduction == 3 and decoded.pixels.shape == (400, 534, 3)
    first = np.asarray(frames[0].reduce(3))
    assert np.abs(decoded.pixels.astype(int) - first.astype(int)).mean() < 3


def test_the_detector_reads_a_bounded_plane_whatever_the_image():
    thin = np.asarray(Image.fromarray(photo_pixels(6, 2000, 150)).resize((40_000, 150)))
    assert bounded(thin).shape[:2] == (150, MAX_ASPECT * 150)
    # Scaled to the working size, the strip would have been a 320 × 85,333 float plane.
    assert analysis_plane(thin).shape == (WORKING_SHORT_SIDE, MAX_ASPECT * WORKING_SHORT_SIDE)
    ordinary = photo_pixels(7, 640, 480)
    assert bounded(ordinary) is ordinary
    big = np.zeros((5000, 5001, 3), np.uint8)
    assert big.shape[0] * big.shape[1] > DIRECT_MAX_PIXELS
    shrunk = bounded(big)
    assert shrunk.shape[0] * shrunk.shape[1] <= DIRECT_MAX_PIXELS and shrunk.dtype == np.uint8


def test_a_labelled_large_image_verifies_and_its_stripped_copy_is_recovered(settings):
    """Label and verify through the reduced path: the label's fingerprint and the verifier's are
    both taken from the reduction, and the watermark is read from it."""
    limited = replace(settings, limits=replace(settings.limits, max_analysis_pixels=1_000_000,
                                               reduced_analysis_pixels=500_000))
    ctx = ServiceContext.open(limited)
    try:
        init_signing_keys(ctx, force=False, principal=SETUP)
        photo = encode_image(photo_pixels(8, 1600, 1200), "JPEG", quality=92)
        labelled = label_media(ctx, photo, generator="ImageGen", model=None,
                               principal=Principal("test:provider", Role.PROVIDER))
        report = verify_media(ctx, labelled.data, principal=None)
        assert report.verdict == "verified", report.reasons
        assert report.watermark["found"] and report.watermark["label_id"] == labelled.label_id
        buffer = io.BytesIO()
        Image.open(io.BytesIO(labelled.data)).convert("RGB").save(buffer, "PNG")
        stripped = verify_media(ctx, buffer.getvalue(), principal=None)
        assert stripped.manifest is None
        assert stripped.verdict == "recovered", stripped.reasons
        assert stripped.watermark["label_id"] == labelled.label_id
        assert stripped.consistency["consistent"]
    finally:
        ctx.close()
