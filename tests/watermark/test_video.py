import io
from fractions import Fraction

import av
import numpy as np
import pytest

from deepshield.errors import InvalidRequest
from deepshield.media import MediaLimits
from deepshield.services.label.watermarking import detect_watermark, embed_watermark
from deepshield.watermark.video import detect_video, embed_video
from factories import encode_video, photo_pixels

PAYLOAD = 0x5EC0DE5EC0DE0001
LIMITS = MediaLimits()


def _panning_clip(seconds: int = 3, fps: int = 10, size: tuple[int, int] = (384, 288),
                  with_audio: bool = True) -> bytes:
    """A clip that pans across a photo, with a sine tone and a title, encoded with H.264."""
    width, height = size
    scene = photo_pixels(80, width + 4 * seconds * fps, height)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        output.metadata["title"] = "panning test clip"
        video = output.add_stream("libx264", rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = output.add_stream("aac", rate=16000) if with_audio else None
        if audio is not None:
            audio.layout = "mono"
        for index in range(seconds * fps):
            frame = np.ascontiguousarray(scene[:, 4 * index: 4 * index + width])
            for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                output.mux(packet)
        for packet in video.encode():
            output.mux(packet)
        if audio is not None:
            tone = np.sin(np.arange(16000 * seconds) / 7).astype(np.float32)
            for start in range(0, len(tone) - 1024, 1024):
                samples = av.AudioFrame.from_ndarray(tone[start:start + 1024].reshape(1, -1),
                                                     format="fltp", layout="mono")
                samples.sample_rate, samples.pts = 16000, start
                for packet in audio.encode(samples):
                    output.mux(packet)
            for packet in audio.encode():
                output.mux(packet)
    return buffer.getvalue()


def _reencode(data: bytes, crf: int) -> bytes:
    buffer = io.BytesIO()
    with av.open(io.BytesIO(data)) as source, av.open(buffer, mode="w", format="mp4") as target:
        video_in = source.streams.video[0]
        video_out = target.add_stream("libx264", rate=video_in.average_rate)
        video_out.width, video_out.height = video_in.codec_context.width, video_in.codec_context.height
        video_out.pix_fmt, video_out.options = "yuv420p", {"crf": str(crf)}
        for frame in source.decode(video_in):
            image = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            for packet in video_out.encode(image):
                target.mux(packet)
        for packet in video_out.encode():
            target.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clip() -> bytes:
    return _panning_clip()


@pytest.fixture(scope="module")
def marked_clip(clip) -> bytes:
    return embed_video(clip, PAYLOAD, LIMITS)


def test_every_frame_is_marked_and_audio_metadata_and_timing_are_kept(clip, marked_clip):
    with av.open(io.BytesIO(clip)) as before, av.open(io.BytesIO(marked_clip)) as after:
        assert [s.type for s in after.streams] == ["video", "audio"]
        assert after.metadata.get("title") == "panning test clip"
        assert after.streams.video[0].average_rate == before.streams.video[0].average_rate
        frames_before = sum(1 for _ in before.decode(video=0))
        frames_after = sum(1 for _ in after.decode(video=0))
        assert frames_after == frames_before == 30
    # Audio is copied packet for packet, untouched.
    with av.open(io.BytesIO(clip)) as before, av.open(io.BytesIO(marked_clip)) as after:
        audio_before = [bytes(p) for p in before.demux(audio=0) if p.size]
        audio_after = [bytes(p) for p in after.demux(audio=0) if p.size]
        assert audio_before and audio_after == audio_before


def test_the_payload_is_read_from_the_video_and_after_recompression(marked_clip):
    assert detect_video(marked_clip, LIMITS).payload == PAYLOAD
    recompressed = detect_video(_reencode(marked_clip, 28), LIMITS)
    assert recompressed.found and recompressed.payload == PAYLOAD


def test_an_unmarked_video_is_reported_unmarked(clip):
    assert not detect_video(clip, LIMITS).found


def test_videos_go_through_the_service_and_keep_their_container(clip):
    marked = embed_watermark(clip, f"{PAYLOAD:016x}", ".mp4", LIMITS)
    report = detect_watermark(marked, LIMITS)
    assert report.found and report.payload_hex == f"{PAYLOAD:016x}"
    with pytest.raises(InvalidRequest, match="keeps its container"):
        embed_watermark(clip, f"{PAYLOAD:016x}", ".png", LIMITS)


def test_videos_too_small_for_the_mark_are_refused():
    small = encode_video([photo_pixels(81, 176, 144)] * 5, fps=5)
    with pytest.raises(InvalidRequest, match="at least 256"):
        embed_watermark(small, f"{PAYLOAD:016x}", ".mp4", LIMITS)
    tiny = encode_video([photo_pixels(82, 112, 96)] * 5, fps=5)
    with pytest.raises(InvalidRequest, match="at least 128"):
        detect_watermark(tiny, LIMITS)
    assert not detect_watermark(small, LIMITS).found
