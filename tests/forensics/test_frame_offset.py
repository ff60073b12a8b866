"""``forensics.frame_offset`` and ``video_comparison.judge``: placing an excerpt on a source's
timeline by frame hashes (at another frame rate, mirrored, or not at all), and the rules that turn
compared frames into a video's outcome.

Frames are made here as small luma arrays (``HASH_SIDE``²): a source whose picture changes every
frame, excerpts of it sampled at other rates, and unrelated footage.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deepshield.forensics import Outcome
from deepshield.forensics.comparison import Comparison, Region
from deepshield.forensics.frame_offset import (
    HASH_SIDE,
    FrameHashes,
    FrameOffset,
    find_offset,
    frame_hashes,
    landing_frames,
)
from deepshield.forensics.video_comparison import FrameComparison, judge, sample_times, source_times
from factories import textured_pixels

SOURCE_FPS = 25.0


def _scene(seed: int) -> np.ndarray:
    return cv2.cvtColor(textured_pixels(seed, 480, 270), cv2.COLOR_RGB2GRAY)


def _shown(time_s: float, scenes: list[np.ndarray]) -> np.ndarray:
    """The source picture at ``time_s``: a new scene every 2 s, the camera panning across it."""
    scene = scenes[int(time_s // 2) % len(scenes)]
    left = int((time_s % 2) / 2 * (scene.shape[1] - scene.shape[0]))
    return cv2.resize(scene[:, left:left + scene.shape[0]], (HASH_SIDE, HASH_SIDE),
                      interpolation=cv2.INTER_AREA)


def _footage(seconds: float, fps: float, scenes: list[np.ndarray], start: float = 0.0,
             edit: bool = False) -> list[tuple[float, np.ndarray]]:
    frames = []
    for number in range(int(seconds * fps)):
        time_s = number / fps
        # The frame on screen in the source at that moment.
        moment = np.floor((start + time_s) * SOURCE_FPS + 1e-6) / SOURCE_FPS
        luma = _shown(moment, scenes).copy()
        if edit:  # a patch replaced by other content (a face, at this scale: 3.5 % of the frame)
            luma[20:32, 26:38] = np.rot90(luma[40:52, 10:22])
        frames.append((time_s, luma))
    return frames


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    return [_scene(seed) for seed in range(30, 36)]


@pytest.fixture(scope="module")
def source(scenes: list[np.ndarray]) -> FrameHashes:
    return frame_hashes(_footage(12.0, SOURCE_FPS, scenes))


@pytest.mark.parametrize("fps", [25.0, 24.0, 30.0, 15.0])
def test_an_excerpt_is_placed_at_its_offset_whatever_its_frame_rate(source: FrameHashes, scenes, fps) -> None:
    excerpt = frame_hashes(_footage(4.0, fps, scenes, start=5.2, edit=True))
    offset = find_offset(excerpt, source)
    assert offset.found and not offset.mirrored
    assert offset.offset_s == pytest.approx(5.2, abs=1 / SOURCE_FPS + 1e-6)
    assert offset.matched_share > 0.9 and offset.median_bits is not None and offset.median_bits < 64
    assert offset.frames == len(excerpt)


def test_a_mirrored_excerpt_is_placed_by_its_mirrored_hashes(source: FrameHashes, scenes) -> None:
    frames = [(time_s, np.ascontiguousarray(luma[:, ::-1]))
              for time_s, luma in _footage(3.0, 25.0, scenes, 7.0)]
    plain = find_offset(frame_hashes(frames), source)
    assert not plain.found
    offset = find_offset(frame_hashes(frames), source, frame_hashes(frames, mirrored=True))
    assert offset.found and offset.mirrored and offset.offset_s == pytest.approx(7.0, abs=0.05)


def test_unrelated_footage_is_placed_nowhere_and_said_to_be_unrelated(source: FrameHashes) -> None:
    others = [_scene(seed) for seed in range(90, 96)]
    offset = find_offset(frame_hashes(_footage(4.0, 25.0, others)), source)
    assert not offset.found and offset.unrelated
    assert offset.matched_share <= 0.05
    assert "no stretch of the source" in offset.reason


def test_footage_without_detail_is_not_placed_and_not_called_unrelated(source: FrameHashes) -> None:
    flat = [(number / 25, np.full((HASH_SIDE, HASH_SIDE), 16, np.uint8)) for number in range(50)]
    offset = find_offset(frame_hashes(flat), source)
    assert not offset.found and not offset.unrelated
    assert "too few frames with detail" in offset.reason


def test_frames_past_the_source_end_land_nowhere(source: FrameHashes, scenes) -> None:
    excerpt = frame_hashes(_footage(4.0, 25.0, scenes, start=10.0))  # the source ends at 12 s
    offset = find_offset(excerpt, source)
    assert offset.found and offset.offset_s == pytest.approx(10.0, abs=0.05)
    assert 0.45 < offset.matched_share < 0.56
    times = source_times(offset, source, excerpt, [0.5, 1.9, 2.5, 3.9])
    assert times[0] == pytest.approx(10.5, abs=0.05) and times[1] is not None
    assert times[2] is None and times[3] is None


def test_sampled_times_are_spread_over_frames_with_detail() -> None:
    times = np.arange(100) / 10
    quality = np.where(np.arange(100) < 20, 0, 100).astype(np.int16)  # a fade-in
    hashes = FrameHashes(times, np.zeros((100, 4), np.uint64), quality)
    picked = sample_times(hashes, 12)
    assert len(picked) == 12 and picked[0] == pytest.approx(2.0) and picked[-1] == pytest.approx(9.9)
    assert picked == sorted(picked)


def _frame(outcome: Outcome, regions: int = 0) -> FrameComparison:
    found = tuple(Region((10, 10, 20, 20), 0.01, 6.0, None) for _ in range(regions))
    return FrameComparison(1.0, 3.0, Comparison(outcome, "", 40, 60, False, 0.9, 2.0, 0.0, 0.97, 0.95, found))


def test_the_videos_outcome_needs_most_frames_derived_and_none_against() -> None:
    found = FrameOffset(True, False, 2.0, 0.9, 20.0, 100, False, "placed")
    lost = FrameOffset(False, True, None, 0.0, None, 100, False, "no stretch of the source holds frames")
    unclear = FrameOffset(False, False, 1.0, 0.3, 70.0, 100, False, "at best 30 %")
    durations = dict(suspect_duration_s=4.0, source_duration_s=12.0)
    derived, differs = _frame(Outcome.DERIVED_NO_DIFFERENCE), _frame(Outcome.DERIVED_LOCAL_DIFFERENCE, 1)
    local = Outcome.DERIVED_LOCAL_DIFFERENCE
    unaligned, other = _frame(Outcome.INCONCLUSIVE), _frame(Outcome.NOT_DERIVED)
    assert judge(found, [derived] * 4 + [differs] * 2, **durations).outcome is local
    # A region in one frame of six (or two of twelve) may be re-encoding damage: not said either way.
    assert judge(found, [derived] * 5 + [differs], **durations).outcome is Outcome.INCONCLUSIVE
    assert judge(found, [derived] * 10 + [differs] * 2, **durations).outcome is Outcome.INCONCLUSIVE
    assert judge(found, [derived] * 9 + [differs] * 3, **durations).outcome is local
    assert judge(found, [derived] * 6, **durations).outcome is Outcome.DERIVED_NO_DIFFERENCE
    # Frames that do not align are inconclusive for themselves; a majority of them, for the video.
    assert judge(found, [derived] * 3 + [unaligned] * 3, **durations).outcome is Outcome.DERIVED_NO_DIFFERENCE
    assert judge(found, [derived] * 2 + [unaligned] * 4, **durations).outcome is Outcome.INCONCLUSIVE
    # One frame saying "another picture" where the hashes placed it: neither answer is safe.
    assert judge(found, [derived] * 5 + [other], **durations).outcome is Outcome.INCONCLUSIVE
    assert judge(found, [], **durations).outcome is Outcome.INCONCLUSIVE
    assert judge(lost, [other] * 3, **durations).outcome is Outcome.NOT_DERIVED
    # Frames too plain to judge are neutral; any frame that is the source's, or too few saying
    # otherwise, leave it open.
    assert judge(lost, [other] * 2 + [unaligned] * 2, **durations).outcome is Outcome.NOT_DERIVED
    assert judge(lost, [other] + [unaligned] * 2, **durations).outcome is Outcome.INCONCLUSIVE
    assert judge(lost, [other] * 5 + [derived], **durations).outcome is Outcome.INCONCLUSIVE
    assert judge(unclear, [other] * 3, **durations).outcome is Outcome.INCONCLUSIVE
    video = judge(found, [derived] * 4 + [differs] * 2, **durations)
    body = video.to_dict()
    assert body["frames_compared"] == 6 and body["frames_with_regions"] == 2 and body["frames_derived"] == 6
    assert body["offset"]["offset_s"] == 2.0
    assert body["method"].startswith("deepshield-forensics-compare-video/")


def _random_hashes(count: int, fps: float, seed: int) -> FrameHashes:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**63, (count, 4), dtype=np.int64).astype(np.uint64)
    return FrameHashes(np.arange(count) / fps, bits, np.full(count, 100, np.int16))


def _flipped(bits: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``bits`` (4 uint64) with ``count`` of its 256 bits flipped."""
    flat = np.unpackbits(bits.astype(">u8").view(np.uint8))
    flat[rng.choice(256, count, replace=False)] ^= 1
    return np.packbits(flat).view(">u8").astype(np.uint64)


