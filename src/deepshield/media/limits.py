"""Limits that bound the work any single piece of media can cause."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class MediaLimits:
    """Upper bounds enforced before and during decoding.

    ``max_pixels`` is checked against the header before any pixel is decoded, so a
    decompression bomb is refused without allocating its frame buffer.
    """

    max_image_bytes: int = 50 * MIB
    max_video_bytes: int = 500 * MIB
    max_pixels: int = 100_000_000
    max_video_frame_pixels: int = 8192 * 4352
    max_frames: int = 250_000
    max_duration_s: float = 3 * 3600.0

    @property
    def max_bytes(self) -> int:
        """The largest input of any kind; used to cap reads before the type is known."""
        return max(self.max_image_bytes, self.max_video_bytes)
