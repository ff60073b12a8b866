"""Limits that bound the work any single piece of media can cause."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class MediaLimits:
    """Upper bounds enforced before and during decoding.

    ``max_pixels`` is checked against the header before any pixel is decoded, so a
    decompression bomb is refused without allocating its frame buffer. It is the one pixel
    rule: Pillow's own process-wide cap (``Image.MAX_IMAGE_PIXELS``) is not consulted.

    ``max_analysis_pixels`` bounds the memory of analysing one image (hashes, watermark
    detection). Images up to this size (24 Mpx covers 6000×4000 camera photos) are analysed
    at full size, so their PDQ hashes are bit-identical to Meta's reference. A larger one is
    reduced while it is decoded, by an integer box filter, to at most ``reduced_analysis_pixels``
    (PDQ reduces every image to 64×64 and the watermark detector reads a 320 px plane: a few
    megapixels carry all they use), before anything else touches it.
    """

    max_image_bytes: int = 50 * MIB
    max_video_bytes: int = 500 * MIB
    max_pixels: int = 100_000_000
    max_analysis_pixels: int = 24_000_000
    reduced_analysis_pixels: int = 4_000_000
    max_video_frame_pixels: int = 8192 * 4352
    max_frames: int = 250_000
    max_duration_s: float = 3 * 3600.0

    @property
    def max_bytes(self) -> int:
        """The largest input of any kind; used to cap reads before the type is known."""
        return max(self.max_image_bytes, self.max_video_bytes)
