"""probe_video and iter_video_frames: PyAV decoding from memory, within limits, typed errors."""

from __future__ import annotations

import io
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from deepshield.media import (
    CorruptMedia,
    EmptyMedia,
    MediaError,
    MediaLimits,
    MediaTooLarge,
    UnsupportedMedia,
)
from deepshield.media.video import (
    MAX_FRAMES_AT,
    VideoFrame,
    iter_video_frames,
    iter_video_luma,
    probe_video,
    video_frames_at,
)
from factories import encode_audio_only_mp4, encode_synthetic_video, moving_scene_frames


def _can_encode(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:
        return False
    return True


def _container(container_format: str, codec: str, name: str):
    return pytest.param(
        container_format,
        codec,
        name,
        id=f"{name}-{codec}",
        marks=pytest.mark.skipif(not _can_encode(codec), reason=f"this FFmpeg build cannot encode {codec}"),
    )


CONTAINERS = [
    _container("mp4", "libx264", "mp4"),
    _container("mp4", "mpeg4", "mp4"),
    _container("mov", "libx264", "mov"),
    _container("webm", "libvpx", "webm"),
    _container("webm", "libvpx-vp9", "webm"),
    _container("matroska", "libx264", "mkv"),
]


@pytest.fixture(scope="module")
def mp4_video() -> bytes:
    """2 s of 64×48 H.264 at 25 fps: 50 frames."""
    return encode_synthetic_video("mp4", "libx264", fps=25, frame_count=50)


@pytest.mark.parametrize(("container_format", "codec", "name"), CONTAINERS)
def test_probe_reports_type_size_frame_rate_and_duration(limits, container_format, codec, name):
    data = encode_synthetic_video(container_format, codec, width=64, height=48, fps=25, frame_count=50)
    info = probe_video(data, limits)
    assert info.media_type.name == name
    assert (info.width, info.height) == (64, 48)
    assert info.frame_rate == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize(("container_format", "codec", "name"), CONTAINERS)
def test_every_frame_decodes_in_order_with_its_own_pixels(limits, container_format, codec, name):
    data = encode_synthetic_video(container_format, codec, fps=25, frame_count=30)
    sources = list(moving_scene_frames(30, 64, 48))
    frames = list(iter_video_frames(data, limits))
    assert [frame.number for frame in frames] == list(range(30))
    for frame in frames:
        assert isinstance(frame, VideoFrame)
        assert frame.pixels.shape == (48, 64, 3)
        assert frame.pixels.dtype == np.uint8
        # Each decoded frame is nearest to the source frame of the same number: no frame
        # is dropped, duplicated or shifted by the decoder's reordering.
        errors = [np.abs(frame.pixels.astype(np.int16) - source).mean() for source in sources]
        assert int(np.argmin(errors)) == frame.number


def test_probe_reads_a_non_default_frame_rate_and_length(limits):
    data = encode_synthetic_video("mp4", "libx264", width=96, height=64, fps=10, frame_count=30)
    info = probe_video(data, limits)
    assert (info.width, info.height) == (96, 64)
    assert info.frame_rate == pytest.approx(10.0)
    assert info.duration_s == pytest.approx(3.0, abs=0.1)


def test_probe_reads_an_ntsc_frame_rate_exactly(limits):
    data = encode_synthetic_video("mp4", "libx264", fps=Fraction(30000, 1001), frame_count=30)
    assert probe_video(data, limits).frame_rate == pytest.approx(30000 / 1001, rel=1e-9)


@pytest.mark.parametrize("every_nth", [1, 2, 7, 25, 49, 50, 100])
def test_every_nth_yields_frames_0_n_2n(limits, mp4_video, every_nth):
    numbers = [frame.number for frame in iter_video_frames(mp4_video, limits, every_nth=every_nth)]
    assert numbers == list(range(0, 50, every_nth))


def test_every_nth_frame_has_the_same_pixels_as_in_a_full_decode(limits, mp4_video):
    every_frame = {frame.number: frame.pixels for frame in iter_video_frames(mp4_video, limits)}
    for frame in iter_video_frames(mp4_video, limits, every_nth=10):
        np.testing.assert_array_equal(frame.pixels, every_frame[frame.number])


@pytest.mark.parametrize("container_format,codec,name", CONTAINERS)
def test_luma_frames_carry_their_times_and_the_frames_grey_reduced(limits, container_format, codec, name):
    data = encode_synthetic_video(container_format, codec, fps=25, frame_count=50)
    frames = list(iter_video_luma(data, limits, 16))
    assert [frame.number for frame in frames] == list(range(50))
    assert [frame.time_s for frame in frames] == pytest.approx([number / 25 for number in range(50)],
                                                               abs=1e-3)
    colour = [frame.pixels for frame in iter_video_frames(data, limits)]
    for frame in frames[::10]:
        assert frame.pixels.shape == (16, 16) and frame.pixels.dtype == np.uint8
        grey = colour[frame.number].astype(np.float32) @ np.float32([0.299, 0.587, 0.114])
        expected = grey.reshape(16, 3, 16, 4).mean(axis=(1, 3))  # 48×64 → 16×16 by area
        assert np.abs(frame.pixels - expected).mean() < 12  # studio-range luma against full-range grey


def test_frames_at_times_are_the_frames_on_screen_then_in_the_order_asked(limits, mp4_video):
    every_frame = {frame.number: frame.pixels for frame in iter_video_frames(mp4_video, limits)}
    times = [1.5, 0.0, 0.039, 0.041, 1.52, 1.98, 5.0]
    frames = video_frames_at(mp4_video, limits, times)
    assert [frame.time_s for frame in frames] == pytest.approx([1.48, 0.0, 0.0, 0.04, 1.52, 1.96, 1.96],
                                                               abs=1e-3)
    for frame in frames:
        number = round(frame.time_s * 25)
        np.testing.assert_array_equal(frame.pixels, every_frame[number])
    assert video_frames_at(mp4_video, limits, []) == []
    with pytest.raises(ValueError, match="at most"):
        video_frames_at(mp4_video, limits, [0.0] * (MAX_FRAMES_AT + 1))


def test_frames_at_times_larger_than_asked_are_read_scaled_down(limits):
    data = encode_synthetic_video("mp4", "libx264", width=640, height=480, fps=25, frame_count=20)
    small = video_frames_at(data, limits, [0.2, 0.5], max_pixels=100_000)
    for frame in small:
        height, width = frame.pixels.shape[:2]
        assert height * width <= 100_000 and abs(width / height - 640 / 480) < 0.02
    assert video_frames_at(data, limits, [0.2], max_pixels=640 * 480)[0].pixels.shape == (480, 640, 3)


def test_frames_at_times_after_a_seek_match_a_full_decode(limits):
    data = encode_synthetic_video("mp4", "libx264", fps=25, frame_count=750)  # 30 s, keyframes on the way
    every_frame = {frame.number: frame.pixels for frame in iter_video_frames(data, limits)}
    # Close times share one pass; far ones (beyond SEEK_GAP_S) get a seek each.
    times = [7.2, 9.0, 28.0, 1.0, 15.52]
    frames = video_frames_at(data, limits, times)
    assert [frame.time_s for frame in frames] == pytest.approx([7.2, 9.0, 28.0, 1.0, 15.52], abs=1e-3)
    for frame in frames:
        np.testing.assert_array_equal(frame.pixels, every_frame[round(frame.time_s * 25)])


@pytest.mark.parametrize("every_nth", [0, -1])
def test_every_nth_below_one_is_a_programming_error(limits, mp4_video, every_nth):
    with pytest.raises(ValueError, match="every_nth"):
        next(iter_video_frames(mp4_video, limits, every_nth=every_nth))


def test_stopping_early_closes_the_decoder_cleanly(limits, mp4_video):
    frames = iter_video_frames(mp4_video, limits)
    assert next(frames).number == 0
    assert next(frames).number == 1
    frames.close()
    # The same bytes decode again from the start afterwards.
    assert next(iter_video_frames(mp4_video, limits)).number == 0


def test_zero_length_video_is_refused_as_empty(limits):
    with pytest.raises(EmptyMedia):
        probe_video(b"", limits)
    with pytest.raises(EmptyMedia):
        next(iter_video_frames(b"", limits))


def test_mp4_cut_in_half_is_refused_as_corrupt(limits, mp4_video):
    half = mp4_video[: len(mp4_video) // 2]
    with pytest.raises(CorruptMedia) as caught:
        probe_video(half, limits)
    assert "MP4" in caught.value.detail
    assert "corrupt or truncated" in caught.value.detail
    with pytest.raises(CorruptMedia):
        list(iter_video_frames(half, limits))


def _moov_cuts(data: bytes, stride: int = 3) -> list[int]:
    """Cut points inside the MP4 index ('moov' atom), which PyAV's muxer writes last."""
    moov = data.index(b"moov") - 4
    return list(range(moov + 8, len(data), stride))


def _pyav_view(data: bytes) -> str:
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams:
                return "no streams"
            if container.streams.video and container.streams.video[0].codec_context is None:
                return "no codec"
            if not container.streams.video and all(s.codec_context is None for s in container.streams):
                return "unidentified track"
            return "ok"
    except Exception:
        return "unopenable"


def test_mp4_cut_anywhere_in_its_index_raises_only_media_errors(limits, mp4_video):
    """PyAV's muxer writes the index ('moov') last, so a cut upload loses it first."""
    outcomes = set()
    for cut in _moov_cuts(mp4_video):
        sample = mp4_video[:cut]
        try:
            probe_video(sample, limits)
            for _ in iter_video_frames(sample, limits):
                pass
        except MediaError as error:
            outcomes.add(type(error))
    assert CorruptMedia in outcomes


@pytest.mark.parametrize(
    "pyav_sees",
    [
        "no streams",
        "unidentified track",
        "no codec",
    ],
)
def test_mp4_with_a_cut_index_is_refused_as_corrupt_wherever_the_cut_falls(limits, mp4_video, pyav_sees):
    # Cut before the first track, PyAV opens the file with zero streams; cut early in the
    # track, with one stream of unknown type; cut later, with a video stream without codec.
    # None of these may pass for "no video track": the uploader's file is broken, not foreign.
    cuts = [cut for cut in _moov_cuts(mp4_video) if _pyav_view(mp4_video[:cut]) == pyav_sees]
    assert cuts, f"expected some cut points where PyAV sees {pyav_sees}"
    for cut in cuts:
        with pytest.raises(CorruptMedia) as caught:
            probe_video(mp4_video[:cut], limits)
        assert "MP4" in caught.value.detail
        assert "truncated or corrupt" in caught.value.detail
        with pytest.raises(CorruptMedia):
            next(iter_video_frames(mp4_video[:cut], limits))


@pytest.mark.parametrize(("container_format", "codec"), [("webm", "libvpx-vp9"), ("matroska", "libx264")])
def test_truncated_matroska_is_refused_or_decodes_a_clean_prefix(limits, container_format, codec):
    """Matroska has no index to lose: a cut file either fails cleanly or yields its first frames.

    FFmpeg reports a cut Matroska stream as an ordinary end of file, so DeepShield cannot
    always tell a truncated upload from a short one.
    """
    data = encode_synthetic_video(container_format, codec, frame_count=50)
    for fraction in (0.02, 0.1, 0.3, 0.6, 0.9):
        sample = data[: int(len(data) * fraction)]
        try:
            numbers = [frame.number for frame in iter_video_frames(sample, limits)]
        except MediaError as error:
            assert isinstance(error, CorruptMedia)
            continue
        assert numbers == list(range(len(numbers)))
        assert 0 < len(numbers) < 50


def test_random_bytes_behind_a_video_signature_are_refused_as_corrupt(limits):
    fake = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + np.random.default_rng(2).bytes(3000)
    with pytest.raises(CorruptMedia, match="MP4"):
        probe_video(fake, limits)
    fake_mkv = b"\x1a\x45\xdf\xa3" + np.random.default_rng(2).bytes(3000)
    with pytest.raises(MediaError):
        list(iter_video_frames(fake_mkv, limits))


def test_audio_only_file_is_refused_for_having_no_video_track(limits):
    audio = encode_audio_only_mp4()
    assert audio[4:8] == b"ftyp"
    with pytest.raises(UnsupportedMedia, match="no video track"):
        probe_video(audio, limits)
    with pytest.raises(UnsupportedMedia, match="no video track"):
        next(iter_video_frames(audio, limits))


def test_video_longer_than_the_duration_limit_is_refused(mp4_video):
    short_limit = MediaLimits(max_duration_s=1.5)
    with pytest.raises(MediaTooLarge) as caught:
        probe_video(mp4_video, short_limit)
    assert "lasts 2 s" in caught.value.detail
    with pytest.raises(MediaTooLarge):
        next(iter_video_frames(mp4_video, short_limit))


def test_video_exactly_at_the_duration_limit_is_accepted(mp4_video):
    limits = MediaLimits(max_duration_s=2.0)
    assert probe_video(mp4_video, limits).duration_s == pytest.approx(2.0)
    assert len(list(iter_video_frames(mp4_video, limits))) == 50


def test_video_with_more_frames_than_the_limit_is_stopped_at_the_limit(mp4_video):
    limits = MediaLimits(max_frames=10)
    seen = []
    with pytest.raises(MediaTooLarge) as caught:
        for frame in iter_video_frames(mp4_video, limits):
            seen.append(frame.number)
    assert seen == list(range(10))
    assert "10 frames" in caught.value.detail


def test_video_with_exactly_the_frame_limit_decodes_fully(mp4_video):
    assert len(list(iter_video_frames(mp4_video, MediaLimits(max_frames=50)))) == 50


def test_video_frames_over_the_pixel_limit_are_refused(mp4_video):
    limits = MediaLimits(max_video_frame_pixels=64 * 48 - 1)
    with pytest.raises(MediaTooLarge) as caught:
        probe_video(mp4_video, limits)
    assert "per frame" in caught.value.detail
    with pytest.raises(MediaTooLarge):
        next(iter_video_frames(mp4_video, limits))
    assert probe_video(mp4_video, MediaLimits(max_video_frame_pixels=64 * 48)).width == 64


def test_probe_refuses_a_video_over_max_video_bytes(mp4_video):
    with pytest.raises(MediaTooLarge) as caught:
        probe_video(mp4_video, MediaLimits(max_video_bytes=len(mp4_video) - 1))
    assert f"{len(mp4_video):,} bytes" in caught.value.detail


def test_iterating_frames_refuses_a_video_over_max_video_bytes(mp4_video):
    with pytest.raises(MediaTooLarge):
        next(iter_video_frames(mp4_video, MediaLimits(max_video_bytes=len(mp4_video) - 1)))


_DEADLOCK_CHILD = """
import sys
sys.path.insert(0, sys.argv[1])
from hostile.corpus import build_corpus
from deepshield.errors import DeepShieldError
from deepshield.media import MediaLimits
from deepshield.services.spread.hashing import hash_media

files = {item.name: item.data for item in build_corpus()}
corrupt = [files[name] for name in sorted(files) if name.startswith(("flipped-body-mp4", "zeroed-half-mp4",
                                                                     "bytes-replaced-mp4"))]
for _ in range(25):
    for data in corrupt:
        try:
            hash_media(data, MediaLimits())
        except DeepShieldError:
            pass
print("done", len(corrupt))
"""


def test_ffmpeg_logs_do_not_go_through_a_python_callback():
    """Any log level but None makes PyAV install a log callback that FFmpeg's frame-decoding
    threads call; it waits for the GIL while the thread that closes a failed decoder holds the
    GIL and waits for those threads: a corrupt video then hangs the process for good."""
    import deepshield.media.video  # noqa: F401  (sets the level on import)

    assert av.logging.get_level() is None


def test_corrupt_videos_decoded_again_and_again_never_deadlock(tmp_path):
    """A corrupt MP4 whose decoder fails under frame threading used to hang the process for good
    (FFmpeg's log reached Python through a callback that waited for the GIL, held by the thread
    closing the decoder). Runs in a child process, so that a hang fails instead of stalling. The
    hang is a race: on an idle machine it came within a few decodes; under load it may not come."""
    tests = Path(__file__).resolve().parents[1]
    try:
        done = subprocess.run([sys.executable, "-c", _DEADLOCK_CHILD, str(tests)], capture_output=True,
                              text=True, timeout=90, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("decoding corrupt videos hung (the FFmpeg log callback deadlock)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("done ") and int(done.stdout.split()[1]) >= 9, done.stdout
