"""Fuzz video probing and decoding: ``deepshield.media.video.probe_video`` and
``iter_video_frames`` (PyAV/FFmpeg under the project's checks), then vPDQ as the hashing path does.

Limits are small (1 MiB, 64 frames, 60 s) so that each run is quick; the checks are the same.
"""

from __future__ import annotations

from _common import instrumented

with instrumented():
    from deepshield.media.limits import MediaLimits
    from deepshield.media.video import iter_video_frames, probe_video
    from deepshield.signals.vpdq import vpdq_from_video

from _common import main

LIMITS = MediaLimits(max_video_bytes=1024 * 1024, max_frames=64, max_duration_s=60.0,
                     max_video_frame_pixels=640 * 480)


def target(data: bytes) -> None:
    info = probe_video(data, LIMITS)
    assert info.width > 0 and info.height > 0
    for frame in iter_video_frames(data, LIMITS, every_nth=4):
        assert frame.pixels.ndim == 3
    vpdq_from_video(data, LIMITS)


def seeds() -> list[bytes]:
    import io
    from fractions import Fraction

    import av
    import numpy as np

    found = []
    rng = np.random.default_rng(3)
    for container, codec in (("mp4", "mpeg4"), ("webm", "libvpx"), ("matroska", "mpeg4"), ("mov", "mpeg4")):
        buffer = io.BytesIO()
        try:
            with av.open(buffer, mode="w", format=container) as output:
                stream = output.add_stream(codec, rate=Fraction(5))
                stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
                for _ in range(6):
                    pixels = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
                    for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                        output.mux(packet)
                for packet in stream.encode():
                    output.mux(packet)
        except (av.FFmpegError, ValueError):
            continue
        found.append(buffer.getvalue())
    return found


if __name__ == "__main__":
    main(target, seeds)
