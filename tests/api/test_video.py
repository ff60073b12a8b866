"""Video over HTTP: a helpline banks a clip by upload, a platform matches copies of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from deepshield.services.access import Role
from factories import encode_video, scene_video_frames

BANK = "videos"
FPS = 10


@dataclass(frozen=True)
class Clips:
    original_mp4: bytes
    reencoded_webm: bytes  # VP8 in WebM: another codec and container
    resized_mp4: bytes  # H.264 at twice the size
    unrelated_mp4: bytes


@pytest.fixture(scope="module")
def clips() -> Clips:
    frames = scene_video_frames(41, 4, FPS)
    doubled = [np.asarray(Image.fromarray(frame).resize((320, 240))) for frame in frames]
    return Clips(
        original_mp4=encode_video(frames, FPS, "mp4", "mpeg4"),
        reencoded_webm=encode_video(frames, FPS, "webm", "libvpx"),
        resized_mp4=encode_video(doubled, FPS, "mp4", "h264"),
        unrelated_mp4=encode_video(scene_video_frames(42, 4, FPS), FPS, "mp4", "mpeg4"),
    )


@pytest.fixture
def banked_video(api, clips) -> int:
    """The id of the original clip's vPDQ entry."""
    api.create_bank(BANK)
    response = api.upload(f"/v1/banks/{BANK}/entries", clips.original_mp4, Role.HELPLINE,
                          filename="clip.mp4")
    assert response.status_code == 201, response.text
    entries = {entry["signal_type"]: entry for entry in response.json()["entries"]}
    assert set(entries) == {"vpdq", "md5", "sha256"}
    assert entries["vpdq"]["quality"] is not None
    return entries["vpdq"]["id"]


def _vpdq_match(matches: list[dict], entry_id: int) -> dict:
    found = [m for m in matches if m["entry_id"] == entry_id]
    assert found, f"no match for vPDQ entry {entry_id} in {matches}"
    match = found[0]
    assert match["bank"] == BANK and match["signal_type"] == "vpdq" and match["variant"] == "frames"
    assert match["query_match_pct"] is not None and match["compared_match_pct"] is not None
    assert match["distance"] <= 31
    return match


def test_hashing_a_video_upload_returns_its_vpdq_frames(api, clips):
    response = api.upload("/v1/hash", clips.original_mp4, Role.PLATFORM, filename="clip.mp4")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "video" and body["format"] == "mp4" and body["pdq"] is None
    assert body["duration_s"] == pytest.approx(4.0, abs=0.2)
    assert len(body["vpdq"]) == 4
    assert [frame["timestamp"] for frame in body["vpdq"]] == pytest.approx([0.0, 1.0, 2.0, 3.0])


def test_the_same_video_matches_by_vpdq_and_exact_digests(api, clips, banked_video):
    matches = api.match_upload(clips.original_mp4)
    match = _vpdq_match(matches, banked_video)
    assert match["query_match_pct"] == 100.0 and match["compared_match_pct"] == 100.0
    assert {m["signal_type"] for m in matches} == {"vpdq", "md5", "sha256"}


@pytest.mark.parametrize("copy", ["reencoded_webm", "resized_mp4"])
def test_a_reencoded_copy_matches_by_vpdq(api, clips, banked_video, copy):
    matches = api.match_upload(getattr(clips, copy))
    match = _vpdq_match(matches, banked_video)
    assert match["query_match_pct"] >= 80.0
    assert {m["signal_type"] for m in matches} == {"vpdq"}, "a re-encoded file has other digests"


def test_vpdq_frames_sent_as_json_match_like_an_upload(api, clips, banked_video):
    frames = api.upload("/v1/hash", clips.reencoded_webm, Role.PLATFORM).json()["vpdq"]
    lines = "\n".join(f"{f['frame_number']},{f['quality']},{f['pdq_hex']},{f['timestamp']:.3f}"
                      for f in frames)
    matches = api.match_signals([{"type": "vpdq", "value": lines}])
    assert [m["entry_id"] for m in matches] == [banked_video]
    _vpdq_match(matches, banked_video)


def test_an_unrelated_video_matches_nothing(api, clips, banked_video):
    assert api.match_upload(clips.unrelated_mp4) == []


def test_a_withdrawn_video_stops_matching(api, clips, banked_video):
    response = api.client.delete(f"/v1/banks/{BANK}/entries/{banked_video}",
                                 headers=api.headers(Role.HELPLINE))
    assert response.status_code == 200, response.text
    assert all(m["signal_type"] != "vpdq" for m in api.match_upload(clips.reencoded_webm))
