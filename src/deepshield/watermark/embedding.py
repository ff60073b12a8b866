"""Embedding: a keyed pattern in luma, shaped by the host so the detector reads it well.

The pattern is defined on a working image whose short side is ``WORKING_SHORT_SIDE``
pixels, then upscaled to the image: that keeps it at frequencies that survive
downscaling to half size and JPEG at quality 50. The embedder knows the host image,
so it measures how much the host itself pushes each coded bit the wrong way (as the
detector will see it) and gives those bits more amplitude and the easy ones less
("improved spread spectrum"). The total is scaled to an RMS change that follows the
image's texture: ``DEFAULT_STRENGTH`` levels (42 dB) for a photo of typical texture,
less for smooth images where a change shows, more for busy ones that hide it (within
``STRENGTH_RANGE``).

The key (``keys.py``) decides the layout; a mark goes into a slot of its key that the image
does not use yet, so marking a marked image again adds a mark instead of erasing one.
"""

from __future__ import annotations

import cv2
import numpy as np

from deepshield.watermark.analysis import (
    MIN_SHORT_SIDE,
    cells_per_tile,
    check_image,
    highpass,
    local_contrast,
    luma,
    texture_mask,
    tile_grid_shape,
    tiled_pattern,
    to_working,
)
from deepshield.watermark.keys import PUBLIC_KEY, WatermarkKey
from deepshield.watermark.layout import SLOTS, Layout, layout_for
from deepshield.watermark.payload import encode

__all__ = ["DEFAULT_STRENGTH", "MIN_SHORT_SIDE", "check_image", "embed"]

#: RMS luma change, in 8-bit levels, for an image of typical texture (42 dB PSNR).
DEFAULT_STRENGTH = 1.95
#: Local contrast (mean local standard deviation, in levels) of a typical photo.
TYPICAL_TEXTURE = 14.0
#: How far strength follows texture: busy images hide more, smooth ones get less.
TEXTURE_EXPONENT = 0.5
STRENGTH_RANGE = (0.75, 1.35)
_MIN_AMPLITUDE = 0.3
#: The pilot's amplitude relative to the payload's mean: its cells (one in eight) then hold
#: about a third of the mark's energy. The pilot is the only periodic part, so it alone
#: carries the synchronisation after crops, rotations and aspect changes; at 1.0 the true
#: geometry was among the candidates for 11 of 24 photos cropped to 75 % and saved as WebP 75,
#: at 2.0 for 21 (bench images, 512 px).
_PILOT_GAIN = 2.0


class SlotsFull(ValueError):
    """The image already carries a mark in every slot of the key."""


def _coherent_bits(layout: Layout, slot: int, plane: np.ndarray) -> np.ndarray:
    """What the detector would despread from the working luma ``plane`` at the true geometry."""
    tiles = cells_per_tile(highpass(plane))
    return layout.coherent_bits(layout.despread_tiles(tiles, slot), slot)


def _texture_factor(contrast: np.ndarray) -> float:
    """Perceptual masking at image level: scale strength by the image's overall texture."""
    texture = float(contrast.mean())
    factor = (max(texture, 1e-3) / TYPICAL_TEXTURE) ** TEXTURE_EXPONENT
    return float(np.clip(factor, *STRENGTH_RANGE))


def embed(image: np.ndarray, payload: int, *, key: WatermarkKey = PUBLIC_KEY, slot: int | None = None,
          strength: float = DEFAULT_STRENGTH) -> np.ndarray:
    """Return a copy of ``image`` (H×W×3 uint8 RGB) carrying the 64-bit ``payload`` under ``key``.

    Only luma changes (the same amount is added to R, G and B), so colours keep their hue.
    ``slot`` None takes the first slot of ``key`` that the image does not use yet (marks already
    there stay readable); ``SlotsFull`` when every slot is taken. Raises ``ValueError`` for
    images that are not RGB uint8 or whose short side is below 256.
    """
    check_image(image)
    if strength <= 0:
        raise ValueError("strength must be positive")
    if slot is not None and not 0 <= slot < SLOTS:
        raise ValueError(f"a slot is 0 to {SLOTS - 1}")
    layout = layout_for(key)
    height, width = image.shape[:2]
    working = to_working(luma(image))
    if slot is None:
        from deepshield.watermark.detection import occupied_slots

        used = occupied_slots(highpass(working), key)
        free = [candidate for candidate in range(SLOTS) if candidate not in used]
        if not free:
            raise SlotsFull(f"the image already carries {SLOTS} marks of this key; it takes no more")
        slot = free[0]
    wh, ww = working.shape
    rows, cols = tile_grid_shape(wh, ww)
    contrast = local_contrast(working)
    mask = texture_mask(contrast)
    rms = strength * _texture_factor(contrast)
    coded = encode(payload)
    signs = coded.astype(np.float64) * 2 - 1
    unit_pattern = tiled_pattern(layout.tile_cells(slot, signs, rows, cols), wh, ww) * mask
    host = _coherent_bits(layout, slot, working) * signs
    response = np.maximum(_coherent_bits(layout, slot, working + unit_pattern) * signs - host, 1e-3)

    def amplitudes_for(margin: float) -> np.ndarray:
        return np.maximum(_MIN_AMPLITUDE, (margin - host) / response)

    # The modulation only flips signs, so the pattern's energy is a weighted sum of squared cell
    # amplitudes: calibrate the weights once on the unit pattern, then search in cell space.
    cell_weight = np.nan_to_num(np.nanmean(cells_per_tile(mask * mask), axis=(0, 1)))
    payload_cells = layout.cell_bit[slot] >= 0
    bit_of = layout.cell_bit[slot][payload_cells]
    unit_energy = float(np.sum(cell_weight[payload_cells])) / cell_weight.size
    calibration = float(np.mean(unit_pattern**2)) / (unit_energy + 1e-12)

    def rms_for(margin: float) -> float:
        amplitudes = amplitudes_for(margin)
        energy = np.sum(amplitudes[bit_of] ** 2 * cell_weight[payload_cells])
        energy += (_PILOT_GAIN * amplitudes.mean()) ** 2 * np.sum(cell_weight[layout.pilot_cells])
        return float(np.sqrt(calibration * energy / cell_weight.size))

    # The largest common margin whose pattern fits the strength budget (bisection).
    low, high = 0.0, 10.0 * (float(np.abs(host).max()) + 1.0)
    for _ in range(30):
        middle = (low + high) / 2
        if rms_for(middle) > rms:
            high = middle
        else:
            low = middle
    amplitudes = amplitudes_for(low)
    cells = layout.tile_cells(slot, signs * amplitudes, rows, cols, _PILOT_GAIN * amplitudes.mean())
    pattern = tiled_pattern(cells, wh, ww) * mask
    full = cv2.resize(pattern, (width, height), interpolation=cv2.INTER_LINEAR)
    full *= rms / (float(np.sqrt(np.mean(full**2))) + 1e-9)
    # Saturating, rounding addition of the same change to R, G and B.
    return cv2.add(image, cv2.merge([full, full, full]), dtype=cv2.CV_8U)
