"""``difference.regions``: hysteresis, then each region traced out to its edge and filled.

Ratio maps are drawn here: a strong core (an edit's inside), a faint ring around it (the border of
an edit blended to match its surroundings), a hole inside (content that happens to agree), and
faint noise far away that no region may reach.
"""

from __future__ import annotations

import cv2
import numpy as np

from deepshield.forensics.difference import EDGE, EDGE_REACH_PX, HIGH, DifferenceMap, regions


def _map(ratio: np.ndarray) -> DifferenceMap:
    return DifferenceMap(ratio.astype(np.float32), np.ones(ratio.shape, bool), 2.0, 0.0)


def _disk(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, centre, radius, 1, -1)
    return mask > 0


def test_a_region_reaches_its_faint_border_fills_its_holes_and_stops_at_the_reach() -> None:
    shape = (200, 200)
    ratio = np.zeros(shape, np.float32)
    ring = _disk(shape, (100, 100), 40)
    ratio[ring] = EDGE + 0.3  # the faint border, 15 px wide: more than the reach
    ratio[_disk(shape, (100, 100), 25)] = HIGH + 2  # the strong core
    ratio[_disk(shape, (100, 100), 6)] = 0.0  # content that agrees inside it
    ratio[5:15, 5:15] = EDGE + 0.3  # faint noise, far away and not connected
    found, labels = regions(_map(ratio))
    assert len(found) == 1
    region = labels == found[0].label
    assert region[_disk(shape, (100, 100), 25)].all()  # core and hole
    # Out over the border by the reach, less the pixel pulled back; not to the ring's outer edge.
    assert region[100, 100 + 25 + EDGE_REACH_PX - 2] and not region[100, 100 + 39]
    assert not region[5:15, 5:15].any()
    width, height = found[0].box[2:]
    assert width == height and 2 * (25 + EDGE_REACH_PX - 2) <= width <= 2 * (25 + EDGE_REACH_PX) + 1
    assert found[0].pixels == int(region.sum())
    assert EDGE < found[0].strength < HIGH + 2  # measured over all it holds: border and hole included


def test_two_regions_never_take_each_others_pixels() -> None:
    shape = (120, 200)
    ratio = np.full(shape, EDGE + 0.5, np.float32)  # faint everywhere: only the reach bounds them
    ratio[40:80, 40:80] = HIGH + 1
    ratio[40:80, 96:136] = HIGH + 1  # 16 px apart: both reach into the gap between them
    found, labels = regions(_map(ratio))
    assert len(found) == 2
    first, second = (labels == region.label for region in found)
    assert not (first & second).any()
    # Each reaches into the gap from its side (less the pixel pulled back): it is shared out.
    assert first[60, 80:80 + EDGE_REACH_PX - 1].all() and second[60, 96 - EDGE_REACH_PX + 1:96].all()
