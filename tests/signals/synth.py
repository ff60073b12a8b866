"""Media generated at test time for the signal tests (a copy of tests/media/synth.py's generators:
test folders are separate packages and tests/conftest.py belongs to no single room).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from fractions import Fraction

import av
import numpy as np
from PIL import Image, ImageFilter


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


def encode_video(
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
