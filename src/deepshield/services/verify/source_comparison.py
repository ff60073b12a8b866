"""Compare a suspect file with a suspected source: the evidence a victim can hand over when a
deepfake carries no label (issue 16).

``compare_with_source`` decodes both files within the media limits (huge images reduced while
decoded, as for every analysis), runs the comparison and puts its outcome in plain words:

* two images: ``forensics.compare``;
* two videos: every frame of both hashed (``forensics.frame_offset``), the suspect placed on the
  source's timeline, and up to ``SAMPLED_FRAMES`` frames compared with the source frame shown at
  the same moment (``forensics.video_comparison``);
* an image against a source video: the picture compared with the source frames whose hashes are
  nearest to it (``CANDIDATE_FRAMES``), the best kept.

A video suspect against a source picture is refused with a clear message (compare a frame).
The wording reports what was measured against this one source and nothing else: never "fake" or
"real"; ``not_derived`` says only that this source is not the file's origin; ``inconclusive``
says neither. Neither file is stored; the audit log records who compared and the outcome, no
hash and no picture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from deepshield.errors import InvalidRequest
from deepshield.forensics import Comparison, Outcome, compare
from deepshield.forensics.comparison import MIN_SIDE
from deepshield.forensics.figure import clock, figure_png, mask_png, timeline_png
from deepshield.forensics.frame_offset import (
    HASH_SIDE,
    FrameHashes,
    distances,
    find_offset,
    frame_hashes,
    frame_hashes_both,
    nearest_frames,
)
from deepshield.forensics.video_comparison import (
    SAMPLED_FRAMES,
    FrameComparison,
    VideoComparison,
    judge,
    sample_times,
    source_times,
)
from deepshield.media import MediaKind, decode_image
from deepshield.media.errors import UnsupportedMedia
from deepshield.media.limits import MediaLimits
from deepshield.media.sniff import sniff_media_type
from deepshield.media.video import iter_video_luma, probe_video, video_frames_at
from deepshield.services.access import Action, Principal, actor_of, authorize
from deepshield.services.context import ServiceContext

#: What the method cannot see, stated with every comparison (docs/FORENSICS.md).
KNOWN_LIMITS = (
    "It compares the file with this one source only; another source may still be the origin.",
    "A picture re-rendered as a whole (a face restorer, an upscaler) or bent by a non-rigid warp "
    "no longer matches pixel for pixel: such files read inconclusive, or show regions where the "
    "warp moved most.",
    "Subtle edits that move a few pixels (an expression changed by a small warp) stay within what "
    "reposting changes and are not outlined.",
    "Face location is not measured: a region is described by its place and size, not by what it shows.",
)
#: Said too when either file is a video.
VIDEO_LIMITS = (
    "A video is placed in the source by its frames' hashes, by time: a re-encode at another frame "
    "rate still lines up, but footage sped up or slowed down, or stitched from several places of the "
    "source, is placed at best in part.",
    f"Only up to {SAMPLED_FRAMES} frames spread over the file are compared pixel for pixel; a "
    "difference confined to other frames is not outlined.",
)
#: An image against a source video: the source frames nearest by hash that are compared with it.
CANDIDATE_FRAMES = 3
#: Compared frames' thumbnails (for the timeline strip) are kept at this height.
THUMBNAIL_HEIGHT = 120


@dataclass(frozen=True)
class SourceComparison:
    """A comparison in words, with its numbers and pictures."""

    comparison: Comparison | VideoComparison
    summary: str
    suspect_name: str | None = None
    source_name: str | None = None
    #: For a picture compared with a source video: the time of the source frame it was compared with.
    source_time_s: float | None = None

    @property
    def outcome(self) -> Outcome:
        return self.comparison.outcome

    @property
    def is_video(self) -> bool:
        return isinstance(self.comparison, VideoComparison)

    @property
    def limits(self) -> tuple[str, ...]:
        if self.is_video or self.source_time_s is not None:
            return KNOWN_LIMITS + VIDEO_LIMITS
        return KNOWN_LIMITS

    def figure_png(self) -> bytes | None:
        """The side-by-side figure (a picture), or a video's timeline strip above its most-differing
        frame's figure; None when nothing could be aligned."""
        if isinstance(self.comparison, VideoComparison):
            return timeline_png(self.comparison)
        return figure_png(self.comparison)

    def mask_png(self) -> bytes | None:
        """A PNG of the suspect picture's size, white where it differs; None for a video."""
        if isinstance(self.comparison, VideoComparison):
            return None
        return mask_png(self.comparison)

    def to_dict(self) -> dict[str, Any]:
        body = {"suspect": self.suspect_name, "source": self.source_name, "outcome": self.outcome.value,
                "kind": "video" if self.is_video else "image", "summary": self.summary,
                "numbers": self.comparison.to_dict(), "limits": list(self.limits)}
        if self.source_time_s is not None:
            body["source_time_s"] = round(self.source_time_s, 3)
        return body


