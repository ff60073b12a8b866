"""decode_image reads every supported format from its content into H×W×3 uint8 RGB."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deepshield.media import MediaLimits, decode_image, read_media_file
from factories import encode_image


def _mean_abs_diff(left: np.ndarray, right: np.ndarray) -> float:
    return float(np.abs(left.astype(np.int16) - right.astype(np.int16)).mean())


def _assert_rgb(decoded, height: int, width: int) -> None:
    assert decoded.pixels.shape == (height, width, 3)
    assert decoded.pixels.dtype == np.uint8
    assert (decoded.height, decoded.width) == (height, width)


# (Pillow format, save options, sniffed name, largest mean abs error allowed: 0 = lossless)
FORMATS = [
    pytest.param("JPEG", {"quality": 95}, "jpeg", 4.0, id="jpeg"),
    pytest.param("PNG", {}, "png", 0.0, id="png"),
    pytest.param("WEBP", {"lossless": True}, "webp", 0.0, id="webp-lossless"),
    pytest.param("WEBP", {"quality": 90}, "webp", 4.0, id="webp-lossy"),
    pytest.param("BMP", {}, "bmp", 0.0, id="bmp"),
    pytest.param("TIFF", {}, "tiff", 0.0, id="tiff"),
    pytest.param("TIFF", {"compression": "tiff_lzw"}, "tiff", 0.0, id="tiff-lzw"),
]


@pytest.mark.parametrize(("image_format", "options", "name", "tolerance"), FORMATS)
def test_each_image_format_decodes_to_its_pixels(photo, limits, image_format, options, name, tolerance):
    decoded = decode_image(encode_image(photo, image_format, **options), limits)
    _assert_rgb(decoded, 48, 64)
    assert decoded.media_type.name == name
    assert decoded.exif_orientation == 1
    assert _mean_abs_diff(decoded.pixels, photo) <= tolerance


@pytest.mark.parametrize("misleading_name", ["upload.txt", "holiday.png", "clip.mp4", "no_extension"])
@pytest.mark.parametrize(("image_format", "options", "name", "tolerance"), FORMATS)
def test_image_type_comes_from_content_not_from_the_file_name(
    tmp_path, photo, limits, misleading_name, image_format, options, name, tolerance
):
    path = tmp_path / misleading_name
    path.write_bytes(encode_image(photo, image_format, **options))
    decoded = decode_image(read_media_file(path, limits.max_bytes), limits)
    assert decoded.media_type.name == name
    assert _mean_abs_diff(decoded.pixels, photo) <= tolerance


def test_rgba_png_drops_alpha_and_keeps_the_stored_colours(photo, limits):
    # Fully transparent pixels still carry colour; PDQ's reference hashes those values,
    # so they must not be composited onto black or white.
    alpha = np.zeros(photo.shape[:2], dtype=np.uint8)
    alpha[:, 32:] = 128
    rgba = Image.fromarray(np.dstack([photo, alpha]), mode="RGBA")
    decoded = decode_image(encode_image(rgba, "PNG"), limits)
    _assert_rgb(decoded, 48, 64)
    np.testing.assert_array_equal(decoded.pixels, photo)


def test_palette_png_decodes_to_the_palette_colours(photo, limits):
    palette_image = Image.fromarray(photo).quantize(colors=16)
    expected = np.asarray(palette_image.convert("RGB"))
    decoded = decode_image(encode_image(palette_image, "PNG"), limits)
    np.testing.assert_array_equal(decoded.pixels, expected)


def test_palette_png_with_a_transparent_index_keeps_that_index_colour(photo, limits):
    palette_image = Image.fromarray(photo).quantize(colors=16)
    expected = np.asarray(palette_image.convert("RGB"))
    decoded = decode_image(encode_image(palette_image, "PNG", transparency=0), limits)
    np.testing.assert_array_equal(decoded.pixels, expected)


def test_greyscale_png_decodes_to_three_equal_channels(photo, limits):
    grey = Image.fromarray(photo).convert("L")
    decoded = decode_image(encode_image(grey, "PNG"), limits)
    for channel in range(3):
        np.testing.assert_array_equal(decoded.pixels[..., channel], np.asarray(grey))


def test_16_bit_greyscale_png_is_scaled_to_8_bits_not_clipped(limits):
    # A full-range 16-bit ramp: clipping at 255 would turn almost all of it white.
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    image = Image.fromarray(ramp)
    assert image.mode == "I;16"
    data = encode_image(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    decoded = decode_image(data, limits)
    _assert_rgb(decoded, 48, 64)
    expected = (ramp.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(decoded.pixels[..., 0], expected)
    np.testing.assert_array_equal(decoded.pixels[..., 1], decoded.pixels[..., 2])
    assert decoded.pixels[0, 0, 0] == 0
    assert decoded.pixels[0, -1, 0] == 255
    assert len(np.unique(decoded.pixels)) > 50


def test_16_bit_greyscale_png_with_only_8_bit_values_keeps_them(limits):
    # Some tools store 8-bit data in a 16-bit container; scaling by 65535 would blacken it.
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint16), (48, 1))
    decoded = decode_image(encode_image(Image.fromarray(ramp), "PNG"), limits)
    np.testing.assert_array_equal(decoded.pixels[..., 0], ramp.astype(np.uint8))


def test_animated_gif_decodes_its_first_frame(limits):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    frames = [Image.fromarray(np.full((48, 64, 3), colour, dtype=np.uint8)) for colour in colours]
    data = encode_image(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    decoded = decode_image(data, limits)
    assert decoded.media_type.name == "gif"
    _assert_rgb(decoded, 48, 64)
    assert (decoded.pixels == colours[0]).all()


def test_multi_page_tiff_decodes_its_first_page(limits):
    pages = [Image.fromarray(np.full((48, 64, 3), value, dtype=np.uint8)) for value in (40, 140, 240)]
    data = encode_image(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert Image.open(io.BytesIO(data)).n_frames == 3
    decoded = decode_image(data, limits)
    assert decoded.media_type.name == "tiff"
    assert (decoded.pixels == 40).all()


def test_mpo_multi_picture_jpeg_decodes_its_first_picture(limits):
    # Cameras write MPO (stereo or depth pictures); it is sniffed as JPEG and read as one.
    first = Image.fromarray(np.full((48, 64, 3), 60, dtype=np.uint8))
    second = Image.fromarray(np.full((48, 64, 3), 200, dtype=np.uint8))
    data = encode_image(first, "MPO", save_all=True, append_images=[second])
    decoded = decode_image(data, limits)
    assert decoded.media_type.name == "jpeg"
    assert abs(float(decoded.pixels.mean()) - 60) < 2


def _heic_bytes(pixels: np.ndarray) -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
    pillow_heif.register_heif_opener()
    try:
        return encode_image(pixels, "HEIF", quality=95)
    except Exception as exc:  # pillow-heif can be built without an HEVC encoder
        pytest.skip(f"pillow-heif cannot write HEIC here (no HEVC encoder?): {exc}")


def test_heic_decodes_to_its_pixels(photo, limits):
    data = _heic_bytes(photo)
    assert data[4:8] == b"ftyp"
    decoded = decode_image(data, limits)
    assert decoded.media_type.name == "heif"
    _assert_rgb(decoded, 48, 64)
    assert _mean_abs_diff(decoded.pixels, photo) <= 6.0


def test_decoded_pixels_are_independent_of_the_input_bytes(photo, limits):
    data = bytearray(encode_image(photo, "PNG"))
    decoded = decode_image(bytes(data), limits)
    data[:] = b"\x00" * len(data)
    np.testing.assert_array_equal(decoded.pixels, photo)


# EXIF orientation values and the numpy operation that turns stored pixels into what
# a viewer displays (EXIF 2.32, tag 0x0112).
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: np.rot90(a, 2),  # upside down
    4: lambda a: a[::-1],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, -1),  # stored rotated; display turns it 90° clockwise
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),  # mirrored along the anti-diagonal
    8: lambda a: np.rot90(a, 1),  # display turns it 90° anticlockwise
}


def _jpeg_with_orientation(pixels: np.ndarray, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode_image(pixels, "JPEG", quality=95, exif=exif.tobytes())


def test_exif_orientation_6_turns_the_image_clockwise_and_swaps_width_and_height(photo, limits):
    data = _jpeg_with_orientation(photo, 6)
    stored = decode_image(data, limits, apply_orientation=False)
    upright = decode_image(data, limits)
    assert (stored.width, stored.height) == (64, 48)
    assert (upright.width, upright.height) == (48, 64)
    assert stored.exif_orientation == upright.exif_orientation == 6
    np.testing.assert_array_equal(upright.pixels, np.rot90(stored.pixels, -1))
    # The red marker stored top-left is displayed top-right after a clockwise turn.
    red = np.array([255, 0, 0])
    assert _mean_abs_diff(upright.pixels[:6, -6:], np.broadcast_to(red, (6, 6, 3))) < 20
    assert _mean_abs_diff(upright.pixels[:6, :6], np.broadcast_to(red, (6, 6, 3))) > 60


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_every_exif_orientation_is_applied_as_the_standard_defines(photo, limits, orientation):
    data = _jpeg_with_orientation(photo, orientation)
    stored = decode_image(data, limits, apply_orientation=False)
    upright = decode_image(data, limits)
    assert upright.exif_orientation == orientation
    np.testing.assert_array_equal(upright.pixels, ORIENTATIONS[orientation](stored.pixels))


@pytest.mark.parametrize("bogus_orientation", [0, 9, 300])
def test_out_of_range_exif_orientation_is_ignored(photo, limits, bogus_orientation):
    data = _jpeg_with_orientation(photo, bogus_orientation)
    decoded = decode_image(data, limits)
    assert decoded.exif_orientation == 1
    assert (decoded.width, decoded.height) == (64, 48)


def test_decode_stays_within_a_pixel_limit_equal_to_the_image_size(photo, limits):
    exact = MediaLimits(max_pixels=48 * 64)
    assert decode_image(encode_image(photo, "PNG"), exact).pixels.shape == (48, 64, 3)