def test_footage_whose_edit_moves_most_hashes_is_still_placed_by_a_clear_margin() -> None:
    source = _random_hashes(500, 25.0, 1)
    rng = np.random.default_rng(2)
    rows = np.arange(200, 300)
    # A third of the frames stay near the source; the edit moves the rest 80 bits (unrelated: ~128).
    bits = np.stack([_flipped(source.bits[row], 20 if index % 3 == 0 else 80, rng)
                     for index, row in enumerate(rows)])
    suspect = FrameHashes(np.arange(100) / 25.0, bits, np.full(100, 100, np.int16))
    offset = find_offset(suspect, source)
    assert offset.found and offset.offset_s == pytest.approx(8.0)
    assert 0.3 < offset.matched_share < 0.4
    # Unrelated hashes: nothing anywhere, so no margin makes a place.
    assert not find_offset(_random_hashes(100, 25.0, 3), source).found


def test_a_frame_landing_one_frame_across_a_cut_is_matched_with_its_neighbour() -> None:
    source = _random_hashes(100, 25.0, 4)
    # The suspect's frames are the source's 40-59, but timed 1 ms early (a rounded offset).
    suspect = FrameHashes(np.arange(20) / 25.0 - 0.001, source.bits[40:60].copy(), np.full(20, 100, np.int16))
    plain = source.shown_at(suspect.times + 1.6)
    assert (plain == np.arange(39, 59)).all()  # on screen 1 ms early: the frame before
    assert (landing_frames(suspect, source, 1.6, suspect.times) == np.arange(40, 60)).all()
    assert (landing_frames(suspect, source, 3.5, suspect.times)[-3:] == -1).all()  # past the source's end
