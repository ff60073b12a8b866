"""The pictures of a comparison a person can check with their own eyes: a figure and a mask.

The figure puts four panels side by side, each at the comparison scale: the suspect, the source
laid onto it (tones fitted), the difference as a heat map (blue: within what reposting changes;
red: far beyond it), and the suspect with the reported regions outlined. The mask is a PNG of the
suspect's own size, white where a reported region lies.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from deepshield.forensics.comparison import Comparison

#: Each panel is scaled to this height (pixels) in the figure.
PANEL_HEIGHT = 360
_TITLE_PX = 28
_GAP_PX = 8
_OUTLINE = (255, 40, 200)  # magenta: stands out on skin, sky and foliage alike
#: The heat map's colour scale: this difference ratio and above is full red.
HEAT_FULL_RATIO = 8.0


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _panel(rgb: np.ndarray, title: str) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = PANEL_HEIGHT / height
    body = cv2.resize(rgb, (max(1, round(width * scale)), PANEL_HEIGHT),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    header = np.full((_TITLE_PX, body.shape[1], 3), 255, np.uint8)
    cv2.putText(header, title, (6, _TITLE_PX - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1,
                cv2.LINE_AA)
    return np.vstack([header, body])


def heat_map(comparison: Comparison) -> np.ndarray:
    """The difference ratio as RGB (grey outside the overlap)."""
    assert comparison.views is not None
    views = comparison.views
    level = np.clip(views.ratio / HEAT_FULL_RATIO * 255, 0, 255).astype(np.uint8)
    heat = cv2.applyColorMap(level, cv2.COLORMAP_JET)[..., ::-1].copy()
    heat[~views.valid] = (128, 128, 128)
    return heat


def outlined(comparison: Comparison) -> np.ndarray:
    """The suspect with each reported region's outline drawn on it."""
    assert comparison.views is not None
    views = comparison.views
    picture = views.suspect.copy()
    contours, _ = cv2.findContours(views.region_mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(2, round(max(picture.shape[:2]) / 300))
    cv2.drawContours(picture, contours, -1, _OUTLINE, thickness, cv2.LINE_AA)
    return picture


def figure_png(comparison: Comparison) -> bytes | None:
    """The four-panel figure as PNG bytes; None when the pictures could not be aligned (there is
    then nothing to show side by side)."""
    if comparison.views is None:
        return None
    views = comparison.views
    panels = [_panel(views.suspect, "suspect"), _panel(views.aligned_source, "source, aligned"),
              _panel(heat_map(comparison), "difference"), _panel(outlined(comparison), "regions")]
    gap = np.full((PANEL_HEIGHT + _TITLE_PX, _GAP_PX, 3), 255, np.uint8)
    row: list[np.ndarray] = []
    for panel in panels:
        row += [panel, gap]
    return _png(np.hstack(row[:-1]))


def mask_png(comparison: Comparison) -> bytes:
    """A greyscale PNG of the suspect's size: 255 inside reported regions, 0 elsewhere."""
    return _png(comparison.mask())
