"""Where in a source video does a suspect video's footage lie? Its offset, from frame hashes.

Every frame of both videos is hashed (``frame_hashes``: PDQ of the frame's luma reduced to
``HASH_SIDE``², cheap enough for every frame of a long source). ``find_offset`` then places the
suspect on the source's timeline by time, not by frame number, so a re-encode at another frame
rate (30 → 24 fps, 25 → 30 fps) still lines up: a suspect frame at time t shows the source frame
on screen at t + offset.

Each of up to ``MAX_ANCHORS`` suspect frames with detail votes for the offsets at which the
source holds a frame within ``MATCH_BITS`` of it; the most-voted offsets are then scored over
all the suspect's frames, and the best kept if at least ``MIN_MATCHED_SHARE`` of them agree
with the source frame they land on. A replaced face changes a frame's hash by a few tens of bits
at most (a hash of unrelated frames differs by about 128), so the frames of a face-swapped
excerpt still agree. The offset is found to the nearest source frame.

Not handled: footage sped up or slowed down (the offset would drift), and excerpts stitched from
several places of the source (only the best-supported place is found).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pdqhash

#: Frames are hashed from their luma reduced to this many pixels a side.
HASH_SIDE = 64
#: A suspect frame agrees with a source frame within this many bits (of 256).
MATCH_BITS = 64
#: Frames of less PDQ quality than this (flat, black, fades) neither vote nor count.
MIN_QUALITY = 30
#: The suspect frames that vote for offsets, spread evenly over the suspect.
MAX_ANCHORS = 240
#: Each voting frame names at most this many of its nearest source frames.
VOTES_PER_ANCHOR = 8
#: The most-voted offsets scored over the whole suspect.
CANDIDATE_OFFSETS = 6
#: The distinct offsets of one bin (and its neighbours) scored.
OFFSETS_PER_BIN = 24
#: A compared frame may be matched with a source frame this many frames from where it lands.
LANDING_SLACK = 2
#: The suspect frames (spread evenly) an offset is scored over.
MAX_SCORED_FRAMES = 900
#: The least share of the suspect's hashed frames that must agree at the offset found...
MIN_MATCHED_SHARE = 0.5
#: ... or this share, with ``CLEAR_MARGIN`` times fewer at any offset ``DISTINCT_OFFSET_S`` away
#: (a face replaced in every frame moves many hashes past ``MATCH_BITS``; the frames compared
#: afterwards decide, so a wrong place can only make the answer inconclusive).
MIN_CLEAR_SHARE = 0.2
CLEAR_MARGIN = 3.0
DISTINCT_OFFSET_S = 1.0
#: At most this share agreeing, over ``MIN_FRAMES_TO_JUDGE`` frames or more: no stretch of the
#: source is this footage.
UNRELATED_MAX_SHARE = 0.05
MIN_FRAMES_TO_JUDGE = 10


@dataclass(frozen=True)
class FrameHashes:
    """One video's frame hashes, in decoding order."""

    times: np.ndarray  # float64 seconds from the start
    bits: np.ndarray  # N×4 uint64: the 256-bit PDQ hashes
    quality: np.ndarray  # int16 PDQ quality, 0-100

    def __len__(self) -> int:
        return len(self.times)

    @property
    def duration_s(self) -> float:
        """From the first frame's start to the last frame's end (one median frame interval)."""
        if len(self.times) == 0:
            return 0.0
        return float(self.times[-1] - self.times[0] + self.frame_interval_s)

    @property
    def frame_interval_s(self) -> float:
        return float(np.median(np.diff(self.times))) if len(self.times) > 1 else 0.0

    def shown_at(self, times: np.ndarray) -> np.ndarray:
        """Index of the frame on screen at each of ``times`` (the last one starting at or before
        it; the first frame before the start)."""
        return np.clip(np.searchsorted(self.times, times + 1e-6, side="right") - 1, 0, len(self.times) - 1)


def _packed(hash_bits: np.ndarray) -> np.ndarray:
    return np.packbits(hash_bits.astype(np.uint8)).view(">u8").astype(np.uint64)


def _hashed(times: list[float], bits: list[np.ndarray], quality: list[int]) -> FrameHashes:
    order = np.argsort(np.asarray(times, np.float64), kind="stable")
    packed = np.asarray(bits, np.uint64).reshape(-1, 4)
    return FrameHashes(np.asarray(times, np.float64)[order], packed[order],
                       np.asarray(quality, np.int16)[order])


def _pdq(luma: np.ndarray) -> tuple[np.ndarray, int]:
    hash_bits, hash_quality = pdqhash.compute(np.ascontiguousarray(np.repeat(luma[:, :, None], 3, axis=2)))
    return _packed(hash_bits), int(hash_quality)


