"""The view of an image that both embedder and detector work on: working-size luma, high-passed."""

from __future__ import annotations

import cv2
import numpy as np

from deepshield.watermark.layout import CELL_PX, CELLS, TILE_PX, WORKING_SHORT_SIDE

MIN_SHORT_SIDE = 256
#: Marked images may later be shrunk (a 512 px image halved is 256); the detector reads down
#: to half the embedding minimum.
MIN_DETECT_SHORT_SIDE = 128
HIGHPASS_SIGMA = 2.0
ENERGY_SIGMA = 2.0
#: Detail energy (levels²) that even a flat area has after capture and compression.
NOISE_FLOOR = 6.0
PATTERN_SOFTNESS = 0.45


def check_image(image: np.ndarray, min_short_side: int = MIN_SHORT_SIDE) -> None:
    """Refuse arrays that are not H×W×3 uint8 RGB, or smaller than ``min_short_side``."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        raise ValueError("the watermark works on H×W×3 uint8 RGB arrays")
    if min(image.shape[:2]) < min_short_side:
        raise ValueError(f"the image's short side is {min(image.shape[:2])} px; the watermark "
                         f"needs at least {min_short_side}")


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma as float32 (OpenCV's fixed-point conversion: fast, within half a level)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def working_size(height: int, width: int) -> tuple[int, int]:
    """(height, width) of the working image: short side ``WORKING_SHORT_SIDE``, aspect kept."""
    scale = WORKING_SHORT_SIDE / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_working(plane: np.ndarray) -> np.ndarray:
    height, width = working_size(*plane.shape[:2])
    shrinking = height < plane.shape[0]
    return cv2.resize(plane, (width, height),
                      interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def highpass(working_luma: np.ndarray) -> np.ndarray:
    """Luma minus its local mean, divided by the local detail energy.

    The host's detail is the detector's noise, and its power varies a hundredfold between
    sky and foliage. Dividing by the local variance (not its square root) makes the
    correlation that follows a matched filter for that noise: flat areas, where the mark
    stands out, count for more than texture, where it drowns.
    """
    detail = working_luma - cv2.GaussianBlur(working_luma, (0, 0), HIGHPASS_SIGMA)
    energy = cv2.GaussianBlur(detail * detail, (0, 0), ENERGY_SIGMA)
    return detail / (energy + NOISE_FLOOR)


def tile_grid_shape(height: int, width: int) -> tuple[int, int]:
    return -(-height // TILE_PX), -(-width // TILE_PX)


def cells_per_tile(plane: np.ndarray, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Mean of each cell in each whole or partial tile: (rows, cols, CELLS*CELLS), NaN outside.

    Tiles start at ``origin`` (y, x) modulo the tile; a cell with any NaN pixel is NaN.
    """
    top, left = (-origin[0]) % TILE_PX, (-origin[1]) % TILE_PX
    rows, cols = tile_grid_shape(plane.shape[0] + top, plane.shape[1] + left)
    padded = np.full((rows * TILE_PX, cols * TILE_PX), np.nan, dtype=np.float32)
    padded[top:top + plane.shape[0], left:left + plane.shape[1]] = plane
    # CELL_PX is 2: the mean of each 2×2 block, by strided sums (a NaN pixel makes a NaN cell).
    cells = (padded[0::2, 0::2] + padded[1::2, 0::2] + padded[0::2, 1::2] + padded[1::2, 1::2]) * 0.25
    return cells.reshape(rows, CELLS, cols, CELLS).transpose(0, 2, 1, 3).reshape(rows, cols, CELLS * CELLS)


def tiled_pattern(tile_cells: np.ndarray, height: int, width: int) -> np.ndarray:
    """The pattern image: per-tile cell values (tiles, CELLS*CELLS) laid out and softened."""
    rows, cols = tile_grid_shape(height, width)
    grid = tile_cells.reshape(rows, cols, CELLS, CELLS).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * CELLS, cols * CELLS).astype(np.float32)
    pattern = np.repeat(np.repeat(grid, CELL_PX, axis=0), CELL_PX, axis=1)[:height, :width]
    return cv2.GaussianBlur(pattern, (0, 0), PATTERN_SOFTNESS)


def local_contrast(working_luma: np.ndarray) -> np.ndarray:
    """Local standard deviation of luma (levels), over a Gaussian window of about 5 px."""
    mean = cv2.GaussianBlur(working_luma, (0, 0), 2)
    variance = cv2.GaussianBlur(working_luma * working_luma, (0, 0), 2) - mean * mean
    return np.sqrt(np.maximum(variance, 0))


def texture_mask(contrast: np.ndarray, low: float = 1.0, high: float = 1.3,
                 scale: float = 30.0) -> np.ndarray:
    """Perceptual masking: more strength in texture, less in flat areas, within [low, high]."""
    return np.clip(low + contrast / scale, low, high)
