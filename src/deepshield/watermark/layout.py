"""Where each chip of the watermark lives, for one key: a keyed layout of the tile grid.

The tile is ``CELLS`` × ``CELLS`` cells, each ``CELL_PX`` working pixels wide, and the grid of
tiles covers the whole image. Two parts share it:

* the **pilot** (one cell in eight): keyed positions and signs, the same in every tile. It is
  the only periodic part of the mark and is used only to find the tile's scale, rotation and
  offset. Removing it removes no payload.
* the **payload** (the other cells): each coded bit is spread over about 4 cells per tile in
  keyed positions with keyed signs, and in every tile each bit's chips are multiplied by a keyed
  sign that varies from tile to tile (``modulation``: a grid of ``MODULATION_TILES`` ×
  ``MODULATION_TILES`` tiles that repeats only beyond the working image). Averaging an image's
  tiles onto one ("folding") therefore cancels the payload instead of revealing it; the
  detector, which knows the key, adds the tiles up coherently instead. Which tile of the keyed
  grid a cropped image starts at is found by ``best_shift``.

A key has ``SLOTS`` independent spreadings of the payload over the same cells. A second mark with
the same key goes into a free slot, so it adds to the first instead of overwriting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from deepshield.watermark.keys import PUBLIC_KEY, WatermarkKey
from deepshield.watermark.payload import CODED_BITS

#: The short side, in pixels, of the working image the pattern is defined on.
WORKING_SHORT_SIDE = 320
CELLS = 32
CELL_PX = 2
TILE_PX = CELLS * CELL_PX
PILOT_SHARE = 0.125
#: Independent spreadings per key: how many marks of one key an image can carry at once.
SLOTS = 2
#: The per-tile modulation repeats every this many tiles (512 working pixels: beyond the
#: short side of every working image).
MODULATION_TILES = 8
_PILOT_COUNT = int(CELLS * CELLS * PILOT_SHARE)


@dataclass(frozen=True, eq=False)
class Layout:
    """The layout one key gives the tile grid (see the module's docstring)."""

    pilot_cells: np.ndarray  # flat cell indices of the pilot
    pilot_tile: np.ndarray  # CELLS × CELLS: the pilot's ±1 chips, 0 elsewhere
    #: (SLOTS, CELLS*CELLS): the coded bit each cell carries in each slot (-1: a pilot cell).
    cell_bit: np.ndarray
    #: (SLOTS, CELLS*CELLS): each cell's keyed sign in each slot (pilot cells: the pilot's sign).
    cell_sign: np.ndarray
    #: (SLOTS, MODULATION_TILES, MODULATION_TILES, CODED_BITS): ±1 per tile and coded bit.
    modulation: np.ndarray
    #: (SLOTS, CODED_BITS, shifts, positions): the modulation at position + shift, for ``best_shift``.
    _shifted: np.ndarray
    #: Per slot: the payload cells ordered by the bit they carry, their signs, and where each
    #: bit's run of cells starts in that order (``despread_tiles``).
    _gather: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]

    def tile_modulation(self, slot: int, rows: int, cols: int, shift: tuple[int, int] = (0, 0)
                        ) -> np.ndarray:
        """(rows*cols, CODED_BITS): the modulation of each tile of a rows × cols grid whose first
        tile is tile ``shift`` of the keyed grid."""
        r = (np.arange(rows) + shift[0]) % MODULATION_TILES
        c = (np.arange(cols) + shift[1]) % MODULATION_TILES
        return self.modulation[slot][r[:, None], c[None, :]].reshape(rows * cols, CODED_BITS)

    def tile_cells(self, slot: int, gains: np.ndarray, rows: int, cols: int,
                   pilot_gain: float = 0.0) -> np.ndarray:
        """(rows*cols, CELLS*CELLS) cell values of every tile: coded bit ``b`` gets ``gains[b]``
        (sign and amplitude), spread and modulated by the key; pilot cells get ``pilot_gain``."""
        payload = self.cell_bit[slot] >= 0
        bits = self.cell_bit[slot][payload]
        base = np.zeros(CELLS * CELLS)
        base[payload] = self.cell_sign[slot][payload] * gains[bits]
        tiles = np.repeat(base[None, :], rows * cols, axis=0)
        tiles[:, payload] *= self.tile_modulation(slot, rows, cols)[:, bits]
        tiles[:, self.pilot_cells] = pilot_gain * self.cell_sign[slot][self.pilot_cells]
        return tiles

    def despread_tiles(self, tiles: np.ndarray, slot: int) -> np.ndarray:
        """Per tile and coded bit, the sum of its cells with the keyed signs removed.

        ``tiles`` is (..., CELLS*CELLS) of cell values; NaN (outside the image) counts as 0.
        """
        order, signs, starts = self._gather[slot]
        tiles = np.asarray(tiles, dtype=np.float32)
        by_cell = tiles.reshape(-1, tiles.shape[-1]).T[order]  # (payload cells, tiles): rows copied
        by_cell = np.where(np.isnan(by_cell), np.float32(0), by_cell) * signs[:, None]
        return np.add.reduceat(by_cell, starts, axis=0).T.reshape(*tiles.shape[:-1], CODED_BITS)

    def coherent_bits(self, soft_tiles: np.ndarray, slot: int, shift: tuple[int, int] = (0, 0)
                      ) -> np.ndarray:
        """The soft coded bits of (rows, cols, CODED_BITS) per-tile values, the tiles' modulation
        removed as if the grid's first tile were tile ``shift`` of the keyed grid (a mean)."""
        rows, cols = soft_tiles.shape[:2]
        modulation = self.tile_modulation(slot, rows, cols, shift)
        return (soft_tiles.reshape(rows * cols, CODED_BITS) * modulation).mean(axis=0)

    def best_shift(self, soft_tiles: np.ndarray, slot: int) -> tuple[tuple[int, int], float]:
        """Which tile of the keyed grid the (rows, cols, CODED_BITS) tiles start at, and how
        clearly: (shift, ratio of the best shift's energy to the mean of the others).

        For the right shift the tiles add up coherently, so the despread bits' energy grows
        with the number of tiles; for every other shift they add up like noise. Unmarked
        images give ratios near 1.
        """
        rows, cols = soft_tiles.shape[:2]
        size = MODULATION_TILES
        padded = np.zeros((-(-rows // size) * size, -(-cols // size) * size, CODED_BITS), np.float32)
        padded[:rows, :cols] = soft_tiles
        folded = padded.reshape(-1, size, padded.shape[1] // size, size, CODED_BITS).sum(axis=(0, 2))
        # correlation[b, s] = sum_p folded[p, b] · modulation[p + s, b], for every shift s at once.
        by_bit = np.ascontiguousarray(folded.reshape(size * size, CODED_BITS).T)[:, :, None]
        correlation = np.matmul(self._shifted[slot], by_bit)[:, :, 0]
        energy = (correlation * correlation).sum(axis=0)
        best = int(np.argmax(energy))
        others = (energy.sum() - energy[best]) / (energy.size - 1)
        ratio = float(energy[best] / others) if others > 0 else 0.0
        return divmod(best, MODULATION_TILES), ratio


def _seeded(key: WatermarkKey, purpose: str) -> np.random.Generator:
    return np.random.default_rng(key.derive(purpose))


@lru_cache(maxsize=16)
def layout_for(key: WatermarkKey = PUBLIC_KEY) -> Layout:
    """The layout of ``key`` (cached: a few MB per key)."""
    order = _seeded(key, "cells").permutation(CELLS * CELLS)
    pilot_cells, payload_cells = order[:_PILOT_COUNT], order[_PILOT_COUNT:]
    pilot_signs = _seeded(key, "pilot").choice([-1.0, 1.0], _PILOT_COUNT)
    pilot_tile = np.zeros(CELLS * CELLS)
    pilot_tile[pilot_cells] = pilot_signs
    cell_bit = np.full((SLOTS, CELLS * CELLS), -1)
    cell_sign = np.zeros((SLOTS, CELLS * CELLS))
    modulation = np.zeros((SLOTS, MODULATION_TILES, MODULATION_TILES, CODED_BITS), dtype=np.float32)
    for slot in range(SLOTS):
        rng = _seeded(key, f"slot {slot}")
        cells = rng.permutation(payload_cells)
        bits = np.arange(len(cells)) % CODED_BITS
        signs = rng.choice([-1.0, 1.0], len(cells))
        cell_bit[slot, cells] = bits
        cell_sign[slot, cells] = signs
        cell_sign[slot, pilot_cells] = pilot_signs
        modulation[slot] = rng.choice([-1.0, 1.0], modulation.shape[1:])
    size = MODULATION_TILES
    rows, cols = np.divmod(np.arange(size * size), size)
    # _shifted[slot, bit, s, p] = modulation[slot, p + s, bit] (positions and shifts modulo the grid)
    target = (((rows[None, :] + rows[:, None]) % size) * size + (cols[None, :] + cols[:, None]) % size)
    flat = modulation.reshape(SLOTS, size * size, CODED_BITS)
    shifted = np.ascontiguousarray(flat[:, target, :].transpose(0, 3, 1, 2))
    gather = []
    for slot in range(SLOTS):
        cells = np.flatnonzero(cell_bit[slot] >= 0)
        order = cells[np.argsort(cell_bit[slot][cells], kind="stable")]
        starts = np.searchsorted(cell_bit[slot][order], np.arange(CODED_BITS))
        gather.append((order, cell_sign[slot][order].astype(np.float32), starts))
    return Layout(pilot_cells, pilot_tile.reshape(CELLS, CELLS), cell_bit, cell_sign,
                  modulation, shifted, tuple(gather))
