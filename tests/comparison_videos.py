"""Videos for the tests of the comparison with a suspected source (issue 16): a source of 8 s at
10 fps (a new scene every 2 s, the camera panning across it), and excerpts of it, re-encoded at
another frame rate and size, with an ellipse replaced in every frame or not; real H.264 made here."""

from __future__ import annotations

import cv2
import numpy as np

from factories import encode_video, textured_pixels

SOURCE_FPS = 10
WIDTH, HEIGHT = 320, 240
#: The replaced ellipse in source pixels.
CENTRE, AXES = (200, 100), (34, 44)


def scenes_of(first_seed: int) -> list[np.ndarray]:
    return [textured_pixels(seed, 480, HEIGHT) for seed in range(first_seed, first_seed + 4)]


def source_frame(time_s: float, scenes: list[np.ndarray]) -> np.ndarray:
    """A new scene every 2 s, the camera panning across it."""
    scene = scenes[int(time_s // 2) % len(scenes)]
    left = int((time_s % 2) / 2 * (scene.shape[1] - WIDTH))
    return np.ascontiguousarray(scene[:, left:left + WIDTH])


def encode_h264(frames: list[np.ndarray], fps: int) -> bytes:
    """``frames`` (RGB) as an MP4 of H.264 at CRF 23, in memory."""
    return encode_video(frames, fps, codec="libx264", options={"crf": "23", "preset": "veryfast"})


def replaced(pixels: np.ndarray, donor: np.ndarray) -> np.ndarray:
    mask = np.zeros(pixels.shape[:2], np.uint8)
    cv2.ellipse(mask, CENTRE, AXES, 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 3)[..., None]
    return np.clip(pixels * (1 - alpha) + donor * alpha + 0.5, 0, 255).astype(np.uint8)


def excerpt(scenes: list[np.ndarray], start: float, seconds: float, fps: int, *, edit: bool,
            scale: float = 0.75) -> bytes:
    """``seconds`` of the source from ``start``, re-encoded at ``fps`` and ``scale``; with ``edit``,
    the ellipse replaced by another picture in every frame."""
    donor = textured_pixels(99, WIDTH, HEIGHT)
    frames = []
    for number in range(int(seconds * fps)):
        moment = np.floor((start + number / fps) * SOURCE_FPS + 1e-6) / SOURCE_FPS
        pixels = source_frame(moment, scenes)
        if edit:
            pixels = replaced(pixels, donor)
        frames.append(cv2.resize(pixels, (round(WIDTH * scale) // 2 * 2, round(HEIGHT * scale) // 2 * 2),
                                 interpolation=cv2.INTER_AREA))
    return encode_h264(frames, fps)


def source_video(scenes: list[np.ndarray], seconds: int = 8) -> bytes:
    """The source: ``seconds`` of ``scenes`` at ``SOURCE_FPS``."""
    return encode_h264([source_frame(number / SOURCE_FPS, scenes) for number in range(seconds * SOURCE_FPS)],
                       SOURCE_FPS)
