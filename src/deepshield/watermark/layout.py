"""Where each chip of the watermark lives: a keyed, fixed layout of one square tile.

The tile is ``CELLS`` × ``CELLS`` cells, each ``CELL_PX`` working pixels wide, and it
repeats over the whole image. One cell in eight carries a known pilot (for finding
the tile's offset); the others carry the coded payload bits, spread round-robin over
a keyed permutation and multiplied by keyed signs so the pattern looks like noise.
"""

from __future__ import annotations

import numpy as np

from deepshield.watermark.payload import CODED_BITS

#: The short side, in pixels, of the working image the pattern is defined on.
WORKING_SHORT_SIDE = 320
CELLS = 32
CELL_PX = 2
TILE_PX = CELLS * CELL_PX
PILOT_SHARE = 0.125
#: Fixed key of DeepShield's public watermark: anyone can detect it, by design.
LAYOUT_SEED = 20261126

_rng = np.random.default_rng(LAYOUT_SEED)
_order = _rng.permutation(CELLS * CELLS)
_pilot_count = int(CELLS * CELLS * PILOT_SHARE)
PILOT_CELLS = _order[:_pilot_count]
PAYLOAD_CELLS = _order[_pilot_count:]
CELL_SIGNS = _rng.choice([-1.0, 1.0], CELLS * CELLS)
#: For each payload cell, the coded bit it carries.
CELL_BIT = np.arange(len(PAYLOAD_CELLS)) % CODED_BITS
#: (payload cells × coded bits) 0/1 matrix: sums cell values per coded bit.
BIT_MATRIX = np.zeros((len(PAYLOAD_CELLS), CODED_BITS))
BIT_MATRIX[np.arange(len(PAYLOAD_CELLS)), CELL_BIT] = 1.0


def pilot_cells() -> np.ndarray:
    """The pilot tile: ±1 on pilot cells, 0 elsewhere (CELLS × CELLS)."""
    cells = np.zeros(CELLS * CELLS)
    cells[PILOT_CELLS] = CELL_SIGNS[PILOT_CELLS]
    return cells.reshape(CELLS, CELLS)


def payload_cells(coded: np.ndarray, amplitudes: np.ndarray | None = None) -> np.ndarray:
    """Cell values (flat) that carry ``coded`` (0/1) bits, each scaled by its amplitude."""
    signs = coded.astype(np.float64) * 2 - 1
    gains = signs if amplitudes is None else signs * amplitudes
    cells = np.zeros(CELLS * CELLS)
    cells[PAYLOAD_CELLS] = CELL_SIGNS[PAYLOAD_CELLS] * gains[CELL_BIT]
    return cells


def despread(cells: np.ndarray) -> np.ndarray:
    """Per coded bit, the sum of its cells' values with the keyed signs removed.

    Takes one tile's cells (CELLS*CELLS,) or many (tiles, CELLS*CELLS); NaN counts as 0.
    """
    values = np.nan_to_num(np.asarray(cells, dtype=np.float64))
    return (values[..., PAYLOAD_CELLS] * CELL_SIGNS[PAYLOAD_CELLS]) @ BIT_MATRIX
