"""Is a suspect video an excerpt of a source video, and where do its frames differ from it?

The excerpt is placed on the source's timeline by its frame hashes (``frame_offset``); then up
to ``SAMPLED_FRAMES`` frames spread over the suspect are each compared with the source frame on
screen at the same moment, by the image comparison (``comparison.compare``). ``judge`` reads the
frames together:

* ``derived_local_difference``: the footage was placed, at least half the compared frames are
  that source frame (derived), none says otherwise, and regions differ in a quarter or more of the
  derived frames (at least two);
* ``derived_no_difference``: the same, with no region in any frame;
* ``not_derived``: no stretch of the source holds frames like the suspect's, at least half the
  frames compared with their nearest source frame share next to no detail with it, and none is
  derived (the others too plain to judge);
* ``inconclusive``: anything else. A frame that does not align is ``inconclusive`` for that
  frame, never "differs".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from deepshield.forensics.comparison import Comparison, Outcome
from deepshield.forensics.frame_offset import MIN_QUALITY, FrameHashes, FrameOffset, landing_frames

VIDEO_METHOD_VERSION = "deepshield-forensics-compare-video/1"
#: The most suspect frames compared with the source, spread evenly over the suspect.
SAMPLED_FRAMES = 12
#: The least share of the compared frames that must be derived for the video to be.
MIN_DERIVED_SHARE = 0.5
#: The least share of the derived frames (and at least ``MIN_DIFFERING_FRAMES``) with a region
#: for the video to be ``derived_local_difference``. A replaced face stays replaced while it is in
#: view; a region in a frame or two alone may be re-encoding damage (a heavily compressed keyframe),
#: so it makes the video ``inconclusive``, never ``derived_no_difference``.
MIN_DIFFERING_SHARE = 0.25
MIN_DIFFERING_FRAMES = 2
#: Where the hashes place the suspect nowhere, the least share of the compared frames that must
#: read ``not_derived`` (none derived) for the video to: the rest may be too plain to judge (an
#: unrelated picture is ``not_derived`` only when both have plenty of detail).
MIN_NOT_DERIVED_SHARE = 0.5


@dataclass(frozen=True)
class FrameComparison:
    """One suspect frame and the source frame on screen at the same moment."""

    suspect_time_s: float
    source_time_s: float | None
    comparison: Comparison
    #: The suspect frame, small (for the timeline strip); None when not kept.
    thumbnail: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        numbers = self.comparison.to_dict()
        return {"suspect_time_s": round(self.suspect_time_s, 3),
                "source_time_s": None if self.source_time_s is None else round(self.source_time_s, 3),
                "outcome": numbers.pop("outcome"), "reason": numbers.pop("reason"),
                "regions": numbers.pop("regions"), "numbers": numbers}


@dataclass(frozen=True)
class VideoComparison:
    outcome: Outcome
    reason: str
    offset: FrameOffset
    frames: tuple[FrameComparison, ...]
    suspect_duration_s: float
    source_duration_s: float
    method: str = VIDEO_METHOD_VERSION

    @property
    def differing(self) -> tuple[FrameComparison, ...]:
        return tuple(frame for frame in self.frames
                     if frame.comparison.outcome is Outcome.DERIVED_LOCAL_DIFFERENCE)

    @property
    def most_differing(self) -> FrameComparison | None:
        """The aligned frame whose regions cover the most (else an aligned frame, else any): the
        one a figure shows in full."""
        if not self.frames:
            return None
        return max(self.frames, key=lambda frame: (frame.comparison.views is not None,
                                                   sum(region.area for region in frame.comparison.regions)))

    @property
    def derived(self) -> tuple[FrameComparison, ...]:
        return tuple(frame for frame in self.frames if frame.comparison.outcome.derived)

    def to_dict(self) -> dict[str, object]:
        return {"outcome": self.outcome.value, "reason": self.reason, "method": self.method,
                "suspect_duration_s": round(self.suspect_duration_s, 3),
                "source_duration_s": round(self.source_duration_s, 3),
                "offset": self.offset.to_dict(),
                "frames_compared": len(self.frames), "frames_derived": len(self.derived),
                "frames_with_regions": len(self.differing),
                "frames": [frame.to_dict() for frame in self.frames]}


def sample_times(suspect: FrameHashes, count: int = SAMPLED_FRAMES) -> list[float]:
    """The times of up to ``count`` suspect frames with detail, spread evenly (all frames when
    none has detail)."""
    usable = np.flatnonzero(suspect.quality >= MIN_QUALITY)
    if len(usable) == 0:
        usable = np.arange(len(suspect))
    if len(usable) == 0:
        return []
    picks = usable[np.linspace(0, len(usable) - 1, min(count, len(usable))).round().astype(int)]
    return [float(suspect.times[index]) for index in dict.fromkeys(picks.tolist())]


def source_times(offset: FrameOffset, source: FrameHashes, suspect: FrameHashes,
                 suspect_times: Sequence[float]) -> list[float | None]:
    """The time of the source frame each suspect time lands on at ``offset``
    (``frame_offset.landing_frames``); None where that moment lies outside the source."""
    if offset.offset_s is None:
        return [None] * len(suspect_times)
    frames = landing_frames(suspect, source, offset.offset_s, np.asarray(suspect_times, np.float64))
    return [float(source.times[index]) if index >= 0 else None for index in frames]


def judge(offset: FrameOffset, frames: Sequence[FrameComparison], *, suspect_duration_s: float,
          source_duration_s: float) -> VideoComparison:
    """The video's outcome from its placement and its compared frames (rules in the module doc)."""
    common = dict(offset=offset, frames=tuple(frames), suspect_duration_s=suspect_duration_s,
                  source_duration_s=source_duration_s)
    outcomes = [frame.comparison.outcome for frame in frames]
    derived = sum(outcome.derived for outcome in outcomes)
    not_derived = outcomes.count(Outcome.NOT_DERIVED)
    with_regions = outcomes.count(Outcome.DERIVED_LOCAL_DIFFERENCE)
    compared = f"of the {len(frames)} frames compared"
    if not offset.found:
        if offset.unrelated and frames and not derived and not_derived >= MIN_NOT_DERIVED_SHARE * len(frames):
            return VideoComparison(Outcome.NOT_DERIVED,
                                   f"{offset.reason}, and {not_derived} {compared} share next to no detail "
                                   "with the source frame nearest to it (none is that frame)", **common)
        return VideoComparison(Outcome.INCONCLUSIVE,
                               f"the file could not be placed in the source: {offset.reason}", **common)
    if not frames:
        return VideoComparison(Outcome.INCONCLUSIVE, "no frame of the file could be compared", **common)
    placed = "the footage was placed in the source, but"
    if not_derived:
        return VideoComparison(Outcome.INCONCLUSIVE,
                               f"{placed} {not_derived} {compared} share next to no detail with the source "
                               "frame at that moment", **common)
    if derived < MIN_DERIVED_SHARE * len(frames):
        return VideoComparison(Outcome.INCONCLUSIVE,
                               f"{placed} only {derived} {compared} could be aligned with the source "
                               "frame at that moment", **common)
    if with_regions and with_regions < max(MIN_DIFFERING_FRAMES, MIN_DIFFERING_SHARE * derived):
        return VideoComparison(Outcome.INCONCLUSIVE,
                               f"{placed} only {with_regions} {compared} show a region that differs: too few "
                               "to tell an edit from re-encoding damage", **common)
    if with_regions:
        return VideoComparison(Outcome.DERIVED_LOCAL_DIFFERENCE,
                               f"the same footage; {with_regions} {compared} have regions that differ",
                               **common)
    return VideoComparison(Outcome.DERIVED_NO_DIFFERENCE,
                           f"the same footage, with no region that differs in the {derived} frames aligned",
                           **common)
