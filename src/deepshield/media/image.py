"""Decode images safely into RGB pixel arrays."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

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
    """An image as PDQ and the watermark see it: an H×W×3 uint8 RGB array, EXIF orientation applied."""

    pixels: np.ndarray
    media_type: MediaType
    exif_orientation: int

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_image(data: bytes, limits: MediaLimits, *, apply_orientation: bool = True) -> DecodedImage:
    """Decode ``data`` into RGB pixels, refusing anything outside ``limits``.

    The type comes from the content. GIF and multi-page TIFF yield their first frame.
    Alpha is dropped, keeping the stored colour values (as Meta's PDQ reference does).
    Raises a ``MediaError`` subclass with a plain-words message; never anything else.
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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[media_type.name])
            _check_pixels(image.size, limits)
            image.seek(0)
            # Load first: reading EXIF can load a PNG's pixels and would swallow their errors.
            image.load()
            orientation = _orientation(image)
            if apply_orientation and orientation != 1:
                image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
            pixels = np.asarray(rgb, dtype=np.uint8)
    except MediaTooLarge:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaTooLarge(f"the image is a decompression bomb: {exc}") from exc
    except MemoryError as exc:
        raise MediaTooLarge("the image needs more memory to decode than is available") from exc
    except Exception as exc:  # hostile input can make any decoder raise anything
        raise CorruptMedia(
            f"the {media_type.name.upper()} image cannot be decoded (corrupt or truncated): {exc}"
        ) from exc
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.size == 0:
        raise CorruptMedia(f"the {media_type.name.upper()} image decoded to an unusable shape")
    return DecodedImage(pixels=pixels, media_type=media_type, exif_orientation=orientation)


def _check_pixels(size: tuple[int, int], limits: MediaLimits) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptMedia(f"the image header gives an impossible size {width}×{height}")
    if width * height > limits.max_pixels:
        raise MediaTooLarge(
            f"the image is {width}×{height} = {width * height:,} pixels; "
            f"the limit is {limits.max_pixels:,} (a likely decompression bomb)"
        )


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not stop the image itself from being read
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of letting convert() clip at 255.
        array = np.asarray(image, dtype=np.float64)
        peak = float(array.max()) or 1.0
        scale = 255.0 / (65535.0 if peak > 255 else 255.0)
        grey = np.clip(array * scale, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        grey = np.clip(array, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    return image.convert("RGB")
