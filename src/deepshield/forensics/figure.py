"""The pictures of a comparison a person can check with their own eyes: a figure and a mask.

The figure puts four panels side by side, each at the comparison scale: the suspect, the source
laid onto it (tones fitted), the difference as a heat map (blue: within what reposting changes;
red: far beyond it), and the suspect with the reported regions outlined. The mask is a PNG of the
suspect's own size, white where a reported region lies.

A video's figure (``timeline_png``) is a timeline strip of the frames compared, each with its
outcome and the moment it shows in both files, above the four panels of its most-differing frame.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from deepshield.forensics.comparison import Comparison
from deepshield.forensics.video_comparison import FrameComparison, VideoComparison

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


def figure_array(comparison: Comparison) -> np.ndarray | None:
    """The four-panel figure as RGB; None when the pictures could not be aligned."""
    if comparison.views is None:
        return None
    views = comparison.views
    panels = [_panel(views.suspect, "suspect"), _panel(views.aligned_source, "source, aligned"),
              _panel(heat_map(comparison), "difference"), _panel(outlined(comparison), "regions")]
    gap = np.full((PANEL_HEIGHT + _TITLE_PX, _GAP_PX, 3), 255, np.uint8)
    row: list[np.ndarray] = []
    for panel in panels:
        row += [panel, gap]
    return np.hstack(row[:-1])


def figure_png(comparison: Comparison) -> bytes | None:
    """The four-panel figure as PNG bytes; None when the pictures could not be aligned (there is
    then nothing to show side by side)."""
    picture = figure_array(comparison)
    return None if picture is None else _png(picture)


def mask_png(comparison: Comparison) -> bytes:
    """A greyscale PNG of the suspect's size: 255 inside reported regions, 0 elsewhere."""
    return _png(comparison.mask())


#: Each frame's tile in a video's timeline strip is this high (pixels).
TILE_HEIGHT = 120
_BAND_PX = 22
#: The band under each tile: what that frame's comparison found.
_BAND_COLOUR = {"derived_local_difference": (255, 40, 200), "derived_no_difference": (60, 170, 90),
                "not_derived": (70, 160, 220), "inconclusive": (150, 150, 150)}
_BAND_WORDS = {"derived_local_difference": "differs", "derived_no_difference": "matches",
               "not_derived": "not this", "inconclusive": "inconclusive"}


def clock(seconds: float) -> str:
    """``m:ss.s`` (``h:mm:ss.s`` past an hour)."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:04.1f}" if hours else f"{minutes}:{rest:04.1f}"


def _tile(frame: FrameComparison) -> np.ndarray:
    comparison = frame.comparison
    if comparison.views is not None:
        picture = outlined(comparison) if comparison.views.region_mask.any() else comparison.views.suspect
    elif frame.thumbnail is not None:
        picture = frame.thumbnail
    else:
        picture = np.full((TILE_HEIGHT, TILE_HEIGHT * 16 // 9, 3), 200, np.uint8)
    height, width = picture.shape[:2]
    body = cv2.resize(picture, (max(1, round(width * TILE_HEIGHT / height)), TILE_HEIGHT),
                      interpolation=cv2.INTER_AREA)
    outcome = comparison.outcome.value
    band = np.full((_BAND_PX, body.shape[1], 3), _BAND_COLOUR[outcome], np.uint8)
    cv2.putText(band, _BAND_WORDS[outcome], (4, _BAND_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.42,
                (255, 255, 255), 1, cv2.LINE_AA)
    times = np.full((_BAND_PX, body.shape[1], 3), 255, np.uint8)
    label = clock(frame.suspect_time_s) + ("" if frame.source_time_s is None
                                           else f" = {clock(frame.source_time_s)}")
    cv2.putText(times, label, (4, _BAND_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([body, band, times])


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    width = max(row.shape[1] for row in rows)
    return np.vstack([np.hstack([row, np.full((row.shape[0], width - row.shape[1], 3), 255, np.uint8)])
                      for row in rows])


def timeline_png(video: VideoComparison, *, per_row: int = 6) -> bytes | None:
    """A video comparison's figure: the timeline strip (each compared frame, its outcome, the
    suspect's time = the source's), then the four-panel figure of the frame whose regions are
    largest (else the first aligned frame). None when no frame was compared."""
    if not video.frames:
        return None
    tiles = [_tile(frame) for frame in video.frames]
    gap = np.full((tiles[0].shape[0], _GAP_PX, 3), 255, np.uint8)
    rows: list[np.ndarray] = []
    for start in range(0, len(tiles), per_row):
        row: list[np.ndarray] = []
        for tile in tiles[start:start + per_row]:
            row += [tile, gap]
        rows += [np.hstack(row[:-1]), np.full((_GAP_PX, 1, 3), 255, np.uint8)]
    title = np.full((_TITLE_PX, 1, 3), 255, np.uint8)
    parts = [title, *rows]
    shown = video.most_differing
    assert shown is not None
    panels = figure_array(shown.comparison) if shown.comparison.views is not None else None
    if panels is not None:
        caption = np.full((_TITLE_PX, 1, 3), 255, np.uint8)
        parts += [caption, panels]
    picture = _padded(parts)
    cv2.putText(picture, "frames compared (file time = source time)", (6, _TITLE_PX - 9),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    if panels is not None:
        top = sum(part.shape[0] for part in [title, *rows])
        cv2.putText(picture, f"the frame at {clock(shown.suspect_time_s)} of the file",
                    (6, top + _TITLE_PX - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return _png(picture)
