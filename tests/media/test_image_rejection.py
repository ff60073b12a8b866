"""decode_image refuses what it cannot or must not decode, with a typed error saying why."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from deepshield.errors import Category, DeepShieldError
from deepshield.media import (
    CorruptMedia,
    EmptyMedia,
    MediaError,
    MediaLimits,
    MediaTooLarge,
    UnsupportedMedia,
    decode_image,
)
from deepshield.media.video import probe_video
from factories import encode_image, encode_synthetic_video


def _png_chunk(chunk_type: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(chunk_type + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + chunk_type + payload + struct.pack(">I", crc)


def _png_with_header(width: int, height: int, idat: bytes) -> bytes:
    """A PNG whose IHDR states ``width``×``height`` RGB, followed by the given IDAT payload."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _replace_idat(png: bytes, new_payload: bytes) -> bytes:
    start = png.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", png[start : start + 4])
    end = start + 12 + length
    return png[:start] + _png_chunk(b"IDAT", new_payload) + png[end:]


def test_every_media_error_is_a_deepshield_error_with_a_code_and_detail():
    for error_class, code in [
        (EmptyMedia, "empty_media"),
        (UnsupportedMedia, "unsupported_media"),
        (CorruptMedia, "corrupt_media"),
        (MediaTooLarge, "media_too_large"),
    ]:
        error = error_class("what went wrong")
        assert isinstance(error, MediaError)
        assert isinstance(error, DeepShieldError)
        assert error.code == code
        assert error.detail == "what went wrong"
    assert MediaTooLarge.category is Category.TOO_LARGE
    assert CorruptMedia.category is Category.INVALID_INPUT


def test_empty_bytes_are_refused_as_empty_media(limits):
    with pytest.raises(EmptyMedia, match="empty"):
        decode_image(b"", limits)


def test_text_is_refused_as_unsupported_and_called_text(limits):
    with pytest.raises(UnsupportedMedia, match="text"):
        decode_image(b"A caption, not a picture.\n", limits)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "PDF"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 40, "ZIP"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56, "executable"),
    ],
    ids=["pdf", "zip", "elf"],
)
def test_documents_archives_and_programs_are_refused_by_what_they_are(limits, content, says):
    with pytest.raises(UnsupportedMedia) as caught:
        decode_image(content, limits)
    assert says in caught.value.detail


