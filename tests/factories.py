"""Media made at test time: photo-like images and small videos. Tests never read ../shared."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def photo_pixels(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """A photo-like RGB image: a smooth gradient with soft shapes, distinct for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([
        127 + 100 * np.sin(x / width * rng.uniform(1, 6) + rng.uniform(0, 6)),
        127 + 100 * np.cos(y / height * rng.uniform(1, 6) + rng.uniform(0, 6)),
        127 + 100 * np.sin((x + y) / (width + height) * rng.uniform(1, 6)),
    ], axis=-1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(max(1, width // 16), max(2, width // 3)))  # tiny images too
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x0 + size, y0 + size], fill=colour)
        else:
            draw.rectangle([x0, y0, x0 + size, y0 + size // 2], fill=colour)
    return np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)))


def textured_pixels(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """``photo_pixels`` with a fine grain on top (soft noise of about 12 levels), so that local
    features (SIFT) find as much to hold on to as in a photo."""
    rng = np.random.default_rng(seed + 10_000)
    grain = rng.normal(0, 1, (height // 2 + 1, width // 2 + 1)).astype(np.float32)
    grain = np.asarray(Image.fromarray(grain, mode="F").resize((width, height), Image.Resampling.BICUBIC))
    textured = photo_pixels(seed, width, height) + 12 * grain[..., None]
    return np.clip(textured + 0.5, 0, 255).astype(np.uint8)


def crop_at(pixels: np.ndarray, keep: float, top: float, left: float) -> np.ndarray:
    """The part of ``pixels`` keeping ``keep`` of each side, placed at ``top`` and ``left`` (0: at
    the top or left edge, 1: at the bottom or right edge, of the room the crop leaves)."""
    height, width = pixels.shape[:2]
    kept_h, kept_w = round(height * keep), round(width * keep)
    y, x = round((height - kept_h) * top), round((width - kept_w) * left)
    return np.ascontiguousarray(pixels[y:y + kept_h, x:x + kept_w])


def encode_image(image: Image.Image | np.ndarray, fmt: str = "JPEG", **options: object) -> bytes:
    """``image`` saved by Pillow in ``fmt`` (JPEG, PNG, WEBP...), as bytes."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def encode_video(frames: list[np.ndarray], fps: int = 10, container: str = "mp4",
                 codec: str = "mpeg4", options: dict[str, str] | None = None) -> bytes:
    """Encode RGB frames into a video file in memory (``options``: the encoder's, e.g. a CRF)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        if options:
            stream.options = options
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def scene_video_frames(seed: int, seconds: int, fps: int = 10, width: int = 160,
                       height: int = 120) -> list[np.ndarray]:
    """Frames of a video whose scene changes every second (so each hashed frame differs)."""
    frames = []
    for second in range(seconds):
        scene = photo_pixels(seed * 1000 + second, width, height)
        frames.extend([scene] * fps)
    return frames


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB image: gradients plus a few flat shapes, lightly blurred.

    Not noise: PDQ needs low-frequency structure to give a high-quality hash.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    red_slope, green_slope = rng.uniform(0.3, 1.0, 2)
    canvas = np.zeros((height, width, 3))
    canvas[..., 0] = 255 * red_slope * xx / width
    canvas[..., 1] = 255 * green_slope * yy / height
    canvas[..., 2] = 255 * rng.uniform() * (1 - xx / width)
    short_side = min(height, width)
    for _ in range(10):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(short_side / 12, short_side / 4)
        if rng.random() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        else:
            mask = (np.abs(yy - cy) < radius) & (np.abs(xx - cx) < radius * 0.6)
        canvas[mask] = rng.uniform(0, 255, 3)
    image = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)))


def moving_scene_frames(count: int, width: int, height: int) -> Iterable[np.ndarray]:
    """Frames that change scene every 10 frames and carry a moving white block.

    Each scene is a different photo-like picture, so frames a second apart hash differently.
    """
    scenes: dict[int, np.ndarray] = {}
    for index in range(count):
        scene = index // 10
        if scene not in scenes:
            scenes[scene] = photo_like(height, width, seed=1000 + scene)
        frame = scenes[scene].copy()
        block = max(4, height // 6)
        left = (index * 2) % (width - block)
        frame[2 : 2 + block, left : left + block] = 255
        yield frame


def encode_synthetic_video(
    container_format: str = "mp4",
    codec: str = "libx264",
    *,
    width: int = 64,
    height: int = 48,
    fps: int | Fraction = 25,
    frame_count: int = 50,
    frames: Callable[[int, int, int], Iterable[np.ndarray]] = moving_scene_frames,
) -> bytes:
    """A video encoded by PyAV into memory (``container_format`` as FFmpeg names it)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as output:
        stream = output.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for pixels in frames(frame_count, width, height):
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def encode_audio_only_mp4(seconds: float = 1.0) -> bytes:
    """An MP4 that holds one AAC audio track and no video track."""
    sample_rate, samples_per_frame = 8000, 1024
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        tone = np.sin(np.arange(int(sample_rate * seconds)) / 5).astype(np.float32)
        for start in range(0, len(tone) - samples_per_frame, samples_per_frame):
            chunk = tone[start : start + samples_per_frame].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def flip_jpeg_scan_bit(data: bytes) -> bytes:
    """Flip one bit in the middle of a JPEG's entropy-coded data (after the last SOS), avoiding
    markers: the file still decodes, with other pixels, and any metadata is kept as it was."""
    out = bytearray(data)
    position = data.rfind(b"\xff\xda") + (len(data) - data.rfind(b"\xff\xda")) // 2
    while out[position] in (0xFF, 0xFE) or out[position - 1] == 0xFF:
        position += 1
    out[position] ^= 0x01
    return bytes(out)
