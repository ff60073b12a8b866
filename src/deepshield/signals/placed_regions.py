"""Comparing a cropped copy with a label's signed regions where the copy's watermark places it.

A label signs the PDQ hashes of crops of its output (``repost.region_hashes``), so a copy cropped
at a corner or the centre still meets one of them. A crop taken anywhere else meets none: PDQ
moves about 45 bits when a crop's edges are 1 % of a side off. A watermark read from the copy
knows better: its tile grid, scale and keyed tile order say where in the labelled output the copy
lies (``watermark.Placement``), to a pixel or two of the working image. Knowing that, the copy can
be cut exactly where each signed region lies inside it, and each cut hashed as the region was.

For that, a label also signs :data:`PLACED_REGION_GRID`: crops keeping 40 % of each side on a
7 × 7 grid (steps of a tenth of a side), so that a copy keeping 60 % of each side or more, cut
anywhere, wholly contains at least four (2 × 2; a 70 % copy 3 × 3). They are signed in the
manifest only, not registered as fingerprints to search by: their small share of the picture
says too little to find a label with, but enough to confirm the one the watermark names.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepshield.signals.pdq import PdqHash, pdq_from_pixels
from deepshield.signals.repost import REGION_MAX_SIDE, Region, grid_regions, shrink

#: (keep, positions per side) of the regions signed for placed comparison.
PLACED_REGION_GRID: tuple[tuple[float, int], ...] = ((0.40, 7),)
PLACED_REGION_COUNT = sum(positions * positions for _, positions in PLACED_REGION_GRID)
#: How far (a fraction of a side) a signed region may stick out of where the copy lies and still
#: count as inside it: the placement is good to a pixel or two of the 320-pixel working image.
INSIDE_TOLERANCE = 0.005
#: A cut smaller than this many pixels a side is not hashed (PDQ needs some picture).
_MIN_CUT = 16


def placed_region_hashes(pixels: np.ndarray) -> list[tuple[Region, PdqHash]]:
    """The PDQ hash of every region of :data:`PLACED_REGION_GRID`, with where it lies, hashed as
    ``repost.region_hashes`` hashes its regions."""
    return grid_regions(shrink(pixels, REGION_MAX_SIDE), PLACED_REGION_GRID)


def placed_queries(pixels: np.ndarray, box: Region, original_size: tuple[int, int],
                   regions: Sequence[Region]) -> list[tuple[int, PdqHash]]:
    """The copy's own hashes of the signed ``regions`` that lie inside it: (index in ``regions``,
    PDQ hash of the part of ``pixels`` the region covers).

    ``pixels`` is the copy; ``box`` (x, y, width, height, fractions of the labelled output) is
    where it lies in the labelled output, whose size was ``original_size`` (height, width) pixels.
    Each region is cut from the copy at the copy's own resolution, then scaled to the size it had
    in the labelled output shrunk to ``REGION_MAX_SIDE`` (the scale the regions were hashed at), so
    the pixel grids agree. Cutting first keeps the cut's edges to a pixel of the copy: scaling the
    whole copy to the small size first put them up to half a pixel of 256 off, 10-40 bits of PDQ
    (measured on exact crops: 10 of 120 beyond 26 bits then, 2 now).
    """
    box_x, box_y, box_w, box_h = box
    if box_w <= 0 or box_h <= 0:
        return []
    height, width = original_size
    scale = REGION_MAX_SIDE / max(height, width)
    base_h, base_w = min(height, round(height * scale)), min(width, round(width * scale))
    copy_h, copy_w = pixels.shape[:2]
    import cv2

    found: list[tuple[int, PdqHash]] = []
    for index, (x, y, w, h) in enumerate(regions):
        left, top = (x - box_x) / box_w, (y - box_y) / box_h
        right, bottom = (x + w - box_x) / box_w, (y + h - box_y) / box_h
        tolerance_x, tolerance_y = INSIDE_TOLERANCE / box_w, INSIDE_TOLERANCE / box_h
        if left < -tolerance_x or top < -tolerance_y or right > 1 + tolerance_x or bottom > 1 + tolerance_y:
            continue
        x0, x1 = max(0, round(left * copy_w)), min(copy_w, round(right * copy_w))
        y0, y1 = max(0, round(top * copy_h)), min(copy_h, round(bottom * copy_h))
        size = (max(1, round(w * base_w)), max(1, round(h * base_h)))
        if x1 - x0 < _MIN_CUT or y1 - y0 < _MIN_CUT or min(size) < _MIN_CUT:
            continue
        cut = np.ascontiguousarray(pixels[y0:y1, x0:x1])
        shrinking = x1 - x0 >= size[0] and y1 - y0 >= size[1]
        cut = cv2.resize(cut, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        found.append((index, pdq_from_pixels(np.ascontiguousarray(cut))))
    return found


def is_placed_region(region: Sequence[float] | None) -> bool:
    """Whether a signed region's rectangle ([x, y, width, height] fractions) is one of
    :data:`PLACED_REGION_GRID`'s (by its size: 40 % of each side, within a pixel's rounding; the
    searchable regions keep 56 % and more), which the fingerprint rules leave to placement."""
    if region is None or len(region) != 4:
        return False
    return any(abs(region[2] - keep) <= 0.01 and abs(region[3] - keep) <= 0.01
               for keep, _ in PLACED_REGION_GRID)
