"""Embedding: a tiled, keyed pattern in luma, shaped by the host so the detector reads it well.

The pattern is defined on a working image whose short side is ``WORKING_SHORT_SIDE``
pixels, then upscaled to the image: that keeps it at frequencies that survive
downscaling to half size and JPEG at quality 50. The embedder knows the host image,
so it measures how much the host itself pushes each coded bit the wrong way (as the
detector will see it) and gives those bits more amplitude and the easy ones less
("improved spread spectrum"). The total is scaled to an RMS change that follows the
image's texture: ``DEFAULT_STRENGTH`` levels (42 dB) for a photo of typical texture,
less for smooth images where a change shows, more for busy ones that hide it (within
``STRENGTH_RANGE``).
"""

from __future__ import annotations

import cv2
import numpy as np

from deepshield.watermark.analysis import (
    MIN_SHORT_SIDE,
    cells_per_tile,
    highpass,
    local_contrast,
    luma,
    texture_mask,
    tile_grid_shape,
    tiled_pattern,
    to_working,
)
from deepshield.watermark.layout import CELL_SIGNS, PILOT_CELLS, despread, payload_cells
from deepshield.watermark.payload import encode

#: RMS luma change, in 8-bit levels, for an image of typical texture (42 dB PSNR).
DEFAULT_STRENGTH = 1.95
#: Local contrast (mean local standard deviation, in levels) of a typical photo.
TYPICAL_TEXTURE = 14.0
#: How far strength follows texture: busy images hide more, smooth ones get less.
TEXTURE_EXPONENT = 0.5
STRENGTH_RANGE = (0.75, 1.35)
_MIN_AMPLITUDE = 0.3
_PILOT_GAIN = 1.0


def check_image(image: np.ndarray, min_short_side: int = MIN_SHORT_SIDE) -> None:
    """Refuse arrays that are not H×W×3 uint8 RGB, or smaller than ``min_short_side``."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        raise ValueError("the watermark works on H×W×3 uint8 RGB arrays")
    if min(image.shape[:2]) < min_short_side:
        raise ValueError(f"the image's short side is {min(image.shape[:2])} px; the watermark "
                         f"needs at least {min_short_side}")


def _folded_bits(plane: np.ndarray) -> np.ndarray:
    """What the detector would despread from ``plane`` at the true geometry."""
    return despread(np.nanmean(cells_per_tile(highpass(plane)), axis=0))


def _texture_factor(contrast: np.ndarray) -> float:
    """Perceptual masking at image level: scale strength by the image's overall texture."""
    texture = float(contrast.mean())
    factor = (max(texture, 1e-3) / TYPICAL_TEXTURE) ** TEXTURE_EXPONENT
    return float(np.clip(factor, *STRENGTH_RANGE))


def embed(image: np.ndarray, payload: int, *, strength: float = DEFAULT_STRENGTH) -> np.ndarray:
    """Return a copy of ``image`` (H×W×3 uint8 RGB) carrying the 64-bit ``payload``.

    Only luma changes (the same amount is added to R, G and B), so colours keep their hue.
    Raises ``ValueError`` for images that are not RGB uint8 or whose short side is below 256.
    """
    check_image(image)
    if strength <= 0:
        raise ValueError("strength must be positive")
    height, width = image.shape[:2]
    working = to_working(luma(image))
    wh, ww = working.shape
    tiles = int(np.prod(tile_grid_shape(wh, ww)))
    contrast = local_contrast(working)
    mask = texture_mask(contrast)
    rms = strength * _texture_factor(contrast)
    coded = encode(payload)
    signs = coded.astype(np.float64) * 2 - 1
    unit = payload_cells(coded)
    unit_pattern = tiled_pattern(np.tile(unit, (tiles, 1)), wh, ww) * mask
    host = _folded_bits(working) * signs
    response = np.maximum(_folded_bits(working + unit_pattern) * signs - host, 1e-3)

    def cells_for(margin: float) -> np.ndarray:
        amplitudes = np.maximum(_MIN_AMPLITUDE, (margin - host) / response)
        cells = payload_cells(coded, amplitudes)
        cells[PILOT_CELLS] = CELL_SIGNS[PILOT_CELLS] * _PILOT_GAIN * amplitudes.mean()
        return cells

    # Every tile holds the same cells, so the pattern's energy is a weighted sum of squared
    # cell values; calibrate the weights once on the unit pattern, then search in cell space.
    cell_weight = np.nan_to_num(np.nanmean(cells_per_tile(mask * mask), axis=0))
    calibration = float(np.mean(unit_pattern**2)) / (float(np.mean(unit**2 * cell_weight)) + 1e-12)

    def rms_for(margin: float) -> float:
        return float(np.sqrt(calibration * np.mean(cells_for(margin) ** 2 * cell_weight)))

    # The largest common margin whose pattern fits the strength budget (bisection).
    low, high = 0.0, 10.0 * (float(np.abs(host).max()) + 1.0)
    for _ in range(30):
        middle = (low + high) / 2
        if rms_for(middle) > rms:
            high = middle
        else:
            low = middle
    pattern = tiled_pattern(np.tile(cells_for(low), (tiles, 1)), wh, ww) * mask
    full = cv2.resize(pattern, (width, height), interpolation=cv2.INTER_LINEAR)
    full *= rms / (float(np.sqrt(np.mean(full**2))) + 1e-9)
    # Saturating, rounding addition of the same change to R, G and B.
    return cv2.add(image, cv2.merge([full, full, full]), dtype=cv2.CV_8U)
