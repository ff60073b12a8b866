"""Media made at test time: photo-like images and small videos. Tests never read ../shared."""

from __future__ import annotations

import io
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
        size = int(rng.integers(width // 16, width // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x0 + size, y0 + size], fill=colour)
        else:
            draw.rectangle([x0, y0, x0 + size, y0 + size // 2], fill=colour)
    return np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)))


def encode_image(pixels: np.ndarray, fmt: str = "JPEG", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def encode_video(frames: list[np.ndarray], fps: int = 10, container: str = "mp4",
                 codec: str = "mpeg4") -> bytes:
    """Encode RGB frames into a video file in memory."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
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
