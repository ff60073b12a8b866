"""vPDQ: frame selection, timestamps, hashes, the reference's text form and JSON form."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import pytest

from deepshield.errors import InvalidSignal
from deepshield.media import MediaLimits, MediaTooLarge
from deepshield.media.video import iter_video_frames
from deepshield.signals.pdq import pdq_from_pixels
from deepshield.signals.vpdq import (
    MAX_VPDQ_FRAMES,
    VpdqFeature,
    frame_step,
    parse_vpdq,
    serialize_vpdq,
    unique_good_frames,
    vpdq_from_video,
)
from factories import encode_synthetic_video

HEX_A = "a" * 64
HEX_B = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"
HEX_C = "0" * 63 + "1"


@pytest.fixture(scope="module")
def video_25fps_4s() -> bytes:
    """4 s of 128×96 H.264 at 25 fps (100 frames), a new scene every 10 frames."""
    return encode_synthetic_video("mp4", "libx264", width=128, height=96, fps=25, frame_count=100)


@pytest.mark.parametrize(
    ("frame_rate", "seconds", "expected"),
    [
        (25.0, 1.0, 25),
        (30.0, 0.5, 15),
        (10.0, 2.0, 20),
        (30000 / 1001, 1.0, 29),  # the reference truncates 29.97 to 29, it does not round
        (24000 / 1001, 1.0, 23),
        (15.0, 0.5, 7),  # 7.5 truncated, not rounded half to even (8)
        (0.5, 1.0, 1),  # slower than one frame per second: every frame
    ],
)
def test_frame_step_truncates_fps_times_seconds_like_the_reference(frame_rate, seconds, expected):
    assert frame_step(frame_rate, seconds) == expected


def test_vpdq_of_a_25fps_4s_video_hashes_frames_0_25_50_75_at_seconds_0_1_2_3(limits, video_25fps_4s):
    features = vpdq_from_video(video_25fps_4s, limits)
    assert [feature.frame_number for feature in features] == [0, 25, 50, 75]
    assert [feature.timestamp for feature in features] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert all(isinstance(feature, VpdqFeature) for feature in features)


def test_vpdq_hashes_are_the_pdq_of_the_decoded_frames(limits, video_25fps_4s):
    features = vpdq_from_video(video_25fps_4s, limits)
    decoded = {frame.number: frame.pixels for frame in iter_video_frames(video_25fps_4s, limits)}
    for feature in features:
        expected = pdq_from_pixels(decoded[feature.frame_number])
        assert feature.pdq_hex == expected.hex
        assert feature.quality == expected.quality
    # The scenes differ, so do the hashes; the generated scenes are detailed enough to keep.
    assert len({feature.pdq_hex for feature in features}) == 4
    assert all(feature.quality >= 50 for feature in features)


def test_vpdq_seconds_per_hash_sets_the_spacing(limits, video_25fps_4s):
    every_two = vpdq_from_video(video_25fps_4s, limits, seconds_per_hash=2.0)
    assert [feature.frame_number for feature in every_two] == [0, 50]
    twice_a_second = vpdq_from_video(video_25fps_4s, limits, seconds_per_hash=0.5)
    assert [feature.frame_number for feature in twice_a_second] == list(range(0, 100, 12))


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_vpdq_refuses_a_non_positive_spacing(limits, video_25fps_4s, seconds):
    with pytest.raises(ValueError, match="seconds_per_hash"):
        vpdq_from_video(video_25fps_4s, limits, seconds_per_hash=seconds)


def test_vpdq_of_an_ntsc_video_hashes_every_29th_frame_with_exact_timestamps(limits):
    data = encode_synthetic_video("mp4", "libx264", fps=Fraction(30000, 1001), frame_count=90)
    features = vpdq_from_video(data, limits)
    assert [feature.frame_number for feature in features] == [0, 29, 58, 87]
    expected = [number * 1001 / 30000 for number in (0, 29, 58, 87)]
    assert [feature.timestamp for feature in features] == pytest.approx(expected, abs=1e-5)


def test_vpdq_applies_the_media_limits(video_25fps_4s):
    with pytest.raises(MediaTooLarge):
        vpdq_from_video(video_25fps_4s, MediaLimits(max_duration_s=3.0))
    with pytest.raises(MediaTooLarge):
        vpdq_from_video(video_25fps_4s, MediaLimits(max_video_bytes=100))


def _features() -> list[VpdqFeature]:
    return [
        VpdqFeature(0, 100, HEX_A, 0.0),
        VpdqFeature(25, 87, HEX_B, 1.0),
        VpdqFeature(50, 12, HEX_C, 2.0),
        VpdqFeature(75, 100, HEX_A, 3.0),
    ]


def test_serialized_form_is_the_references_text_lines():
    text = serialize_vpdq(_features()[:2])
    assert text == f"0,100,{HEX_A},0.000\n25,87,{HEX_B},1.000"


def test_serialized_timestamps_have_three_decimals():
    text = serialize_vpdq([VpdqFeature(29, 100, HEX_A, 29 / (30000 / 1001))])
    assert text.endswith(",0.968")


def test_text_form_round_trips():
    features = _features()
    assert parse_vpdq(serialize_vpdq(features)) == features


def test_text_form_with_unrounded_timestamps_round_trips_to_the_same_text():
    features = [VpdqFeature(n, 99, HEX_B, n / (30000 / 1001)) for n in (0, 29, 58)]
    text = serialize_vpdq(features)
    parsed = parse_vpdq(text)
    assert serialize_vpdq(parsed) == text
    for before, after in zip(features, parsed, strict=True):
        assert after.frame_number == before.frame_number
        assert after.timestamp == pytest.approx(before.timestamp, abs=5e-4)


def test_text_form_tolerates_blank_lines_spaces_and_uppercase_hex():
    text = f"\n 0,100,{HEX_B.upper()},0.000 \r\n\n25,87,{HEX_A},1.000\n"
    assert [feature.pdq_hex for feature in parse_vpdq(text)] == [HEX_B, HEX_A]


def test_json_form_round_trips():
    features = _features()
    as_json = json.dumps([dataclasses.asdict(feature) for feature in features])
    assert parse_vpdq(as_json) == features


def test_json_form_accepts_hash_for_pdq_hex_and_numbers_frames_by_position():
    as_json = json.dumps([
        {"hash": HEX_A, "quality": 90, "timestamp": 0},
        {"hash": HEX_B, "quality": 80, "timestamp": 1.5},
    ])  # fmt: skip
    assert parse_vpdq(as_json) == [VpdqFeature(0, 90, HEX_A, 0.0), VpdqFeature(1, 80, HEX_B, 1.5)]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("   \n  ", "empty"),
        (f"0,100,{HEX_A},0.000\n25,100,{HEX_A}", "line 2"),
        (f"0,100,{HEX_A},0.000\n25,100,{HEX_A},1.0,extra", "line 2"),
        (f"0,100,{HEX_A},0.000\n\nx,100,{HEX_A},1.0", "line 3"),
        (f"0,100,{HEX_A},0.000\n25,high,{HEX_A},1.0", "line 2"),
        (f"0,100,{HEX_A},zero", "line 1"),
        (f"0,101,{HEX_A},0.0", "line 1"),
        (f"0,-1,{HEX_A},0.0", "line 1"),
        (f"-5,100,{HEX_A},0.0", "line 1"),
        (f"0,100,{HEX_A},-0.5", "line 1"),
        (f"0,100,{HEX_A},nan", "line 1"),
    ],
)
def test_text_form_errors_name_the_bad_line(text, says):
    with pytest.raises(InvalidSignal) as caught:
        parse_vpdq(text)
    assert says in caught.value.detail


@pytest.mark.parametrize("bad_hash", ["abc", "g" * 64], ids=["too-short", "non-hex"])
def test_text_form_error_for_a_bad_hash_names_the_line(bad_hash):
    with pytest.raises(InvalidSignal, match="line 2"):
        parse_vpdq(f"0,100,{HEX_A},0.000\n25,100,{bad_hash},1.000")


def test_text_form_refuses_an_infinite_timestamp():
    with pytest.raises(InvalidSignal):
        parse_vpdq(f"0,100,{HEX_A},inf")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[not json", "not valid JSON"),
        ("[1, 2]", "frame 0"),
        (json.dumps([{"pdq_hex": HEX_A, "timestamp": 0}]), "frame 0"),
        (
            json.dumps(
                [{"pdq_hex": HEX_A, "quality": 100, "timestamp": 0}, {"pdq_hex": HEX_A, "quality": 100}]
            ),
            "frame 1",
        ),
        (json.dumps([{"pdq_hex": HEX_A, "quality": "x", "timestamp": 0}]), "frame 0"),
        (json.dumps([{"pdq_hex": HEX_A, "quality": None, "timestamp": 0}]), "frame 0"),
        ("[]", "no frames"),
    ],
)
def test_json_form_errors_name_the_bad_frame(text, says):
    with pytest.raises(InvalidSignal) as caught:
        parse_vpdq(text)
    assert says in caught.value.detail


def test_json_form_must_be_a_list():
    with pytest.raises(InvalidSignal):
        parse_vpdq(json.dumps({"frames": []}))


def test_parse_refuses_more_frames_than_the_maximum():
    line = f"0,100,{HEX_A},0.000\n"
    with pytest.raises(InvalidSignal, match="more than"):
        parse_vpdq(line * (MAX_VPDQ_FRAMES + 1))


def test_unique_good_frames_drops_low_quality_and_keeps_the_first_of_each_hash():
    unique = unique_good_frames(_features(), min_quality=50)
    assert unique == [VpdqFeature(0, 100, HEX_A, 0.0), VpdqFeature(25, 87, HEX_B, 1.0)]


def test_unique_good_frames_keeps_frames_exactly_at_the_minimum_quality():
    features = [VpdqFeature(0, 50, HEX_A, 0.0), VpdqFeature(1, 49, HEX_B, 1.0)]
    assert unique_good_frames(features, min_quality=50) == features[:1]


def test_unique_good_frames_of_nothing_is_nothing():
    assert unique_good_frames([], min_quality=50) == []
    assert unique_good_frames([VpdqFeature(0, 10, HEX_A, 0.0)], min_quality=50) == []