def frame_hashes(frames: Iterable[tuple[float, np.ndarray]], *, mirrored: bool = False) -> FrameHashes:
    """Hash ``(time, luma)`` frames (H×W uint8 each, ideally ``HASH_SIDE``²). ``mirrored``: hash
    each frame flipped left to right instead."""
    return _hashed_as(frames, (mirrored,))[0]


def frame_hashes_both(frames: Iterable[tuple[float, np.ndarray]]) -> tuple[FrameHashes, FrameHashes]:
    """``frame_hashes`` of the frames as they are and flipped left to right, in one reading."""
    plain, flipped = _hashed_as(frames, (False, True))
    return plain, flipped


def _hashed_as(frames: Iterable[tuple[float, np.ndarray]], flips: tuple[bool, ...]) -> list[FrameHashes]:
    """The frames hashed once per entry of ``flips`` (True: flipped left to right), in one reading."""
    times: list[float] = []
    hashed: list[tuple[list[np.ndarray], list[int]]] = [([], []) for _ in flips]
    for time_s, luma in frames:
        if luma.ndim != 2 or luma.dtype != np.uint8:
            raise ValueError("a frame must be an H×W uint8 luma array")
        times.append(float(time_s))
        for (bits, quality), flip in zip(hashed, flips, strict=True):
            frame_bits, frame_quality = _pdq(luma[:, ::-1] if flip else luma)
            bits.append(frame_bits)
            quality.append(frame_quality)
    return [_hashed(times, bits, quality) for bits, quality in hashed]


