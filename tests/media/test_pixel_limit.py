"""One pixel rule: ``DEEPSHIELD_MAX_PIXELS`` (``MediaLimits.max_pixels``, 100 M by default), not
Pillow's process-wide ``Image.MAX_IMAGE_PIXELS`` (89,478,485) and its bomb warning.

An image under the setting decodes; one over it is refused, from its header, before a pixel is
decoded, with a message naming the limit (413 at the API, exit code 3 at the CLI). Pillow's
globals and the warning filters are left as they were: other code in the process keeps
Pillow's own protection.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from deepshield.api.app import create_app
from deepshield.cli.main import app as cli_app
from deepshield.errors import Category
from deepshield.media import CorruptMedia, MediaLimits, MediaTooLarge, decode_image
from deepshield.services.spread.hashing import hash_media
from deepshield.settings import load_settings
from factories import encode_image, photo_pixels
from live_server import serving

#: 9747 × 9747 = 95,004,009 pixels: over Pillow's default cap, under DeepShield's 100 M.
SIDE = 9747
PIXELS_95M = SIDE * SIDE


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def png_95m() -> bytes:
    """A real, complete 95 Mpx RGB PNG of a few hundred kB: bands of 512 rows, each a horizontal
    pattern in its first row repeated below by PNG's "Up" filter (rows of zeros)."""
    compressor = zlib.compressobj(1)
    parts = []
    x = bytes(range(256)) * (3 * SIDE // 256 + 2)
    repeat = b"\x02" + bytes(3 * SIDE)
    for top in range(0, SIDE, 512):
        shift = (top // 512) * 37 % 256
        parts.append(compressor.compress(b"\x00" + x[shift:shift + 3 * SIDE]))
        parts.append(compressor.compress(repeat * (min(512, SIDE - top) - 1)))
    parts.append(compressor.flush())
    return _png(SIDE, SIDE, b"".join(parts))


def test_an_image_over_pillows_default_cap_but_under_the_setting_decodes(png_95m):
    assert PIXELS_95M > Image.MAX_IMAGE_PIXELS  # the point of the test: Pillow alone would warn
    limits = MediaLimits()
    assert limits.max_pixels == 100_000_000
    signals = hash_media(png_95m, limits)
    assert (signals.width, signals.height) == (SIDE, SIDE)
    assert signals.pdq is not None and len(signals.pdq.hex) == 64
    decoded = decode_image(png_95m, limits, for_analysis=True)
    assert (decoded.width, decoded.height) == (SIDE, SIDE)
    assert decoded.reduction > 1  # analysed on a reduced copy (media/image.py)
    assert decoded.pixels.shape[0] * decoded.pixels.shape[1] <= limits.reduced_analysis_pixels


def test_the_same_image_is_refused_when_the_setting_is_lower_naming_the_limit(png_95m):
    limits = load_settings({"DEEPSHIELD_MAX_PIXELS": "90000000"}).limits
    with pytest.raises(MediaTooLarge) as caught:
        hash_media(png_95m, limits)
    detail = caught.value.detail
    assert f"{PIXELS_95M:,} pixels" in detail and "90,000,000" in detail
    assert "DEEPSHIELD_MAX_PIXELS" in detail
    assert caught.value.category is Category.TOO_LARGE


def test_the_refusal_comes_from_the_header_before_any_pixel_is_decoded():
    # The same header over pixel data that is garbage: over the limit it is "too large", not
    # "corrupt", so the decoder never ran; under the limit the decoder runs and finds the garbage.
    header_only = _png(SIDE, SIDE, b"not zlib at all")
    with pytest.raises(MediaTooLarge):
        decode_image(header_only, MediaLimits(max_pixels=PIXELS_95M - 1))
    with pytest.raises(CorruptMedia):
        decode_image(header_only, MediaLimits(max_pixels=PIXELS_95M))


def test_a_setting_above_pillows_hard_cap_is_obeyed_too():
    # 15000 × 13000 = 195 M: over twice Pillow's cap, where Image.open raises an error.
    over_pillow = _png(15_000, 13_000, b"garbage")
    assert 2 * Image.MAX_IMAGE_PIXELS < 15_000 * 13_000
    with pytest.raises(CorruptMedia):  # past the pixel rule, to the decoder
        decode_image(over_pillow, MediaLimits(max_pixels=200_000_000))
    with pytest.raises(MediaTooLarge, match="200,000,000"):
        decode_image(_png(15_000, 14_000, b"garbage"), MediaLimits(max_pixels=200_000_000))


def test_pillows_globals_and_the_warning_filters_are_left_as_they_were(png_95m):
    cap = Image.MAX_IMAGE_PIXELS
    filters = list(warnings.filters)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        hash_media(png_95m, MediaLimits())
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]
    assert cap == Image.MAX_IMAGE_PIXELS
    assert list(warnings.filters) == filters
    # Everyone else in the process still gets Pillow's own protection.
    with pytest.warns(Image.DecompressionBombWarning):
        Image.open(BytesIO(png_95m))


def test_the_api_answers_413_naming_the_limit(settings):
    limited = replace(settings, limits=replace(settings.limits, max_pixels=1_000_000))
    header_only = _png(2_000, 1_000, zlib.compress(b"\x00" * 64))
    with serving(create_app(limited)) as url:
        response = httpx.post(f"{url}/v1/verify", files={"file": ("big.png", header_only, "image/png")},
                              timeout=30)
        fine = httpx.post(f"{url}/v1/verify", timeout=30, files={
            "file": ("ok.jpg", encode_image(photo_pixels(8, 640, 480), "JPEG"), "image/jpeg")})
    assert response.status_code == 413, response.text
    body = response.json()
    assert body["error"] == "media_too_large"
    assert "2,000,000 pixels" in body["detail"] and "1,000,000" in body["detail"]
    assert fine.status_code == 200, fine.text


def test_the_cli_exits_3_naming_the_limit(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("DEEPSHIELD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPSHIELD_MAX_PIXELS", "1000000")
    image = tmp_path / "big.png"
    image.write_bytes(_png(2_000, 1_000, zlib.compress(b"\x00" * 64)))
    result = CliRunner().invoke(cli_app, ["hash", str(image)])
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert "1,000,000" in result.stderr + result.stdout
    assert "DEEPSHIELD_MAX_PIXELS" in result.stderr + result.stdout