def _where(box: tuple[int, int, int, int], size: tuple[int, int]) -> str:
    x, y, width, height = box
    centre_x, centre_y = (x + width / 2) / size[0], (y + height / 2) / size[1]
    across = "left" if centre_x < 1 / 3 else "right" if centre_x > 2 / 3 else "centre"
    down = "top" if centre_y < 1 / 3 else "bottom" if centre_y > 2 / 3 else "middle"
    return "in the centre" if (across, down) == ("centre", "middle") else f"at the {down} {across}"


def _named(source_name: str | None) -> str:
    return f"the source ({source_name})" if source_name else "the source"


def _not_the_origin(source: str, why: str) -> str:
    return (f"{source[0].upper()}{source[1:]} is not the origin of this file: {why}. This says nothing "
            "about any other source.")


def _inconclusive(reason: str, source: str) -> str:
    return (f"Inconclusive: {reason}. This says neither that the file comes from {source} "
            "nor that it does not.")


def summary_of(comparison: Comparison, source_name: str | None = None) -> str:
    """The outcome in one or two plain sentences."""
    source = _named(source_name)
    outcome = comparison.outcome
    if outcome is Outcome.DERIVED_LOCAL_DIFFERENCE:
        regions = comparison.regions
        faces = [region for region in regions
                 if region.face_overlap is not None and region.face_overlap >= 0.5]
        places = "; ".join(f"{_where(region.box, comparison.suspect_size)}, {region.area:.1%} of the picture"
                           for region in regions[:3])
        outlined = "the outlined region" if len(regions) == 1 else f"the {len(regions)} outlined regions"
        covering = ", which covers a face" if len(faces) == 1 and len(regions) == 1 else \
            f", {len(faces)} of which cover a face" if faces else ""
        return (f"This file matches {source} everywhere except in {outlined}{covering} ({places}); "
                "elsewhere it differs only as much as reposting changes a picture.")
    if outcome is Outcome.DERIVED_NO_DIFFERENCE:
        return (f"This file matches {source} everywhere: no region differs beyond what reposting "
                "(scaling, cropping, re-encoding, tone changes) changes.")
    if outcome is Outcome.NOT_DERIVED:
        return _not_the_origin(source, "the two pictures share next to no detail")
    return _inconclusive(comparison.reason, source)


def video_summary_of(video: VideoComparison, source_name: str | None = None) -> str:
    """A video comparison's outcome in one or two plain sentences."""
    source = _named(source_name)
    outcome = video.outcome
    span = ""
    if video.offset.offset_s is not None and any(frame.source_time_s is not None for frame in video.derived):
        start = max(0.0, video.offset.offset_s)
        end = start + video.suspect_duration_s
        span = f" from {clock(start)} to {clock(end)} of the source"
    compared = f"{len(video.frames)} frames compared"
    if outcome is Outcome.DERIVED_LOCAL_DIFFERENCE:
        differing = video.differing
        largest = video.most_differing  # a frame with regions: there are some
        assert largest is not None
        region = max(largest.comparison.regions, key=lambda region: region.area)
        where = _where(region.box, largest.comparison.suspect_size)
        return (f"This file matches {source} frame for frame{span}, except in the outlined regions of "
                f"{len(differing)} of the {compared} (largest {where}, {region.area:.1%} of the picture, at "
                f"{clock(largest.suspect_time_s)} of the file); "
                "elsewhere it differs only as much as re-encoding changes a video.")
    if outcome is Outcome.DERIVED_NO_DIFFERENCE:
        return (f"This file matches {source} frame for frame{span}: no region of the {compared} differs "
                "beyond what re-encoding (scaling, cropping, compression, tone changes) changes.")
    if outcome is Outcome.NOT_DERIVED:
        return _not_the_origin(source, "no stretch of it holds the file's frames")
    return _inconclusive(video.reason, source)


