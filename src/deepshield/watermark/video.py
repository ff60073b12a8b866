"""The watermark in video: every frame marked, evidence combined across frames to detect.

Embedding decodes the video with PyAV, marks each frame, and re-encodes the video
track (H.264 in MP4, MOV and MKV; VP9 in WebM). Audio and other tracks are copied
packet for packet, and container and stream metadata are kept. Detection averages
the analysis planes of frames spread over the clip: the mark sits still while the
picture moves, so it adds up and the picture averages out.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from fractions import Fraction

import av
import numpy as np

from deepshield.media import MediaLimits
from deepshield.media.errors import CorruptMedia, MediaTooLarge
from deepshield.media.sniff import sniff_media_type
from deepshield.media.video import iter_video_frames, probe_video
from deepshield.watermark.analysis import MIN_DETECT_SHORT_SIDE
from deepshield.watermark.detection import Detection, analysis_plane, detect_in_plane
from deepshield.watermark.embedding import check_image, embed
from deepshield.watermark.keys import PUBLIC_KEY, WatermarkKey

#: Frames averaged for detection: enough to average the picture out, few enough to be quick.
DETECTION_FRAMES = 30
#: Video is seen in motion and is compressed harder than photos: an RMS change of 3 levels
#: (about 38.6 dB) is what survives H.264 at CRF 28 on 2-second clips.
VIDEO_STRENGTH = 3.0
_MARKING_THREADS = 2
_QUEUE_FRAMES = 4
_ENCODERS = {"mp4": ("mp4", "libx264"), "mov": ("mov", "libx264"), "mkv": ("matroska", "libx264"),
             "webm": ("webm", "libvpx-vp9")}


def embed_video(data: bytes, payload: int, limits: MediaLimits, *, key: WatermarkKey = PUBLIC_KEY,
                slot: int = 0, strength: float = VIDEO_STRENGTH, crf: int = 18,
                before_marking: Callable[[float, np.ndarray], np.ndarray] | None = None) -> bytes:
    """Return the video with every frame carrying ``payload`` under ``key`` (in ``slot``: every
    frame the same slot); other tracks and metadata kept.

    ``before_marking(seconds, pixels)``, if given, edits each frame (at its presentation time)
    before the watermark goes in: a visible label at the start, for example.
    """
    info = probe_video(data, limits)
    container_format, codec = _ENCODERS[info.media_type.name]
    output_buffer = io.BytesIO()
    try:
        with av.open(io.BytesIO(data)) as source, \
                av.open(output_buffer, mode="w", format=container_format) as target:
            target.metadata.update(source.metadata)
            video_in = source.streams.video[0]
            rate = video_in.average_rate or video_in.base_rate or Fraction(info.frame_rate)
            video_out = target.add_stream(codec, rate=rate)
            video_out.width, video_out.height = info.width, info.height
            video_out.pix_fmt = "yuv420p"
            video_out.options = {"crf": str(crf), **({"preset": "superfast"}
                                                     if codec == "libx264" else {"b:v": "0"})}
            video_out.metadata.update(video_in.metadata)
            copied = {}
            for stream in source.streams:
                if stream.type in ("audio", "subtitle") and stream is not video_in:
                    copied[stream.index] = target.add_stream_from_template(stream)
            # Frames are marked on a worker thread (OpenCV and numpy release the GIL) while
            # this thread decodes and encodes; a short queue keeps memory bounded and order kept.
            pending: deque[tuple[Future[np.ndarray], av.VideoFrame]] = deque()

            def encode_oldest() -> None:
                marked, decoded = pending.popleft()
                frame = av.VideoFrame.from_ndarray(marked.result(), format="rgb24")
                frame.pts, frame.time_base = decoded.pts, decoded.time_base
                for encoded in video_out.encode(frame):
                    target.mux(encoded)

            frame_count = 0
            with ThreadPoolExecutor(max_workers=_MARKING_THREADS) as pool:
                for packet in source.demux([video_in, *[s for s in source.streams
                                                        if s.index in copied]]):
                    if packet.stream.index in copied:
                        if packet.dts is not None:
                            packet.stream = copied[packet.stream.index]
                            target.mux(packet)
                        continue
                    for decoded in packet.decode():
                        frame_count += 1
                        if frame_count > limits.max_frames:
                            raise MediaTooLarge(f"the video has more than {limits.max_frames:,} "
                                                "frames, past the frame limit")
                        pixels = decoded.to_ndarray(format="rgb24")
                        check_image(pixels)
                        if before_marking is not None:
                            seconds = float(decoded.time) if decoded.time is not None else \
                                (frame_count - 1) / float(rate)
                            pixels = before_marking(seconds, pixels)
                        pending.append((pool.submit(embed, pixels, payload, key=key, slot=slot,
                                                                strength=strength),
                                        decoded))
                        if len(pending) > _QUEUE_FRAMES:
                            encode_oldest()
                while pending:
                    encode_oldest()
            for encoded in video_out.encode():
                target.mux(encoded)
    except av.error.FFmpegError as exc:
        raise CorruptMedia(f"the video could not be re-encoded: {exc}") from exc
    return output_buffer.getvalue()


def detect_video(data: bytes, limits: MediaLimits,
                 keys: Sequence[WatermarkKey] = (PUBLIC_KEY,)) -> Detection:
    """Look for the watermarks of ``keys`` in a video by averaging evenly spread frames."""
    sniff_media_type(data[:64])
    info = probe_video(data, limits)
    total = int((info.duration_s or 0) * info.frame_rate) or DETECTION_FRAMES
    step = max(1, total // DETECTION_FRAMES)
    planes = []
    for frame in iter_video_frames(data, limits, every_nth=step):
        check_image(frame.pixels, MIN_DETECT_SHORT_SIDE)
        planes.append(analysis_plane(frame.pixels))
        if len(planes) >= DETECTION_FRAMES:
            break
    if not planes:
        raise CorruptMedia("the video holds no frames to examine")
    return detect_in_plane(np.mean(planes, axis=0), keys)
