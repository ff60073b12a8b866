"""Decode video safely with PyAV, from memory: no temporary files, limits on size, frames, duration."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from deepshield.media.errors import CorruptMedia, MediaTooLarge, UnsupportedMedia
from deepshield.media.limits import MediaLimits
from deepshield.media.sniff import MediaKind, MediaType, sniff_media_type

# No Python log callback: errors are raised as exceptions all the same. A level other than None
# routes FFmpeg's log through a callback that takes the GIL from FFmpeg's frame-decoding threads,
# and a corrupt video then deadlocks the process (a decoder thread holds FFmpeg's lock waiting
# for the GIL while the closing thread holds the GIL waiting for that lock).
av.logging.set_level(None)


@dataclass(frozen=True)
class VideoInfo:
    media_type: MediaType
    width: int
    height: int
    frame_rate: float
    duration_s: float | None


@dataclass(frozen=True)
class VideoFrame:
    number: int  # 0-based index among decoded frames
    pixels: np.ndarray  # H×W×3 uint8 RGB


def _open(data: bytes) -> tuple[MediaType, av.container.InputContainer]:
    media_type = sniff_media_type(data[:64])
    if media_type.kind is not MediaKind.VIDEO:
        raise UnsupportedMedia(f"expected a video but the content is a {media_type.name} image")
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:  # PyAV raises many error types for hostile input
        raise CorruptMedia(
            f"the {media_type.name.upper()} video cannot be opened (corrupt or truncated): {exc}"
        ) from exc
    return media_type, container


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    # The vPDQ reference takes avg_frame_rate, falling back to r_frame_rate (PyAV's base_rate).
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate and rate > 0:
            return Fraction(rate)
    raise CorruptMedia("the video does not state a usable frame rate")


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _check(info: VideoInfo, limits: MediaLimits) -> None:
    if info.width <= 0 or info.height <= 0:
        raise CorruptMedia(f"the video states an impossible frame size {info.width}×{info.height}")
    if info.width * info.height > limits.max_video_frame_pixels:
        raise MediaTooLarge(
            f"the video frames are {info.width}×{info.height}; the limit is "
            f"{limits.max_video_frame_pixels:,} pixels per frame"
        )
    if info.duration_s is not None and info.duration_s > limits.max_duration_s:
        raise MediaTooLarge(
            f"the video lasts {info.duration_s:,.0f} s; the limit is {limits.max_duration_s:,.0f} s"
        )


def _info(
    media_type: MediaType, container: av.container.InputContainer
) -> tuple[VideoInfo, av.video.stream.VideoStream]:
    if not container.streams.video:
        if all(stream.codec_context is None for stream in container.streams):
            raise CorruptMedia(f"the {media_type.name.upper()} file holds no readable tracks "
                               "(truncated or corrupt)")
        raise UnsupportedMedia(f"the {media_type.name.upper()} file has no video track")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise CorruptMedia(f"the {media_type.name.upper()} video track cannot be read "
                           "(truncated or corrupt)")
    rate = _frame_rate(stream)
    info = VideoInfo(media_type, int(stream.codec_context.width or 0),
                     int(stream.codec_context.height or 0), float(rate), _duration(container, stream))
    return info, stream


def _check_bytes(data: bytes, limits: MediaLimits) -> None:
    if len(data) > limits.max_video_bytes:
        raise MediaTooLarge(
            f"the video is {len(data):,} bytes; the limit is {limits.max_video_bytes:,} bytes"
        )


def probe_video(data: bytes, limits: MediaLimits) -> VideoInfo:
    """Read a video's header: size, frame rate, duration. Refuses what the limits forbid."""
    _check_bytes(data, limits)
    media_type, container = _open(data)
    with container:
        info, _ = _info(media_type, container)
    _check(info, limits)
    return info


def iter_video_frames(data: bytes, limits: MediaLimits, every_nth: int = 1) -> Iterator[VideoFrame]:
    """Decode every frame, yielding every ``every_nth`` one (number 0, n, 2n, ...) as RGB.

    All frames are decoded (inter-frame codecs need them) but only yielded ones are
    converted to RGB. Stops with ``MediaTooLarge`` past ``limits.max_frames`` or past
    the duration limit, and with ``CorruptMedia`` where decoding fails.
    """
    if every_nth < 1:
        raise ValueError("every_nth must be at least 1")
    _check_bytes(data, limits)
    media_type, container = _open(data)
    with container:
        info, stream = _info(media_type, container)
        _check(info, limits)
        stream.thread_type = "AUTO"
        max_by_duration = int(limits.max_duration_s * info.frame_rate) + 1
        number = -1
        try:
            for frame in container.decode(stream):
                number += 1
                if number >= limits.max_frames or number >= max_by_duration:
                    raise MediaTooLarge(
                        f"the video has more than {min(limits.max_frames, max_by_duration):,} "
                        "frames, past the frame or duration limit"
                    )
                if frame.width * frame.height > limits.max_video_frame_pixels:
                    raise MediaTooLarge(
                        f"a video frame is {frame.width}×{frame.height}; the limit is "
                        f"{limits.max_video_frame_pixels:,} pixels per frame"
                    )
                if number % every_nth == 0:
                    yield VideoFrame(number, frame.to_ndarray(format="rgb24"))
        except (MediaTooLarge, GeneratorExit):
            raise
        except Exception as exc:
            raise CorruptMedia(
                f"the {media_type.name.upper()} video cannot be decoded past frame {number}: {exc}"
            ) from exc
        if number < 0:
            raise CorruptMedia(f"the {media_type.name.upper()} video holds no decodable frames")