def _kind(data: bytes, ctx: ServiceContext, role: str) -> MediaKind:
    if not data:
        raise InvalidRequest(f"the {role} file is empty (0 bytes)")
    kind = sniff_media_type(data[:64]).kind
    if kind is MediaKind.VIDEO:
        probe_video(data, ctx.settings.limits)  # a video over the limits is refused before any decoding
    return kind


def _pixels(data: bytes, ctx: ServiceContext, role: str) -> Any:
    pixels = decode_image(data, ctx.settings.limits, for_analysis=True).pixels
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InvalidRequest(f"the {role} is {width}×{height} px: too small to compare (at least "
                             f"{MIN_SIDE} px a side)")
    return pixels


def _lumas(data: bytes, limits: MediaLimits) -> Iterator[tuple[float, np.ndarray]]:
    return ((frame.time_s, frame.pixels) for frame in iter_video_luma(data, limits, HASH_SIDE))


def video_hashes(data: bytes, limits: MediaLimits) -> FrameHashes:
    """Every frame's hash (``forensics.frame_offset``), decoded within ``limits``."""
    return frame_hashes(_lumas(data, limits))


def _thumbnail(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    scale = min(1.0, THUMBNAIL_HEIGHT / height)
    return cv2.resize(pixels, (max(1, round(width * scale)), max(1, round(height * scale))),
                      interpolation=cv2.INTER_AREA)


def _outside(reason: str, size: tuple[int, int]) -> Comparison:
    return Comparison(Outcome.INCONCLUSIVE, reason, 0, 0, False, 0.0, None, None, None, suspect_size=size)


def _compared(suspect: np.ndarray, source: np.ndarray | None) -> Comparison:
    size = (suspect.shape[1], suspect.shape[0])
    if source is None:
        return _outside("this moment of the file lies outside the source", size)
    if min(suspect.shape[:2]) < MIN_SIDE or min(source.shape[:2]) < MIN_SIDE:
        return _outside(f"a frame is smaller than {MIN_SIDE} px a side", size)
    return compare(suspect, source)


def compare_videos(suspect: bytes, source: bytes, limits: MediaLimits,
                   progress: Callable[[str], None] | None = None, *,
                   source_hashes: FrameHashes | None = None) -> VideoComparison:
    """A suspect video against a source video (``forensics.video_comparison``), decoding within
    ``limits``: every frame of each hashed once, then only the compared frames decoded in colour.
    ``source_hashes``: the source's frame hashes when already known (``video_hashes``)."""
    say = progress or (lambda _: None)
    if source_hashes is None:
        say("hashing the source's frames")
        source_hashes = video_hashes(source, limits)
    say("hashing the file's frames")
    suspect_hashes, mirrored = frame_hashes_both(_lumas(suspect, limits))
    offset = find_offset(suspect_hashes, source_hashes, mirrored)
    times = sample_times(suspect_hashes)
    if offset.offset_s is not None:
        matched: list[float | None] = source_times(offset, source_hashes,
                                                   mirrored if offset.mirrored else suspect_hashes, times)
    elif times and len(source_hashes):
        matched = [float(source_hashes.times[index])
                   for index in nearest_frames(suspect_hashes, source_hashes, np.asarray(times))]
    else:
        matched = [None] * len(times)
    say(f"comparing {len(times)} frames")
    # Frames over the analysis size are reduced as they are read (24 frames of 8K would be 2.5 GB).
    suspect_frames = video_frames_at(suspect, limits, times, max_pixels=limits.reduced_analysis_pixels)
    wanted = [moment for moment in matched if moment is not None]
    source_frames = dict(zip(wanted, video_frames_at(source, limits, wanted,
                                                     max_pixels=limits.reduced_analysis_pixels), strict=True))
    frames = []
    for moment, shown, frame in zip(times, matched, suspect_frames, strict=True):
        source_frame = source_frames[shown].pixels if shown is not None else None
        frames.append(FrameComparison(moment, shown, _compared(frame.pixels, source_frame),
                                      _thumbnail(frame.pixels)))
    return judge(offset, frames, suspect_duration_s=suspect_hashes.duration_s,
                 source_duration_s=source_hashes.duration_s)


def compare_with_frames(suspect: np.ndarray, source: bytes, limits: MediaLimits) -> tuple[Comparison, float]:
    """A picture against a source video: compared with the ``CANDIDATE_FRAMES`` source frames
    whose hashes are nearest to it; the first derived one kept, else the first. (Comparison,
    the source frame's time)."""
    source_hashes = video_hashes(source, limits)
    grey = cv2.cvtColor(suspect, cv2.COLOR_RGB2GRAY)
    picture = frame_hashes([(0.0, cv2.resize(grey, (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA))])
    near = distances(picture.bits, source_hashes.bits)[0]
    candidates = [int(index) for index in np.argsort(near, kind="stable")[:CANDIDATE_FRAMES]]
    moments = [float(source_hashes.times[index]) for index in candidates]
    found = video_frames_at(source, limits, moments, max_pixels=limits.reduced_analysis_pixels)
    results = [(_compared(suspect, frame.pixels), moment)
               for frame, moment in zip(found, moments, strict=True)]
    for result in results:
        if result[0].outcome.derived:
            return result
    return results[0]


def compare_with_source(ctx: ServiceContext, suspect: bytes, source: bytes, *, principal: Principal | None,
                        suspect_name: str | None = None, source_name: str | None = None,
                        progress: Callable[[str], None] | None = None) -> SourceComparison:
    """Compare ``suspect`` with ``source`` (image or video bytes; neither stored).

    Open to the public (``principal`` None) and to every key's role (``Action.FORENSICS_COMPARE``);
    any other principal is ``Forbidden`` before any work. Media errors (empty, unsupported,
    corrupt, too large) are raised before any comparison; the action and its outcome are
    audit-logged.
    """
    if principal is not None:
        authorize(principal, Action.FORENSICS_COMPARE)
    limits = ctx.settings.limits
    suspect_kind, source_kind = _kind(suspect, ctx, "suspect"), _kind(source, ctx, "source")
    if suspect_kind is MediaKind.VIDEO and source_kind is not MediaKind.VIDEO:
        raise UnsupportedMedia("the suspect is a video and the source a picture: compare a frame of the "
                               "video (an image) with the picture")
    result: SourceComparison
    if suspect_kind is MediaKind.VIDEO:
        video = compare_videos(suspect, source, limits, progress)
        result = SourceComparison(video, video_summary_of(video, source_name), suspect_name, source_name)
        regions = sum(len(frame.comparison.regions) for frame in video.frames)
    else:
        suspect_pixels = _pixels(suspect, ctx, "suspect")
        source_time: float | None = None
        if source_kind is MediaKind.VIDEO:
            comparison, source_time = compare_with_frames(suspect_pixels, source, limits)
        else:
            comparison = compare(suspect_pixels, _pixels(source, ctx, "source"))
        summary = summary_of(comparison, source_name if source_time is None
                             else f"{source_name or 'the video'}, its frame at {clock(source_time)}")
        result = SourceComparison(comparison, summary, suspect_name, source_name, source_time)
        regions = len(comparison.regions)
    ctx.read_audit.record(actor_of(principal), "forensics.compare", "", outcome=result.outcome.value,
                          regions=regions, kind="video" if result.is_video else "image")
    return result
