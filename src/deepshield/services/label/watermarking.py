"""Use cases: put DeepShield's invisible watermark into an image, and look for it.

Marks are keyed (docs/WATERMARK_KEYS.md). ``embed_watermark`` makes public-key marks unless given
a key (an exported provider key); ``detect_watermark`` reads with the keys it is given (the public
key alone by default), and ``detect_watermark_upload``, for a caller of this installation, with
the repository's keys: the public key and every provider's active key. Every mark read is
reported (an image marked again carries several), each with the key it was read with.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from PIL import Image

from deepshield.errors import InvalidRequest
from deepshield.media import MediaKind, MediaLimits, decode_image, sniff_media_type
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.label.watermark_keys import reading_keys
from deepshield.watermark import PUBLIC_KEY, Detection, SlotsFull, WatermarkKey, detect, embed
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


def _video_errors(function: Callable[[], T]) -> T:
    """Frames too small for the mark are a clear refusal, as for images."""
    try:
        return function()
    except ValueError as exc:
        raise InvalidRequest(f"the video cannot carry the watermark: {exc}") from None


@dataclass(frozen=True)
class MarkReport:
    """One mark read: its payload (a label's id), the key it was read with, its slot."""

    payload_hex: str
    key_id: str  # "public" or a provider's key id
    slot: int
    confidence: float


@dataclass(frozen=True)
class WatermarkReport:
    found: bool
    payload_hex: str | None  # the first mark's (``marks[0]``)
    confidence: float
    scale: float | None
    rotation_deg: float | None
    key_id: str | None = None  # the first mark's key
    marks: tuple[MarkReport, ...] = ()  # every mark read, by the order of the keys, then slot


def report_of(detection: Detection) -> WatermarkReport:
    """A detection as the services report it."""
    marks = tuple(MarkReport(mark.payload_hex, mark.key_id, mark.slot, round(mark.confidence, 4))
                  for mark in detection.marks)
    return WatermarkReport(detection.found, detection.payload_hex, round(detection.confidence, 4),
                           detection.scale, detection.rotation_deg, detection.key_id, marks)


def _distinct(keys: Sequence[WatermarkKey]) -> tuple[WatermarkKey, ...]:
    return tuple({key.key_id: key for key in keys}.values())


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


def embed_watermark(data: bytes, payload_hex: str, suffix: str, limits: MediaLimits,
                    key: WatermarkKey = PUBLIC_KEY) -> bytes:
    """Watermark image or video bytes with a 64-bit payload under ``key`` (the public key unless
    given an exported provider key); returns the encoded result.

    Images are written in the format ``suffix`` names; EXIF orientation is applied, so the
    output is stored upright with no orientation tag. A mark goes into the first slot of ``key``
    the image does not use yet, so marks already there stay readable; an image whose slots of
    that key are all taken is refused. Videos keep their container (the suffix must be a video
    one), audio and metadata; their video track is re-encoded.
    """
    payload = parse_payload(payload_hex)
    media_type = sniff_media_type(data[:64])
    if media_type.kind is MediaKind.VIDEO:
        if suffix.lower() not in VIDEO_SUFFIXES:
            raise InvalidRequest(f"a watermarked video keeps its container; write it as "
                                 f"{' or '.join(sorted(VIDEO_SUFFIXES))}, not {suffix or 'nothing'!r}")
        return _video_errors(lambda: embed_video(data, payload, limits, key=key))
    image_format, options = output_format(suffix)
    try:
        marked = embed(_pixels(data, limits, MIN_SHORT_SIDE), payload, key=key)
    except SlotsFull as exc:
        raise InvalidRequest(f"the image cannot take another mark of this key: {exc}") from None
    buffer = io.BytesIO()
    Image.fromarray(marked).save(buffer, image_format, **options)
    return buffer.getvalue()


def detect_watermark(data: bytes, limits: MediaLimits,
                     keys: Sequence[WatermarkKey] = (PUBLIC_KEY,)) -> WatermarkReport:
    """Look for the marks of ``keys`` in image or video bytes. Not found means unknown, nothing
    more: a mark of a key not given is not seen, and marks can be removed."""
    keys = _distinct(keys)
    if sniff_media_type(data[:64]).kind is MediaKind.VIDEO:
        detection: Detection = _video_errors(lambda: detect_video(data, limits, keys))
    else:
        detection = detect(_pixels(data, limits, MIN_DETECT_SHORT_SIDE, for_analysis=True), keys)
    return report_of(detection)


def detect_watermark_upload(ctx: ServiceContext, data: bytes, principal: Principal,
                            extra_keys: Sequence[WatermarkKey] = ()) -> WatermarkReport:
    """``detect_watermark`` for a caller, with this repository's keys (``reading_keys``: the public
    key and every provider's active key) and any ``extra_keys`` (exported key files). The action
    and its outcome are audit-logged (how many marks, under which key ids; never a payload).
    ``Forbidden`` before any work unless ``principal`` may (``Action.WATERMARK_DETECT``)."""
    authorize(principal, Action.WATERMARK_DETECT)
    report = detect_watermark(data, ctx.settings.limits, (*reading_keys(ctx), *extra_keys))
    ctx.read_audit.record(principal.actor, "watermark.detect", "", found=report.found,
                          marks=len(report.marks), keys=sorted({mark.key_id for mark in report.marks}))
    return report
