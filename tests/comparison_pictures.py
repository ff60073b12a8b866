"""Pictures for the doors' tests of the comparison with a suspected source (issue 16): a source,
the same picture with an ellipse replaced by another picture and reposted (smaller, re-encoded),
and an unrelated picture, all as JPEG bytes made here (tests/forensics/test_comparison.py makes
its own the same way)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from factories import encode_image, textured_pixels

#: The replaced ellipse in the source's pixels (640 × 480): its centre and half-axes.
CENTRE, AXES = (400, 180), (70, 90)


@dataclass(frozen=True)
class ComparisonPictures:
    source: bytes  # the suspected source, as she posted it
    edited: bytes  # the source with the ellipse replaced, reposted at 0.7 × and JPEG 80
    unrelated: bytes  # a picture with as much detail that shares none of it


def _edited(source: np.ndarray, donor_seed: int) -> np.ndarray:
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.ellipse(mask, CENTRE, AXES, 0, 0, 360, 255, -1)
    donor = textured_pixels(donor_seed, source.shape[1], source.shape[0])
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 4)[..., None]
    return np.clip(source * (1 - alpha) + donor * alpha + 0.5, 0, 255).astype(np.uint8)


@cache
def comparison_pictures(seed: int = 5) -> ComparisonPictures:
    """A source, its edited repost and an unrelated picture (the same for the same ``seed``)."""
    source = textured_pixels(seed)
    edited = _edited(source, seed + 72)
    height, width = edited.shape[:2]
    reposted = cv2.resize(edited, (round(width * 0.7), round(height * 0.7)), interpolation=cv2.INTER_AREA)
    return ComparisonPictures(encode_image(source, "JPEG", quality=92),
                              encode_image(reposted, "JPEG", quality=80),
                              encode_image(textured_pixels(seed + 500), "JPEG", quality=85))
