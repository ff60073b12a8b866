"""vPDQ: Meta's video hash, computed with PyAV and :mod:`deepshield.signals.pdq` (the native PDQ,
or ``pdqhash`` where it was not built: the same bits) in the reference's format.

A video's hash is the list of PDQ hashes of one frame per ``seconds_per_hash``
(frames 0, n, 2n, ... of the decoded frames, with n = int(fps × seconds), truncated as
the C++ reference does), each with its frame number, quality and timestamp
(frame number / fps, in single precision like the reference). The frame rate is the
stream's average rate, else its base (r_frame_rate) rate. Serialised as the
reference's text lines ``frame_number,quality,pdq_hex,timestamp`` (3 decimals).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from deepshield.errors import InvalidSignal
from deepshield.media.limits import MediaLimits
from deepshield.signals.pdq import parse_pdq_hex, pdq_from_pixels

MAX_VPDQ_FRAMES = 100_000


@dataclass(frozen=True)
class VpdqFeature:
    frame_number: int
    quality: int
    pdq_hex: str
    timestamp: float  # seconds from the start


def frame_step(frame_rate: float, seconds_per_hash: float) -> int:
    """Frames between two hashed frames: truncated, at least 1 (29.97 fps hashes every 29th)."""
    return max(1, int(seconds_per_hash * frame_rate))


def vpdq_from_video(data: bytes, limits: MediaLimits, *, seconds_per_hash: float = 1.0) -> list[VpdqFeature]:
    """The vPDQ features of a video's bytes (frames every ``seconds_per_hash``)."""
    # Here, not at the top: PyAV takes about 0.1 s to load, which parsing and comparing vPDQ
    # hashes, or hashing a photo, should not pay.
    from deepshield.media.video import iter_video_frames, probe_video

    if seconds_per_hash <= 0:
        raise ValueError("seconds_per_hash must be positive")
    info = probe_video(data, limits)
    step = frame_step(info.frame_rate, seconds_per_hash)
    features = []
    for frame in iter_video_frames(data, limits, every_nth=step):
        pdq_hash = pdq_from_pixels(frame.pixels)
        timestamp = float(np.float32(frame.number) / np.float32(info.frame_rate))
        features.append(VpdqFeature(frame.number, pdq_hash.quality, pdq_hash.hex, timestamp))
    return features


def serialize_vpdq(features: Iterable[VpdqFeature]) -> str:
    """The reference's text form: one ``frame_number,quality,pdq_hex,timestamp`` line per frame."""
    return "\n".join(
        f"{f.frame_number},{f.quality},{f.pdq_hex},{f.timestamp:.3f}" for f in features
    )


def parse_vpdq(text: str) -> list[VpdqFeature]:
    """Parse vPDQ features from the reference's text lines or from a JSON list of objects.

    JSON objects need ``pdq_hex`` (or ``hash``), ``quality`` and ``timestamp``;
    ``frame_number`` is optional. Raises ``InvalidSignal`` naming the bad line.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidSignal("a vpdq value is empty")
    stripped = text.strip()
    features = _parse_json(stripped) if stripped.startswith("[") else _parse_lines(stripped)
    if not features:
        raise InvalidSignal("a vpdq value holds no frames")
    if len(features) > MAX_VPDQ_FRAMES:
        raise InvalidSignal(f"a vpdq value holds more than {MAX_VPDQ_FRAMES:,} frames")
    return features


def _parse_lines(text: str) -> list[VpdqFeature]:
    features = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(",")
        if len(parts) != 4:
            raise InvalidSignal(
                f"vpdq line {number}: expected frame_number,quality,pdq_hex,timestamp"
            )
        try:
            features.append(_feature(int(parts[0]), int(parts[1]), parts[2], float(parts[3])))
        except (ValueError, InvalidSignal) as exc:
            raise InvalidSignal(f"vpdq line {number}: {exc}") from None
    return features


def _parse_json(text: str) -> list[VpdqFeature]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSignal(f"a vpdq JSON value is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise InvalidSignal("a vpdq JSON value nests too deeply") from None
    if not isinstance(items, list):
        raise InvalidSignal("a vpdq JSON value must be a list of frames")
    features = []
    for number, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidSignal(f"vpdq frame {number}: expected an object")
        try:
            features.append(_feature(
                int(item.get("frame_number", number)), int(item["quality"]),
                str(item.get("pdq_hex", item.get("hash", ""))), float(item["timestamp"]),
            ))
        except OverflowError:
            # int(inf), or float() of an integer too large for one: hostile JSON (tests/fuzz/corpus/vpdq).
            raise InvalidSignal(f"vpdq frame {number}: a number is out of range") from None
        except (KeyError, TypeError, ValueError, InvalidSignal) as exc:
            raise InvalidSignal(f"vpdq frame {number}: {exc}") from None
    return features


def _feature(frame_number: int, quality: int, pdq_hex: str, timestamp: float) -> VpdqFeature:
    if frame_number < 0 or not 0 <= quality <= 100 or not 0 <= timestamp < math.inf:
        raise ValueError("frame number and quality (0-100) must not be negative, and the "
                         "timestamp must be a finite number of seconds")
    return VpdqFeature(frame_number, quality, parse_pdq_hex(pdq_hex), timestamp)


def unique_good_frames(features: Sequence[VpdqFeature], min_quality: int) -> list[VpdqFeature]:
    """Frames of at least ``min_quality``, deduplicated by hash (the vPDQ matching rule's input)."""
    seen: set[str] = set()
    unique = []
    for feature in features:
        if feature.quality >= min_quality and feature.pdq_hex not in seen:
            seen.add(feature.pdq_hex)
            unique.append(feature)
    return unique
