"""``compare_with_source`` on videos: a re-encoded excerpt with a region replaced is placed in its
source and its frames outlined; an unrelated video is not derived; a still is found among a source
video's frames; a video against a picture is refused in words. Real H.264 files, made here."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from comparison_videos import CENTRE, HEIGHT, WIDTH, excerpt, replaced, scenes_of, source_frame
from comparison_videos import source_video as make_source_video
from deepshield.forensics import Outcome
from deepshield.media.errors import UnsupportedMedia
from deepshield.services.context import ServiceContext
from deepshield.services.verify.source_comparison import compare_with_source
from deepshield.store import audit_repository
from factories import encode_image, textured_pixels


@pytest.fixture(scope="module")
def scenes() -> list[np.ndarray]:
    return scenes_of(40)


@pytest.fixture(scope="module")
def source_video(scenes: list[np.ndarray]) -> bytes:
    return make_source_video(scenes)


def test_an_excerpt_at_another_frame_rate_with_a_region_replaced_is_placed_and_outlined(
        ctx: ServiceContext, scenes, source_video: bytes) -> None:
    suspect = excerpt(scenes, 2.0, 4.0, 15, edit=True)
    result = compare_with_source(ctx, suspect, source_video, principal=None, suspect_name="clip.mp4",
                                 source_name="original.mp4")
    assert result.is_video and result.outcome is Outcome.DERIVED_LOCAL_DIFFERENCE
    video = result.comparison
    assert video.offset.found and video.offset.offset_s == pytest.approx(2.0, abs=0.1 + 1e-6)
    assert len(video.frames) == 12 and len(video.differing) >= 10
    for frame in video.differing:
        assert frame.source_time_s == pytest.approx(frame.suspect_time_s + 2.0, abs=0.1 + 1e-6)
        x, y, width, height = max(frame.comparison.regions, key=lambda region: region.area).box
        # The ellipse at the suspect's scale (0.75): the box holds its centre.
        assert x < CENTRE[0] * 0.75 < x + width and y < CENTRE[1] * 0.75 < y + height
    assert result.summary.startswith("This file matches the source (original.mp4) frame for frame from "
                                     "0:02.0 to 0:06.0 of the source, except in the outlined regions of")
    assert "fake" not in result.summary and "real" not in result.summary
    figure = result.figure_png()
    assert figure is not None and Image.open(io.BytesIO(figure)).format == "PNG"
    assert result.mask_png() is None
    body = result.to_dict()
    assert body["kind"] == "video" and body["numbers"]["frames_compared"] == 12
    assert any("frame rate" in limit for limit in body["limits"])
    with ctx.store.transaction() as session:
        events = [e for e in audit_repository.recent_events(session) if e.action == "forensics.compare"]
    assert '"kind": "video"' in events[0].detail
    assert '"outcome": "derived_local_difference"' in events[0].detail


def test_an_unedited_excerpt_is_the_same_footage_with_no_region(ctx: ServiceContext, scenes,
                                                                   source_video: bytes) -> None:
    suspect = excerpt(scenes, 3.3, 3.0, 10, edit=False)
    result = compare_with_source(ctx, suspect, source_video, principal=None)
    assert result.outcome is Outcome.DERIVED_NO_DIFFERENCE, result.comparison.reason
    assert result.comparison.offset.offset_s == pytest.approx(3.3, abs=0.1 + 1e-6)
    assert "no region of the" in result.summary


def test_an_unrelated_video_is_not_derived_from_the_source(ctx: ServiceContext, source_video: bytes) -> None:
    other = excerpt(scenes_of(70), 0.0, 4.0, 10, edit=False, scale=1.0)
    result = compare_with_source(ctx, other, source_video, principal=None)
    assert result.outcome is Outcome.NOT_DERIVED, result.comparison.reason
    assert "says nothing about any other source" in result.summary


def test_a_still_is_found_among_the_source_videos_frames(ctx: ServiceContext, scenes,
                                                         source_video: bytes) -> None:
    still = replaced(source_frame(5.0, scenes), textured_pixels(99, WIDTH, HEIGHT))
    result = compare_with_source(ctx, encode_image(still, "JPEG", quality=85), source_video, principal=None,
                                 source_name="original.mp4")
    assert not result.is_video and result.outcome is Outcome.DERIVED_LOCAL_DIFFERENCE
    assert result.source_time_s == pytest.approx(5.0, abs=0.1 + 1e-6)
    assert "original.mp4, its frame at 0:05.0" in result.summary
    assert result.to_dict()["source_time_s"] == pytest.approx(5.0, abs=0.1 + 1e-6)


def test_a_video_against_a_picture_is_refused_in_words(ctx: ServiceContext, scenes,
                                                       source_video: bytes) -> None:
    picture = encode_image(source_frame(1.0, scenes), "PNG")
    with pytest.raises(UnsupportedMedia, match="compare a frame of the video"):
        compare_with_source(ctx, source_video, picture, principal=None)