def distances(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Hamming distances between every hash of ``left`` (A×4 uint64) and ``right`` (M×4): A×M."""
    out = np.zeros((len(left), len(right)), np.int32)
    for word in range(4):
        out += np.bitwise_count(left[:, word, None] ^ right[None, :, word])
    return out


@dataclass(frozen=True)
class FrameOffset:
    """Where the suspect lies in the source, or why that could not be said."""

    found: bool
    unrelated: bool  # no stretch of the source holds this footage (only when not found)
    offset_s: float | None  # source time = suspect time + offset
    matched_share: float  # of the suspect's hashed frames, agreeing at the best offset
    median_bits: float | None  # median distance of those frames to the source frame they land on
    frames: int  # suspect frames with detail (hashed at quality ≥ MIN_QUALITY)
    mirrored: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"found": self.found, "offset_s": None if self.offset_s is None else round(self.offset_s, 3),
                "matched_share": round(self.matched_share, 4), "median_bits": self.median_bits,
                "frames": self.frames, "mirrored": self.mirrored}


def landing_frames(suspect: FrameHashes, source: FrameHashes, offset_s: float, times: np.ndarray
                   ) -> np.ndarray:
    """The source frame each suspect frame shown at ``times`` lands on at ``offset_s``: the one on
    screen then, or of its ``LANDING_SLACK`` neighbours either side the nearest by hash (a frame-rate
    change or a rounding of the offset can put a moment one frame across a cut). -1 outside the
    source."""
    times = np.asarray(times, np.float64)
    landing = times + offset_s
    shown = source.shown_at(landing)
    rows = suspect.shown_at(times)
    end = source.times[-1] + source.frame_interval_s
    chosen = np.full(len(times), -1, np.int64)
    for index, (row, moment, frame) in enumerate(zip(rows, landing, shown, strict=True)):
        if not source.times[0] - 1e-6 <= moment < end:
            continue
        near = np.arange(max(0, frame - LANDING_SLACK), min(len(source), frame + LANDING_SLACK + 1))
        bits = distances(suspect.bits[row:row + 1], source.bits[near])[0]
        chosen[index] = near[int(np.argmin(bits))] if bits.min() < bits[near == frame][0] else frame
    return chosen


def nearest_frames(suspect: FrameHashes, source: FrameHashes, times: np.ndarray) -> np.ndarray:
    """For each suspect frame shown at ``times``, the index of the source frame whose hash is
    nearest to it (where no offset holds, the best single frame to compare it with)."""
    rows = suspect.shown_at(np.asarray(times, np.float64))
    return np.asarray([int(np.argmin(distances(suspect.bits[row:row + 1], source.bits)[0])) for row in rows],
                      np.int64)


def _spread(indices: np.ndarray, count: int) -> np.ndarray:
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]


def _score(suspect: FrameHashes, source: FrameHashes, scored: np.ndarray, offset: float
           ) -> tuple[float, float]:
    """(share agreeing, median distance) of the ``scored`` suspect frames placed at ``offset``."""
    landing = suspect.times[scored] + offset
    start, end = source.times[0], source.times[-1] + source.frame_interval_s
    inside = (landing >= start - 1e-6) & (landing < end)
    shown = source.shown_at(landing)
    bits = np.zeros(len(scored), np.int32)
    for word in range(4):
        bits += np.bitwise_count(suspect.bits[scored, word] ^ source.bits[shown, word])
    bits = np.where(inside, bits, 256)
    return float((bits <= MATCH_BITS).mean()), float(np.median(bits))


def _candidates(suspect: FrameHashes, source: FrameHashes, anchors: np.ndarray) -> list[float]:
    """The most-voted offsets: each anchor's nearest agreeing source frames vote once per bin."""
    near = distances(suspect.bits[anchors], source.bits)
    near[:, source.quality < MIN_QUALITY] = 256
    interval = max(source.frame_interval_s, suspect.frame_interval_s, 1e-3)
    votes: dict[int, set[int]] = {}
    offsets: dict[int, list[float]] = {}
    take = min(VOTES_PER_ANCHOR, near.shape[1])
    nearest = np.argpartition(near, take - 1, axis=1)[:, :take]
    for row, anchor in enumerate(anchors):
        for column in nearest[row]:
            if near[row, column] > MATCH_BITS:
                continue
            offset = float(source.times[column] - suspect.times[anchor])
            key = int(np.floor(offset / interval))
            votes.setdefault(key, set()).add(row)
            offsets.setdefault(key, []).append(offset)
    # A bin and its neighbours together: an offset on a bin's edge splits its votes.
    support = {key: len(votes[key] | votes.get(key - 1, set()) | votes.get(key + 1, set())) for key in votes}
    ranked = sorted(support, key=lambda key: (-support[key], key))
    bins: list[int] = []
    for key in ranked:
        if all(abs(key - other) > 1 for other in bins):
            bins.append(key)
        if len(bins) == CANDIDATE_OFFSETS:
            break
    chosen: list[float] = []
    for key in bins:
        values = offsets[key] + offsets.get(key - 1, []) + offsets.get(key + 1, [])
        chosen.extend(sorted({round(value, 4) for value in values})[:OFFSETS_PER_BIN])
    return chosen


@dataclass(frozen=True)
class _Placement:
    offset: float | None
    share: float
    median: float | None
    runner_up: float  # the best share at an offset more than ``DISTINCT_OFFSET_S`` from this one


def _best(suspect: FrameHashes, source: FrameHashes, usable: np.ndarray) -> _Placement:
    anchors = _spread(usable, MAX_ANCHORS)
    scored = _spread(usable, MAX_SCORED_FRAMES)
    results = [(offset, *_score(suspect, source, scored, offset))
               for offset in _candidates(suspect, source, anchors)]
    if not results:
        return _Placement(None, 0.0, None, 0.0)
    offset, share, median = max(results, key=lambda result: (result[1], -result[2]))
    runner_up = max((other[1] for other in results if abs(other[0] - offset) > DISTINCT_OFFSET_S),
                    default=0.0)
    return _Placement(offset, share, median, runner_up)


def _placed(placement: _Placement) -> bool:
    """Most frames agree; or, where an edit moved many hashes past ``MATCH_BITS``, a clear share
    still agrees at one offset and far fewer anywhere else."""
    return placement.share >= MIN_MATCHED_SHARE or (
        placement.share >= MIN_CLEAR_SHARE and placement.share >= CLEAR_MARGIN * placement.runner_up)


def find_offset(suspect: FrameHashes, source: FrameHashes,
                mirrored_suspect: FrameHashes | None = None) -> FrameOffset:
    """Place ``suspect`` on ``source``'s timeline (``FrameOffset``). ``mirrored_suspect``: the
    suspect's hashes of its frames flipped, tried when the plain ones find no place."""
    usable = np.flatnonzero(suspect.quality >= MIN_QUALITY)
    if len(source) == 0 or len(usable) < 3:
        return FrameOffset(False, False, None, 0.0, None, len(usable), False,
                           "too few frames with detail to place (fades, flat or black frames)")
    placement = _best(suspect, source, usable)
    mirrored = False
    if not _placed(placement) and mirrored_suspect is not None:
        flipped = _best(mirrored_suspect, source, usable)
        if flipped.share > placement.share:
            placement, mirrored = flipped, True
    offset, share, median = placement.offset, placement.share, placement.median
    frames = len(usable)
    median_bits = None if median is None else float(median)
    if _placed(placement):
        assert offset is not None
        return FrameOffset(True, False, offset, share, median_bits, frames, mirrored,
                           f"{share:.0%} of the file's frames agree with the source's at one offset")
    unrelated = frames >= MIN_FRAMES_TO_JUDGE and share <= UNRELATED_MAX_SHARE
    reason = ("no stretch of the source holds frames like the file's" if unrelated else
              f"at best {share:.0%} of the file's frames agree with the source's at one offset "
              f"(at least {MIN_MATCHED_SHARE:.0%} are needed, or {MIN_CLEAR_SHARE:.0%} with "
              f"{CLEAR_MARGIN:g} times fewer at any other offset)")
    return FrameOffset(False, unrelated, offset, share, median_bits, frames, mirrored, reason)
