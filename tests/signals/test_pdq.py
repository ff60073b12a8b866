"""PDQ through pdqhash: hex format, dihedral variants, robustness, quality, distance."""

from __future__ import annotations

import io

import numpy as np
import pdqhash
import pytest
from PIL import Image

from deepshield.errors import InvalidSignal, LowQualityHash
from deepshield.media import MediaLimits
from deepshield.services.spread.hashing import hash_media
from deepshield.signals.pdq import (
    DIHEDRAL_VARIANTS,
    PDQ_BITS,
    PdqHash,
    parse_pdq_hex,
    pdq_dihedral_from_pixels,
    pdq_distance,
    pdq_from_pixels,
    pdq_hex_to_bytes,
    require_quality,
)
from factories import encode_image, photo_like, photo_pixels

MATCH_THRESHOLD = 31  # Meta's recommended PDQ match distance


def _threatexchange_hex(bits) -> str:
    """python-threatexchange's encoding of pdqhash output: bits read as one big-endian number."""
    bit_string = "".join(str(int(bit)) for bit in bits)
    return f"{int(bit_string, 2):064x}"


def _jpeg_roundtrip(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def _resized(pixels: np.ndarray, factor: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    size = (round(width * factor), round(height * factor))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return photo_like(384, 512, seed=1)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pdq_hex_is_64_lowercase_hex_digits(seed):
    pdq_hash = pdq_from_pixels(photo_like(96, 128, seed))
    assert isinstance(pdq_hash, PdqHash)
    assert len(pdq_hash.hex) == 64 == PDQ_BITS // 4
    assert set(pdq_hash.hex) <= set("0123456789abcdef")
    assert 0 <= pdq_hash.quality <= 100


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_pdq_hex_equals_threatexchange_packing_of_pdqhash_bits_read_msb_first(seed):
    pixels = photo_like(120, 160, seed)
    bits, quality = pdqhash.compute(pixels)
    pdq_hash = pdq_from_pixels(pixels)
    assert pdq_hash.hex == _threatexchange_hex(bits)
    assert pdq_hash.quality == quality
    # The first bit pdqhash returns is the top bit of the first hex digit.
    assert int(pdq_hash.hex[0], 16) >> 3 == bits[0]


def test_pdq_of_a_non_contiguous_view_equals_pdq_of_its_copy(photo):
    view = photo[::2, ::2]
    assert not view.flags["C_CONTIGUOUS"]
    assert pdq_from_pixels(view) == pdq_from_pixels(np.ascontiguousarray(view))


@pytest.mark.parametrize(
    "bad_pixels",
    [
        np.zeros((32, 32), dtype=np.uint8),
        np.zeros((32, 32, 4), dtype=np.uint8),
        np.zeros((32, 32, 3), dtype=np.float32),
        np.zeros((32, 32, 3), dtype=np.uint16),
    ],
    ids=["grey-2d", "rgba", "float32", "uint16"],
)
def test_pdq_takes_only_rgb_uint8_arrays(bad_pixels):
    with pytest.raises(ValueError, match="RGB"):
        pdq_from_pixels(bad_pixels)
    with pytest.raises(ValueError, match="RGB"):
        pdq_dihedral_from_pixels(bad_pixels)


# What each dihedral variant is, as a numpy operation on an H×W×3 array. The names are
# those of Meta's reference (and of ThreatExchange's pdq/data/reg-test-input/dih files).
NUMPY_OF_VARIANT = {
    "original": lambda a: a,
    "rotate90": lambda a: np.rot90(a, 1),  # 90° anticlockwise
    "rotate180": lambda a: np.rot90(a, 2),
    "rotate270": lambda a: np.rot90(a, -1),  # 90° clockwise
    "flip_x": lambda a: a[::-1],  # mirrored about the horizontal (x) axis: upside down
    "flip_y": lambda a: a[:, ::-1],  # mirrored about the vertical (y) axis: left-right
    "flip_plus1": lambda a: a.transpose(1, 0, 2),  # mirrored about the main diagonal
    "flip_minus1": lambda a: np.rot90(a, 2).transpose(1, 0, 2),  # about the anti-diagonal
}


def test_dihedral_variants_are_the_eight_named_in_reference_order():
    assert DIHEDRAL_VARIANTS == (
        "original", "rotate90", "rotate180", "rotate270",
        "flip_x", "flip_y", "flip_plus1", "flip_minus1",
    )  # fmt: skip
    assert set(NUMPY_OF_VARIANT) == set(DIHEDRAL_VARIANTS)


def test_dihedral_first_variant_is_the_plain_hash_and_all_share_its_quality(photo):
    variants = pdq_dihedral_from_pixels(photo)
    assert [name for name, _ in variants] == list(DIHEDRAL_VARIANTS)
    plain = pdq_from_pixels(photo)
    assert variants[0][1] == plain
    assert {variant.quality for _, variant in variants} == {plain.quality}
    assert len({variant.hex for _, variant in variants}) == 8


@pytest.mark.parametrize("variant", DIHEDRAL_VARIANTS)
def test_dihedral_variant_equals_the_plain_hash_of_the_transformed_image_at_64x64(variant):
    # At 64×64 PDQ does no resampling, so the identity is exact, bit for bit.
    pixels = photo_like(64, 64, seed=5)
    variants = dict(pdq_dihedral_from_pixels(pixels))
    transformed = np.ascontiguousarray(NUMPY_OF_VARIANT[variant](pixels))
    assert variants[variant].hex == pdq_from_pixels(transformed).hex


@pytest.mark.parametrize("variant", DIHEDRAL_VARIANTS)
def test_dihedral_variant_matches_the_transformed_image_and_no_other_variant_is_nearer(photo, variant):
    """At other sizes the identity is close, not exact.

    PDQ's downsampling (box filter and decimation at (i + 0.5)·W/64) is not mirror-symmetric,
    so a flipped image is sampled at slightly different points: measured 0-20 bits on
    generated 384×512 images (this one: up to 16), 0-8 on the 1600×1004 reference bridge photo.
    """
    variants = dict(pdq_dihedral_from_pixels(photo))
    transformed_hex = pdq_from_pixels(np.ascontiguousarray(NUMPY_OF_VARIANT[variant](photo))).hex
    distances = {name: pdq_distance(variants[name].hex, transformed_hex) for name in variants}
    assert distances[variant] <= MATCH_THRESHOLD
    assert distances[variant] == min(distances.values())
    assert sorted(distances.values())[1] > MATCH_THRESHOLD


@pytest.mark.parametrize("jpeg_quality", [90, 50, 20])
def test_jpeg_recompression_keeps_the_hash_within_the_match_threshold(photo, jpeg_quality):
    original = pdq_from_pixels(photo)
    assert original.quality >= 80
    recompressed = pdq_from_pixels(_jpeg_roundtrip(photo, jpeg_quality))
    assert pdq_distance(original.hex, recompressed.hex) <= MATCH_THRESHOLD


@pytest.mark.parametrize("factor", [0.5, 0.25, 1.5])
def test_resizing_keeps_the_hash_within_the_match_threshold(photo, factor):
    original = pdq_from_pixels(photo)
    resized = pdq_from_pixels(_resized(photo, factor))
    assert pdq_distance(original.hex, resized.hex) <= MATCH_THRESHOLD


def test_resize_plus_recompression_keeps_the_hash_within_the_match_threshold(photo):
    reposted = _jpeg_roundtrip(_resized(photo, 0.5), 60)
    assert pdq_distance(pdq_from_pixels(photo).hex, pdq_from_pixels(reposted).hex) <= MATCH_THRESHOLD


def test_unrelated_images_are_far_beyond_the_match_threshold():
    hashes = [pdq_from_pixels(photo_like(192, 256, seed)).hex for seed in range(10, 16)]
    distances = [
        pdq_distance(left, right) for index, left in enumerate(hashes) for right in hashes[index + 1 :]
    ]
    assert min(distances) > MATCH_THRESHOLD
    # Unrelated hashes sit near 128 (half the bits); measured 112-144 for these.
    assert 80 < float(np.mean(distances)) < 176


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_image_has_quality_below_50(value):
    flat = np.full((100, 120, 3), value, dtype=np.uint8)
    assert pdq_from_pixels(flat).quality < 50


def test_photo_like_image_has_high_quality(photo):
    assert pdq_from_pixels(photo).quality >= 80


def test_require_quality_refuses_hashes_below_the_minimum_and_accepts_unknown_quality():
    with pytest.raises(LowQualityHash, match="quality 49, below the minimum of 50") as caught:
        require_quality(49, 50)
    assert caught.value.code == "low_quality_hash"
    require_quality(50, 50)
    require_quality(None, 50)


def test_distance_counts_differing_bits():
    zero, ones = "0" * 64, "f" * 64
    assert pdq_distance(zero, zero) == 0
    assert pdq_distance(zero, ones) == 256
    assert pdq_distance(zero, "8" + "0" * 63) == 1
    assert pdq_distance(zero, "0" * 63 + "1") == 1
    assert pdq_distance("a" * 64, "5" * 64) == 256


def test_distance_is_symmetric_and_ignores_case(photo):
    left = pdq_from_pixels(photo).hex
    right = pdq_from_pixels(photo_like(384, 512, seed=2)).hex
    assert pdq_distance(left, right) == pdq_distance(right, left)
    assert pdq_distance(left.upper(), right) == pdq_distance(left, right)


@pytest.mark.parametrize("bad", ["", "0" * 63, "0" * 65, "g" * 64, "0x" + "0" * 62])
def test_distance_refuses_malformed_hashes(bad):
    with pytest.raises(InvalidSignal):
        pdq_distance(bad, "0" * 64)


def test_parse_pdq_hex_lowercases_and_strips_and_bytes_are_big_endian():
    value = " " + "AB" * 32 + "\n"
    assert parse_pdq_hex(value) == "ab" * 32
    raw = pdq_hex_to_bytes("80" + "0" * 62)
    assert len(raw) == 32
    assert raw[0] == 0x80


# --- Images over the analysis limit are hashed from a reduction (media/image.py) ------------------

#: Lowered limits, so that a 2400 × 1800 image takes the path a 100 Mpx one takes by default.
_REDUCING = MediaLimits(max_analysis_pixels=1_000_000, reduced_analysis_pixels=250_000)


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_huge_images_hash_from_its_reduction_matches_its_full_size_hash_and_its_small_copy(
        image_format, seed):
    pixels = photo_pixels(seed, 2400, 1800)
    data = encode_image(pixels, image_format)
    reduced = hash_media(data, _REDUCING).pdq
    full = hash_media(data, MediaLimits()).pdq  # 4.3 Mpx: full size under the default limits
    copy = hash_media(encode_image(Image.fromarray(pixels).resize((600, 450), Image.Resampling.LANCZOS),
                                   image_format), MediaLimits()).pdq
    assert reduced is not None and full is not None and copy is not None
    assert reduced.quality >= 50
    # Measured: 4-8 bits (PNG, box filter) and 12-14 bits (JPEG, the decoder's 1/8 scaling)
    # from the full-size hash; 4-12 bits from the quarter-size copy. A match is ≤ 31.
    assert pdq_distance(reduced.hex, full.hex) <= 20
    assert pdq_distance(reduced.hex, copy.hex) <= 20
