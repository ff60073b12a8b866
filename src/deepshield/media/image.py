"""Decode images safely into RGB pixel arrays, within the limits and in bounded memory.

One pixel rule: ``MediaLimits.max_pixels`` (``DEEPSHIELD_MAX_PIXELS``), checked against the
header before any pixel is decoded. Pillow's own process-wide cap (``Image.MAX_IMAGE_PIXELS``,
89,478,485, with its ``DecompressionBombWarning``) is neither used nor changed: images are
opened through the format's own opener, not ``Image.open``, so the setting decides alone.
(Pillow's TIFF, WebP, GIF and MPO readers also refuse, on their own, images over twice its cap,
178,956,970 pixels; that matters only where the setting is raised above it.)

Analysis (hashes, watermark detection) asks for ``for_analysis=True``: an image over
``MediaLimits.max_analysis_pixels`` is then reduced to at most ``reduced_analysis_pixels`` while
it is decoded: a JPEG by the decoder's DCT scaling, a WebP by OpenCV's decoder (Pillow's holds
the canvas about four times over), every other format by an integer box
filter applied tile by tile to Pillow's decoded image. No full-size RGB, greyscale or float
copy of it is made.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps

from deepshield.media.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from deepshield.media.limits import MediaLimits
from deepshield.media.sniff import MediaKind, MediaType, sniff_media_type

# Pillow format names for each sniffed type: Pillow may only use the decoder the
# content announced, never guess another one from the bytes.
_PIL_FORMATS = {
    "jpeg": ["JPEG"],  # Pillow's JPEG opener hands multi-picture (MPO) files on itself
    "png": ["PNG"],
    "webp": ["WEBP"],
    "gif": ["GIF"],
    "bmp": ["BMP", "DIB"],
    "tiff": ["TIFF"],
    "heif": ["HEIF", "AVIF"],
}
#: A reduced image is converted and box-filtered in tiles of about this many source pixels, at
#: most about this wide.
_BAND_PIXELS = 4_000_000
_TILE_SIDE = 4096
_GREY_16_MODES = ("I;16", "I;16B", "I;16L", "I")
#: EXIF orientation → the transposition that makes the stored pixels upright (as exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_heif_registered = False


def _register_heif() -> bool:
    global _heif_registered
    if not _heif_registered:
        try:
            from pillow_heif import register_heif_opener
        except ImportError:  # optional: HEIC is read only where pillow-heif installs
            return False
        register_heif_opener()
        _heif_registered = True
    return True


@dataclass(frozen=True)
class DecodedImage:
    """An image as PDQ and the watermark see it: an H×W×3 uint8 RGB array, EXIF orientation applied.

    ``size`` is the image's own upright (width, height). ``pixels`` has that size, unless the
    image was decoded for analysis and was over ``max_analysis_pixels``: then ``pixels`` is
    its reduction by the integer factor ``reduction``.
    """

    pixels: np.ndarray
    media_type: MediaType
    exif_orientation: int
    size: tuple[int, int] | None = None
    reduction: int = 1

    @property
    def width(self) -> int:
        return self.size[0] if self.size is not None else int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return self.size[1] if self.size is not None else int(self.pixels.shape[0])


def decode_image(data: bytes, limits: MediaLimits, *, apply_orientation: bool = True,
                 for_analysis: bool = False) -> DecodedImage:
    """Decode ``data`` into RGB pixels, refusing anything outside ``limits``.

    The type comes from the content. GIF and multi-page TIFF yield their first frame.
    Alpha is dropped, keeping the stored colour values (as Meta's PDQ reference does).
    ``for_analysis`` allows the pixels to be a reduced copy of an image over
    ``limits.max_analysis_pixels`` (see the module's docstring); without it they are always
    full size. Raises a ``MediaError`` subclass with a plain-words message; never anything else.
    """
    media_type = sniff_media_type(data[:64])
    if media_type.kind is not MediaKind.IMAGE:
        raise UnsupportedMedia(f"expected an image but the content is a {media_type.name} video")
    if len(data) > limits.max_image_bytes:
        raise MediaTooLarge(
            f"the image is {len(data):,} bytes; the limit is {limits.max_image_bytes:,} bytes"
        )
    if media_type.name == "heif" and not _register_heif():
        raise UnsupportedMedia("HEIC/HEIF images need the pillow-heif package, which is not installed")
    if media_type.name == "webp":
        # Pillow's WebP reader allocates the whole canvas as it opens the file: check first.
        canvas = _webp_canvas_size(data)
        if canvas is not None:
            _check_pixels(canvas, limits)
    try:
        image = _open(data, _PIL_FORMATS[media_type.name])
        _check_pixels(image.size, limits)
        image.seek(0)
        stored_size = image.size
        factor = 1
        if for_analysis and image.width * image.height > limits.max_analysis_pixels:
            target = min(limits.reduced_analysis_pixels, limits.max_analysis_pixels)
            factor = _reduction(image.size, target)
            # JPEG: let the decoder scale by 1/2, 1/4 or 1/8 (a no-op for other formats).
            image.draft(None, (max(1, image.width // factor), max(1, image.height // factor)))
            factor = _reduction(image.size, target)
        if factor > 1 and media_type.name == "webp":
            # Pillow's WebP reader holds the canvas about four times over (1.4 GB at 88 Mpx);
            # OpenCV's libwebp decodes it (an animation's first frame) into far fewer buffers.
            orientation = _orientation(image)
            rgb = _reduced_webp(data, image.size, factor)
            image.close()
            if apply_orientation and orientation != 1:
                rgb = rgb.transpose(_TRANSPOSE[orientation])
        elif image.size != stored_size or factor > 1:
            # Load first: reading EXIF can load a PNG's pixels and would swallow their errors.
            image.load()
            orientation = _orientation(image)
            rgb = _reduced_rgb(image, factor)
            image.close()
            if apply_orientation and orientation != 1:
                rgb = rgb.transpose(_TRANSPOSE[orientation])
        else:
            image.load()  # first: reading EXIF can load a PNG's pixels and would swallow their errors
            orientation = _orientation(image)
            if apply_orientation and orientation != 1:
                image = ImageOps.exif_transpose(image)
            # 16/32-bit greyscale goes through float64: a band at a time, never the whole image.
            rgb = _reduced_rgb(image, 1) if image.mode in (*_GREY_16_MODES, "F") else _to_rgb(image)
        del image
        pixels = np.asarray(rgb, dtype=np.uint8)
        del rgb
    except MediaTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLarge(f"the {media_type.name.upper()} decoder refuses an image this large "
                            f"(DeepShield's limit is {limits.max_pixels:,} pixels): {exc}") from exc
    except MemoryError as exc:
        raise MediaTooLarge("the image needs more memory to decode than is available") from exc
    except Exception as exc:  # hostile input can make any decoder raise anything
        raise CorruptMedia(
            f"the {media_type.name.upper()} image cannot be decoded (corrupt or truncated): {exc}"
        ) from exc
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.size == 0:
        raise CorruptMedia(f"the {media_type.name.upper()} image decoded to an unusable shape")
    width, height = stored_size
    if apply_orientation and orientation in (5, 6, 7, 8):
        width, height = height, width
    reduction = round(width / pixels.shape[1]) if pixels.shape[1] != width else 1
    return DecodedImage(pixels=pixels, media_type=media_type, exif_orientation=orientation,
                        size=(width, height), reduction=max(1, reduction))


def _open(data: bytes, formats: list[str]) -> ImageFile.ImageFile:
    """What ``Image.open(BytesIO(data), formats=formats)`` does, less its pixel check.

    ``Image.open`` warns above Pillow's process-wide ``MAX_IMAGE_PIXELS`` and refuses above twice
    that; DeepShield's own limit is checked by the caller instead, against the same header, and
    Pillow's global stays as it is for everyone else in the process.
    """
    fp = io.BytesIO(data)
    prefix = data[:16]
    Image.preinit()
    reasons: list[str] = []
    for name in formats:
        if name not in Image.OPEN:
            Image.init()
        if name not in Image.OPEN:
            continue
        factory, accept = Image.OPEN[name]
        verdict = True if accept is None else accept(prefix)
        if not verdict or isinstance(verdict, str):
            reasons.append(verdict if isinstance(verdict, str) else f"not a {name} file")
            continue
        fp.seek(0)
        try:
            return factory(fp, "")
        except (SyntaxError, IndexError, TypeError, struct.error) as exc:
            reasons.append(f"{name}: {exc}")
    raise OSError("cannot identify the image: " + ("; ".join(reasons) or "no decoder"))


def _webp_canvas_size(data: bytes) -> tuple[int, int] | None:
    """The canvas size a WebP file declares (VP8, VP8L or VP8X), without decoding anything."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X" and len(data) >= 30:
        return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _check_pixels(size: tuple[int, int], limits: MediaLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptMedia(f"the image header gives an impossible size {width}×{height}")
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"the image is {width}×{height} = {width * height:,} pixels; "
            f"the limit is {limits.max_pixels:,} pixels (DEEPSHIELD_MAX_PIXELS; "
            "a likely decompression bomb)"
        )


def _reduction(size: tuple[int, int], max_pixels: int) -> int:
    """The smallest integer factor that brings ``size`` to at most ``max_pixels`` pixels."""
    width, height = size
    if width * height <= max_pixels:
        return 1
    factor = max(2, math.ceil(math.sqrt(width * height / max_pixels)))
    while -(-width // factor) * -(-height // factor) > max_pixels:
        factor += 1
    return factor


def _reduced_rgb(image: Image.Image, factor: int) -> Image.Image:
    """``image`` as RGB, reduced by ``factor`` (a box filter), converted a tile at a time.

    Tiles are whole multiples of ``factor`` pixels high and wide, so the result is the same as
    converting the whole image and reducing it at once, without its full-size RGB (or float) copy.
    """
    width, height = image.size
    reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    scale = _grey_scale(image)
    columns = min(width, factor * max(1, _TILE_SIDE // factor))
    rows = factor * max(1, _BAND_PIXELS // (columns * factor))
    for top in range(0, height, rows):
        for left in range(0, width, columns):
            box = (left, top, min(width, left + columns), min(height, top + rows))
            tile = _to_rgb(image.crop(box), scale)
            reduced.paste(tile.reduce(factor) if factor > 1 else tile, (left // factor, top // factor))
    return reduced


def _reduced_webp(data: bytes, size: tuple[int, int], factor: int) -> Image.Image:
    """A WebP (an animation's first frame) decoded by OpenCV into BGR, then area-reduced by ``factor``."""
    import cv2  # here, not at the top: only this path needs OpenCV, and it costs ~0.1 s to load

    width, height = size
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None or bgr.shape[:2] != (height, width):
        raise ValueError("the WebP picture cannot be decoded")
    small = cv2.resize(bgr, (-(-width // factor), -(-height // factor)), interpolation=cv2.INTER_AREA)
    del bgr
    return Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not stop the image itself from being read
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _grey_scale(image: Image.Image) -> float:
    """How 16/32-bit greyscale maps to 8 bits, from the whole image's peak (1.0 for other modes)."""
    if image.mode not in _GREY_16_MODES:
        return 1.0
    extrema = image.getextrema()
    peak = float(extrema[1]) if isinstance(extrema, tuple) else 0.0
    return 255.0 / (65535.0 if peak > 255 else 255.0)


def _to_rgb(image: Image.Image, grey_scale: float | None = None) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in _GREY_16_MODES:
        # 16/32-bit greyscale: scale to 8 bits instead of letting convert() clip at 255.
        scale = _grey_scale(image) if grey_scale is None else grey_scale
        array = np.asarray(image, dtype=np.float64)
        grey = np.clip(array * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        grey = np.clip(array, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    return image.convert("RGB")
