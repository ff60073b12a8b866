"""HEIC, from a real file checked in: sniffed, decoded, hashed, and held to the same pixel rule.

``data/photo.heic`` (5.6 kB) was written by pillow-heif (quality 70) from
``factories.photo_like(240, 320, seed=21)``, a 320 × 240 photo-like picture.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from deepshield.media import CorruptMedia, MediaLimits, MediaTooLarge, decode_image, sniff_media_type
from deepshield.services.spread.hashing import hash_media
from deepshield.signals.pdq import pdq_distance
from factories import encode_image, photo_like

HEIC = Path(__file__).parent / "data" / "photo.heic"
WIDTH, HEIGHT = 320, 240


@pytest.fixture(scope="module")
def heic() -> bytes:
    return HEIC.read_bytes()


@pytest.fixture(scope="module")
def original() -> np.ndarray:
    return photo_like(HEIGHT, WIDTH, seed=21)


def _declaring(heic: bytes, width: int, height: int) -> bytes:
    """``heic`` with its image-spatial-extents box ('ispe') declaring another size."""
    assert heic.count(b"ispe") == 1
    at = heic.index(b"ispe") + 8  # after the box type and its version and flags
    assert struct.unpack(">II", heic[at:at + 8]) == (WIDTH, HEIGHT)
    return heic[:at] + struct.pack(">II", width, height) + heic[at + 8:]


def test_the_checked_in_heic_is_small_and_sniffed_as_heif(heic):
    assert len(heic) < 10_000
    assert heic[4:12] == b"ftypheic"
    media_type = sniff_media_type(heic[:64])
    assert (media_type.name, media_type.mime) == ("heif", "image/heif")


def test_it_decodes_to_the_picture_it_was_made_from(heic, original):
    decoded = decode_image(heic, MediaLimits())
    assert decoded.media_type.name == "heif"
    assert decoded.pixels.shape == (HEIGHT, WIDTH, 3) and decoded.pixels.dtype == np.uint8
    assert (decoded.width, decoded.height) == (WIDTH, HEIGHT)
    difference = np.abs(decoded.pixels.astype(int) - original.astype(int)).mean()
    assert difference < 3, f"mean difference {difference:.2f} levels (did factories.photo_like change?)"


def test_it_hashes_close_to_the_same_picture_as_png(heic, original):
    signals = hash_media(heic, MediaLimits())
    assert (signals.kind.value, signals.format) == ("image", "heif")
    assert (signals.width, signals.height) == (WIDTH, HEIGHT)
    assert signals.pdq is not None and signals.pdq.quality >= 50
    as_png = hash_media(encode_image(original, "PNG"), MediaLimits())
    assert as_png.pdq is not None
    assert pdq_distance(signals.pdq.hex, as_png.pdq.hex) <= 16  # a match is ≤ 31
    assert signals.sha256 != as_png.sha256


def test_a_heic_bomb_is_refused_by_the_pixel_rule_before_decoding(heic):
    for width, height in [(12_000, 9_000), (60_000, 60_000), (2**31 - 1, 2**31 - 1)]:
        with pytest.raises(MediaTooLarge) as caught:
            decode_image(_declaring(heic, width, height), MediaLimits())
        assert f"{width * height:,} pixels" in caught.value.detail
        assert "100,000,000" in caught.value.detail and "DEEPSHIELD_MAX_PIXELS" in caught.value.detail


def test_the_rule_is_the_setting_not_pillows_cap(heic):
    # Over the setting: refused, however small the file.
    with pytest.raises(MediaTooLarge, match=f"{WIDTH * HEIGHT - 1:,}"):
        decode_image(heic, MediaLimits(max_pixels=WIDTH * HEIGHT - 1))
    # 95 M declared: under the setting (over Pillow's 89.5 M cap), so it goes on to the decoder,
    # which finds the picture does not have the size its header declares.
    with pytest.raises(CorruptMedia, match="HEIF"):
        decode_image(_declaring(heic, 9_500, 10_000), MediaLimits())
