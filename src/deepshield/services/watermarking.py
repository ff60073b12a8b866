"""Use cases: put DeepShield's invisible watermark into an image, and look for it."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from deepshield.errors import InvalidRequest
from deepshield.media import MediaKind, MediaLimits, decode_image, sniff_media_type
from deepshield.media.errors import UnsupportedMedia
from deepshield.watermark import Detection, detect, embed

_PAYLOAD_HEX = re.compile(r"^[0-9a-fA-F]{16}$")
#: Output formats by file extension, with the options that keep the mark intact.
OUTPUT_FORMATS: dict[str, tuple[str, dict[str, object]]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
    ".bmp": ("BMP", {}),
}


@dataclass(frozen=True)
class WatermarkReport:
    found: bool
    payload_hex: str | None
    confidence: float
    scale: float | None
    rotation_deg: float | None


def parse_payload(text: str) -> int:
    """A payload given as exactly 16 hex digits (64 bits), e.g. a label id and version."""
    if not isinstance(text, str) or not _PAYLOAD_HEX.match(text.strip()):
        raise InvalidRequest(f"a watermark payload is exactly 16 hex digits (64 bits); got {text!r}")
    return int(text.strip(), 16)


def output_format(suffix: str) -> tuple[str, dict[str, object]]:
    try:
        return OUTPUT_FORMATS[suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(OUTPUT_FORMATS))
        raise InvalidRequest(f"cannot write a watermarked image as {suffix or 'no extension'!r}; "
                             f"use one of {known}") from None


def _pixels(data: bytes, limits: MediaLimits) -> np.ndarray:
    if sniff_media_type(data[:64]).kind is MediaKind.VIDEO:
        raise UnsupportedMedia("video watermarking is not available yet; give an image")
    pixels = decode_image(data, limits).pixels
    if min(pixels.shape[:2]) < 256:
        raise InvalidRequest(f"the image is {pixels.shape[1]}×{pixels.shape[0]}; the watermark "
                             "needs a short side of at least 256 pixels")
    return pixels


def embed_watermark(data: bytes, payload_hex: str, suffix: str, limits: MediaLimits) -> bytes:
    """Watermark image bytes with a 64-bit payload; returns the encoded image (format by suffix).

    EXIF orientation is applied, so the output is stored upright with no orientation tag.
    """
    payload = parse_payload(payload_hex)
    image_format, options = output_format(suffix)
    marked = embed(_pixels(data, limits), payload)
    buffer = io.BytesIO()
    Image.fromarray(marked).save(buffer, image_format, **options)
    return buffer.getvalue()


def detect_watermark(data: bytes, limits: MediaLimits) -> WatermarkReport:
    """Look for the watermark in image bytes. Unmarked means ``found`` is False, nothing more."""
    detection: Detection = detect(_pixels(data, limits))
    return WatermarkReport(detection.found, detection.payload_hex, round(detection.confidence, 4),
                           detection.scale, detection.rotation_deg)
