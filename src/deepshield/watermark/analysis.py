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


def cells_per_tile(plane: np.ndarray) -> np.ndarray:
    """Mean of each cell in each whole or partial tile: (tiles, CELLS*CELLS), NaN outside."""
    rows, cols = tile_grid_shape(*plane.shape)
    padded = np.full((rows * TILE_PX, cols * TILE_PX), np.nan, dtype=np.float32)
    padded[: plane.shape[0], : plane.shape[1]] = plane
    cells = padded.reshape(rows, CELLS, CELL_PX, cols, CELLS, CELL_PX).mean(axis=(2, 5))
    return cells.transpose(0, 2, 1, 3).reshape(rows * cols, CELLS * CELLS)


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