@pytest.mark.parametrize(("image_format", "name"), [("JPEG", "JPEG"), ("PNG", "PNG")])
def test_image_cut_in_half_is_refused_as_corrupt_or_truncated(photo, limits, image_format, name):
    data = encode_image(photo, image_format)
    with pytest.raises(CorruptMedia) as caught:
        decode_image(data[: len(data) // 2], limits)
    assert name in caught.value.detail
    assert "truncated" in caught.value.detail


def test_png_with_a_bad_header_crc_is_refused_as_corrupt(photo, limits):
    data = bytearray(encode_image(photo, "PNG"))
    data[8 + 8 + 13] ^= 0xFF  # the IHDR chunk's CRC
    with pytest.raises(CorruptMedia, match="PNG"):
        decode_image(bytes(data), limits)


def test_png_whose_pixel_data_is_garbage_is_refused_as_corrupt(photo, limits):
    png = encode_image(photo, "PNG")
    garbage = np.random.default_rng(3).bytes(200)
    with pytest.raises(CorruptMedia, match="PNG"):
        decode_image(_replace_idat(png, garbage), limits)


def test_decompression_bomb_header_is_refused_before_any_pixel_is_allocated(limits):
    # 100 000 × 100 000 RGB would need 30 GB; the file is under 100 bytes.
    bomb = _png_with_header(100_000, 100_000, zlib.compress(b"\x00" * 64))
    assert len(bomb) < 100
    with pytest.raises(MediaTooLarge) as caught:  # how fast: bench/media_rejection.py
        decode_image(bomb, limits)
    assert "decompression bomb" in caught.value.detail
    assert caught.value.category is Category.TOO_LARGE


def test_header_just_over_the_pixel_limit_is_refused_and_the_message_gives_the_numbers():
    limits = MediaLimits(max_pixels=1_000_000)
    header_only = _png_with_header(2_000, 1_000, zlib.compress(b"\x00" * 64))
    with pytest.raises(MediaTooLarge) as caught:
        decode_image(header_only, limits)
    assert "2,000,000 pixels" in caught.value.detail
    assert "1,000,000" in caught.value.detail


def test_real_image_over_a_small_pixel_limit_is_refused(photo):
    with pytest.raises(MediaTooLarge, match="pixels"):
        decode_image(encode_image(photo, "PNG"), MediaLimits(max_pixels=48 * 64 - 1))


def test_image_over_max_image_bytes_is_refused_before_decoding(photo):
    data = encode_image(photo, "PNG")
    with pytest.raises(MediaTooLarge) as caught:
        decode_image(data, MediaLimits(max_image_bytes=len(data) - 1))
    assert f"{len(data):,} bytes" in caught.value.detail
    assert "limit" in caught.value.detail
    # At exactly the limit it is accepted.
    assert decode_image(data, MediaLimits(max_image_bytes=len(data))).width == 64


def test_png_with_a_zero_width_header_is_refused_as_corrupt(limits):
    with pytest.raises(CorruptMedia):
        decode_image(_png_with_header(0, 10, zlib.compress(b"\x00" * 4)), limits)


def test_video_passed_as_an_image_is_refused_as_unsupported(limits):
    video = encode_synthetic_video("mp4", "libx264", frame_count=5)
    with pytest.raises(UnsupportedMedia) as caught:
        decode_image(video, limits)
    assert "expected an image" in caught.value.detail
    assert "mp4" in caught.value.detail


def test_image_passed_as_a_video_is_refused_as_unsupported(photo, limits):
    with pytest.raises(UnsupportedMedia) as caught:
        probe_video(encode_image(photo, "PNG"), limits)
    assert "expected a video" in caught.value.detail
    assert "png" in caught.value.detail


def test_random_bytes_behind_a_jpeg_magic_number_are_refused_as_corrupt(limits):
    fake = b"\xff\xd8\xff" + np.random.default_rng(5).bytes(4000)
    with pytest.raises(CorruptMedia) as caught:
        decode_image(fake, limits)
    assert "JPEG" in caught.value.detail


def test_corrupt_jpeg_message_gives_pillows_reason_not_a_missing_plugin(limits):
    # Pillow 13 registers no separate "MPO" opener; asking for one used to end in KeyError('MPO').
    fake = b"\xff\xd8\xff" + np.random.default_rng(5).bytes(4000)
    with pytest.raises(CorruptMedia) as caught:
        decode_image(fake, limits)
    assert "MPO" not in caught.value.detail


@pytest.mark.parametrize(
    ("image_format", "options"),
    [("JPEG", {}), ("PNG", {}), ("WEBP", {"quality": 80}), ("GIF", {}), ("BMP", {}), ("TIFF", {})],
)
def test_damaged_images_raise_only_media_errors(photo, limits, image_format, options):
    """Whatever the damage, a caller sees a MediaError or a well-formed image, never a crash."""
    data = encode_image(photo, image_format, **options)
    rng = np.random.default_rng(11)
    damaged = [data[:cut] for cut in np.linspace(1, len(data) - 1, 15).astype(int)]
    for _ in range(15):
        flipped = bytearray(data)
        for position in rng.integers(16, len(data), 4):
            flipped[position] ^= 0xFF
        damaged.append(bytes(flipped))
    for sample in damaged:
        try:
            decoded = decode_image(sample, limits)
        except MediaError:
            continue
        assert decoded.pixels.ndim == 3
        assert decoded.pixels.shape[2] == 3
        assert decoded.pixels.dtype == np.uint8
