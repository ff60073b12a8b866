"""Decode video safely with PyAV, from memory: no temporary files, limits on size, frames, duration."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
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


#: The most frames ``video_frames_at`` reads in one call.
MAX_FRAMES_AT = 64
#: Times farther apart than this (seconds) are reached by a seek of their own.
SEEK_GAP_S = 10.0


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


@dataclass(frozen=True)
class TimedFrame:
    number: int  # 0-based index among decoded frames (-1 when decoding began at a seek)
    time_s: float  # presentation time, seconds from the stream's start
    pixels: np.ndarray  # H×W×3 uint8 RGB, or H×W uint8 luma


def _decoded(data: bytes, limits: MediaLimits, start_s: float | None = None
             ) -> Iterator[tuple[int, float, av.VideoFrame]]:
    """Decode frame after frame within the limits: (number, time from the start, frame).

    The one guarded decoding loop: stops with ``MediaTooLarge`` past ``limits.max_frames``,
    past the duration limit or at a frame over the pixel limit, and with ``CorruptMedia`` where
    decoding fails. ``start_s``: begin at the keyframe before that time (frame numbers are then
    -1: a seek does not say how many frames lie before it).
    """
    _check_bytes(data, limits)
    media_type, container = _open(data)
    with container:
        info, stream = _info(media_type, container)
        _check(info, limits)
        stream.thread_type = "AUTO"
        max_by_duration = int(limits.max_duration_s * info.frame_rate) + 1
        origin = float(stream.start_time * stream.time_base) if stream.start_time is not None \
            and stream.time_base else None
        sought = start_s is not None and start_s > 0
        if sought:
            assert start_s is not None and stream.time_base
            try:
                container.seek(int(((origin or 0.0) + start_s) / stream.time_base), stream=stream,
                               backward=True, any_frame=False)
            except Exception as exc:
                raise CorruptMedia(f"the {media_type.name.upper()} video cannot be sought: {exc}") from exc
        number = -1
        decoded = 0
        try:
            for frame in container.decode(stream):
                number += 1
                decoded += 1
                if decoded > limits.max_frames or decoded > max_by_duration:
                    raise MediaTooLarge(
                        f"the video has more than {min(limits.max_frames, max_by_duration):,} "
                        "frames, past the frame or duration limit"
                    )
                if frame.width * frame.height > limits.max_video_frame_pixels:
                    raise MediaTooLarge(
                        f"a video frame is {frame.width}×{frame.height}; the limit is "
                        f"{limits.max_video_frame_pixels:,} pixels per frame"
                    )
                stamp = frame.time
                if stamp is None:  # no timestamps: the stated rate places the frame
                    stamp = number / info.frame_rate
                elif origin is None:
                    origin = float(stamp)
                yield (-1 if sought else number), float(stamp) - (origin or 0.0), frame
        except (MediaTooLarge, GeneratorExit):
            raise
        except Exception as exc:
            raise CorruptMedia(
                f"the {media_type.name.upper()} video cannot be decoded past frame {decoded}: {exc}"
            ) from exc
        if decoded == 0:
            raise CorruptMedia(f"the {media_type.name.upper()} video holds no decodable frames")


def iter_video_frames(data: bytes, limits: MediaLimits, every_nth: int = 1) -> Iterator[VideoFrame]:
    """Decode every frame, yielding every ``every_nth`` one (number 0, n, 2n, ...) as RGB.

    All frames are decoded (inter-frame codecs need them) but only yielded ones are
    converted to RGB. Stops with ``MediaTooLarge`` past ``limits.max_frames`` or past
    the duration limit, and with ``CorruptMedia`` where decoding fails.
    """
    if every_nth < 1:
        raise ValueError("every_nth must be at least 1")
    for number, _, frame in _decoded(data, limits):
        if number % every_nth == 0:
            yield VideoFrame(number, frame.to_ndarray(format="rgb24"))


def _luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma plane as H×W uint8, without a colour conversion where it is 8-bit planar."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "gray"):
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:frame.height, :frame.width]
    return frame.to_ndarray(format="gray")


def iter_video_luma(data: bytes, limits: MediaLimits, side: int) -> Iterator[TimedFrame]:
    """Every frame's luma, area-averaged to ``side``×``side``, with its time: a cheap reading of
    every frame for signatures (a 720p frame costs its decoding and well under a millisecond)."""
    if side < 1:
        raise ValueError("side must be at least 1")
    for number, stamp, frame in _decoded(data, limits):
        luma = _luma(frame)
        # A strided pick first: an area average of a 720p plane to 64² costs more than decoding.
        step = max(1, min(luma.shape) // (4 * side))
        small = cv2.resize(np.ascontiguousarray(luma[::step, ::step]), (side, side),
                           interpolation=cv2.INTER_AREA)
        yield TimedFrame(number, stamp, small)


def _rgb(frame: av.VideoFrame, max_pixels: int | None) -> np.ndarray:
    """The frame as RGB, scaled down (aspect kept) to at most ``max_pixels`` when larger."""
    if max_pixels is None or frame.width * frame.height <= max_pixels:
        return frame.to_ndarray(format="rgb24")
    scale = (max_pixels / (frame.width * frame.height)) ** 0.5
    return frame.to_ndarray(format="rgb24", width=max(2, int(frame.width * scale) // 2 * 2),
                            height=max(2, int(frame.height * scale) // 2 * 2), interpolation="AREA")


def _frames_in_one_pass(data: bytes, limits: MediaLimits, wanted: list[float],
                        max_pixels: int | None) -> dict[float, TimedFrame]:
    first, last = wanted[0], wanted[-1]
    for start in ((first - 1.0) if first > 1.0 else None, None):
        found: dict[float, TimedFrame] = {}
        previous: tuple[int, float, av.VideoFrame] | None = None
        index = 0
        began_late = False
        for number, stamp, frame in _decoded(data, limits, start):
            if previous is None and start is not None and stamp > first + 1e-6:
                began_late = True  # the seek landed after the first time wanted: read from the start
                break
            while index < len(wanted) and stamp > wanted[index] + 1e-6:
                shown = previous if previous is not None else (number, stamp, frame)
                found[wanted[index]] = TimedFrame(shown[0], shown[1], _rgb(shown[2], max_pixels))
                index += 1
            previous = (number, stamp, frame)
            if index == len(wanted) or stamp > last + 1.0:
                break
        if began_late:
            continue
        if previous is not None:
            for time_s in wanted[index:]:  # past the last frame: the last frame stays on screen
                found[time_s] = TimedFrame(previous[0], previous[1], _rgb(previous[2], max_pixels))
        return found
    raise CorruptMedia("the video's frames could not be found at the times asked for")


def video_frames_at(data: bytes, limits: MediaLimits, times: list[float], *,
                    max_pixels: int | None = None) -> list[TimedFrame]:
    """The RGB frame shown at each of ``times`` (seconds from the start: the last frame that
    starts at or before it, else the first). Times within ``SEEK_GAP_S`` of each other are read in
    one pass from a seek before the earliest; farther ones by a seek of their own, so times spread
    over a long video cost a few short decodes, not the whole video.

    At most ``MAX_FRAMES_AT`` times. Returned in the order of ``times``. ``max_pixels``: frames
    larger than this are scaled down to it (aspect kept) as they are converted, so memory stays
    bounded by the number of frames, not by their size.
    """
    if not times:
        return []
    if len(times) > MAX_FRAMES_AT:
        raise ValueError(f"at most {MAX_FRAMES_AT} frames may be read at once")
    wanted = sorted(set(times))
    groups: list[list[float]] = [[wanted[0]]]
    for time_s in wanted[1:]:
        if time_s - groups[-1][-1] > SEEK_GAP_S:
            groups.append([time_s])
        else:
            groups[-1].append(time_s)
    found: dict[float, TimedFrame] = {}
    for group in groups:
        found.update(_frames_in_one_pass(data, limits, group, max_pixels))
    return [found[time_s] for time_s in times]
