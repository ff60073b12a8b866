"""Use cases: put DeepShield's invisible watermark into an image, and look for it."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from PIL import Image

from deepshield.errors import InvalidRequest
from deepshield.media import MediaKind, MediaLimits, decode_image, sniff_media_type
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.watermark import Detection, detect, embed
from deepshield.watermark.analysis import MIN_DETECT_SHORT_SIDE, MIN_SHORT_SIDE
from deepshield.watermark.video import detect_video, embed_video

T = TypeVar("T")
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


VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm"}


def _video_errors(function: Callable[..., T], *args: object) -> T:
    """Frames too small for the mark are a clear refusal, as for images."""
    try:
        return function(*args)
    except ValueError as exc:
        raise InvalidRequest(f"the video cannot carry the watermark: {exc}") from None


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


def _pixels(data: bytes, limits: MediaLimits, min_short_side: int, for_analysis: bool = False) -> np.ndarray:
    pixels = decode_image(data, limits, for_analysis=for_analysis).pixels  # detection: a huge one reduced
    if min(pixels.shape[:2]) < min_short_side:
        raise InvalidRequest(f"the image is {pixels.shape[1]}×{pixels.shape[0]}; the watermark "
                             f"needs a short side of at least {min_short_side} pixels")
    return pixels


def embed_watermark(data: bytes, payload_hex: str, suffix: str, limits: MediaLimits) -> bytes:
    """Watermark image or video bytes with a 64-bit payload; returns the encoded result.

    Images are written in the format ``suffix`` names; EXIF orientation is applied, so the
    output is stored upright with no orientation tag. Videos keep their container (the
    suffix must be a video one), audio and metadata; their video track is re-encoded.
    """
    payload = parse_payload(payload_hex)
    media_type = sniff_media_type(data[:64])
    if media_type.kind is MediaKind.VIDEO:
        if suffix.lower() not in VIDEO_SUFFIXES:
            raise InvalidRequest(f"a watermarked video keeps its container; write it as "
                                 f"{' or '.join(sorted(VIDEO_SUFFIXES))}, not {suffix or 'nothing'!r}")
        return _video_errors(embed_video, data, payload, limits)
    image_format, options = output_format(suffix)
    marked = embed(_pixels(data, limits, MIN_SHORT_SIDE), payload)
    buffer = io.BytesIO()
    Image.fromarray(marked).save(buffer, image_format, **options)
    return buffer.getvalue()


def detect_watermark(data: bytes, limits: MediaLimits) -> WatermarkReport:
    """Look for the watermark in image or video bytes. Not found means unknown, nothing more."""
    if sniff_media_type(data[:64]).kind is MediaKind.VIDEO:
        detection: Detection = _video_errors(detect_video, data, limits)
    else:
        detection = detect(_pixels(data, limits, MIN_DETECT_SHORT_SIDE, for_analysis=True))
    return WatermarkReport(detection.found, detection.payload_hex, round(detection.confidence, 4),
                           detection.scale, detection.rotation_deg)


def detect_watermark_upload(ctx: ServiceContext, data: bytes, principal: Principal) -> WatermarkReport:
    """``detect_watermark`` for a caller; the action and its outcome are audit-logged.
    ``Forbidden`` before any work unless ``principal`` may (``Action.WATERMARK_DETECT``)."""
    authorize(principal, Action.WATERMARK_DETECT)
    report = detect_watermark(data, ctx.settings.limits)
    ctx.read_audit.record(principal.actor, "watermark.detect", "", found=report.found)
    return report
