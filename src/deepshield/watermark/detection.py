"""Detection: synchronise, find the tile offset by the key's pilot, add the tiles up, decode.

For each key, and each geometry whose pilot stands out, every slot of the key is read: each
tile's cells are despread, the tile grid's place in the keyed modulation grid is found
(``Layout.best_shift``), the tiles are added up coherently, and the soft bits go through a
Viterbi decoder. A payload is reported only when its CRC-32 holds.

**False detections, bounded by construction.** Per key, at most ``MAX_GEOMETRIES`` geometries
are decoded (the untouched one, the ``READ_GEOMETRIES`` candidates whose pilot is strongest, and
``REFINED_CANDIDATES`` sharpened one), each in ``SLOTS`` slots by one Viterbi path (the untouched
geometry's at two tile shifts); then two per slot at the untouched geometry without a pilot,
and one reading again by a list of ``LIST_SIZE`` paths: ``CRC_TRIALS_PER_KEY`` = 50 CRC trials.
A random pattern passes CRC-32 with probability 2^-32, so an unmarked image yields a payload
with probability at most 50 × 2^-32 ≈ 1.2e-8 per key read.

**A mark without its pilot.** The pilot is the only periodic part of the mark, so averaging an
image's tiles and subtracting the result removes it. The payload stays: at the untouched
geometry (the image resized or recompressed, not cropped), the tiles start at the origin, and
the slots are read there without the pilot (``BLIND_MIN_RATIO`` guards that reading).

**Where the read image lies.** The tile grid starts at the marked image's top-left corner and
the keyed modulation repeats every ``PLACEMENT_PERIOD`` working pixels, so a mark read at a known
tile shift also says where the read image lies in the marked one (``Mark.placement``, worked out
when asked: ``detect(place=True)``): verify uses it to compare a crop taken anywhere with the
label's signed regions where they lie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from deepshield.watermark.analysis import (
    CELL_PX,
    MIN_DETECT_SHORT_SIDE,
    PATTERN_SOFTNESS,
    cells_per_tile,
    check_image,
    highpass,
    luma,
    to_working,
    working_size,
)
from deepshield.watermark.keys import PUBLIC_KEY, WatermarkKey
from deepshield.watermark.layout import MODULATION_TILES, SLOTS, TILE_PX, layout_for
from deepshield.watermark.payload import LIST_SIZE, decode
from deepshield.watermark.sync import (
    NOMINAL,
    Geometry,
    aspect_variants,
    candidate_geometries,
    whitened_autocorrelation,
)

#: Candidate geometries from synchronisation (with their upright and aspect-changed variants);
#: their pilots are all measured, and the ``READ_GEOMETRIES`` strongest are decoded.
MAX_CANDIDATES = 16
READ_GEOMETRIES = 4
#: The strongest upright candidates (by pilot) whose aspect-changed variants are measured too,
#: on planes of at most ``ASPECT_VARIANT_MAX_PIXELS``: a square image has 25 tiles for the
#: autocorrelation to go on, a 16:9 one 45, enough without them (100 % of 48 photos at 1080p
#: either way; they cost 3 ms a key there).
ASPECT_VARIANT_CANDIDATES = 2
ASPECT_VARIANT_MAX_PIXELS = int(1.25 * 320 * 320)
#: The pilot scan of the long side's period for an uncropped image resized to another aspect
#: (``_resized_aspect``); its best counts from ``AXIS_SCAN_MIN_Z`` (on 40 unmarked photos, scans
#: of this kind peaked at 5.5 at most; a stretched mark gives 8-24).
AXIS_SCAN_MIN_Z = 6.0
_AXIS_SCAN_COARSE = np.arange(0.82, 1.2201, 0.02)
_AXIS_SCAN_FINE = ((-0.01, 0.01), (-0.005, 0.005))
REFINED_CANDIDATES = 1
MAX_GEOMETRIES = 1 + READ_GEOMETRIES + REFINED_CANDIDATES
#: Per key: every decoded geometry's slots at their strongest tile shift, the untouched
#: geometry's at shift (0, 0) too, the pilot-less reading's two per slot, one list decoding.
CRC_TRIALS_PER_KEY = MAX_GEOMETRIES * SLOTS + SLOTS + 2 * SLOTS + LIST_SIZE
#: Pilot correlation (in standard deviations) below which a geometry is not worth decoding (or
#: sharpening). The true geometry of a marked photo after hard edits (a crop keeping half of
#: each side; halving and WebP 75) sits at 4.7 and above, most at 7-20. The untouched geometry
#: is one guess, and an unmarked photo's pilot there sits near 3.4; the best of its ~28
#: candidate geometries at a median of 4.2, 5.1 at the 99th percentile (96 photos, 4 keys).
NOMINAL_MIN_PILOT_Z = 4.2
DECODE_MIN_PILOT_Z = 4.8
REFINE_MIN_PILOT_Z = 4.8
#: Without a pilot, how much more energy the best tile shift must have than the others for it to
#: be decoded (unmarked images: about 1.1-1.4). With a pilot, the best shift is always decoded:
#: informed embedding cancels the host in the coherent sum only, so a weak mark's best shift
#: may stand out by as little as 1.3. ``occupied_slots`` uses ``SHIFT_MIN_RATIO``.
SHIFT_MIN_RATIO = 1.5
BLIND_MIN_RATIO = 1.8
#: Bounds on what the detector reads, so no image can make its float planes large. An image
#: over ``DIRECT_MAX_PIXELS`` is first shrunk (area filter, 8-bit) to under it: the working
#: plane has a short side of a few hundred pixels anyway. One longer than ``MAX_ASPECT`` times
#: its short side is centre-cropped to that: a thin strip would otherwise be scaled up to an
#: enormous working plane.
DIRECT_MAX_PIXELS = 24_000_000
MAX_ASPECT = 8


#: The keyed modulation repeats every this many working pixels of the marked image: where a copy
#: lies in it is known modulo this.
PLACEMENT_PERIOD = MODULATION_TILES * TILE_PX


@dataclass(frozen=True)
class Placement:
    """Where a read image lies in the image that was marked, from the mark's own geometry, in the
    marked image's working pixels (its short side is ``WORKING_SHORT_SIDE``): the read image's
    top-left corner is at (``top``, ``left``) modulo ``PLACEMENT_PERIOD``, and it spans ``height``
    × ``width`` of them (a crop keeping 70 % of a square image: about 224 × 224). Only for marks
    read at a known tile shift; ``angle_deg`` is the rotation the reading undid."""

    top: float
    left: float
    height: float
    width: float
    angle_deg: float

    def boxes_in(self, height: int, width: int, tolerance: float = 2.0
                 ) -> list[tuple[float, float, float, float]]:
        """Where the read image lies in a marked image of ``height`` × ``width`` pixels, as (x, y,
        width, height) fractions of it: one box for each place, modulo ``PLACEMENT_PERIOD``, where
        it fits (within ``tolerance`` working pixels). Usually one; none when the read image
        cannot be a part of such an image, or was read rotated by more than half a degree."""
        if abs(self.angle_deg) > 0.5:
            return []
        work_h, work_w = working_size(height, width)
        tops = _fitting(self.top, self.height, work_h, tolerance)
        lefts = _fitting(self.left, self.width, work_w, tolerance)
        return [(left / work_w, top / work_h, min(self.width, work_w - left) / work_w,
                 min(self.height, work_h - top) / work_h) for top in tops for left in lefts]


def _fitting(start: float, span: float, extent: int, tolerance: float) -> list[float]:
    """The starts ``start`` + k × ``PLACEMENT_PERIOD`` at which ``span`` fits in ``extent``
    (within ``tolerance``), clamped to it."""
    if span > extent + 2 * tolerance:
        return []
    found = []
    for k in range(-1, extent // PLACEMENT_PERIOD + 2):
        position = start + k * PLACEMENT_PERIOD
        if position >= -tolerance and position + span <= extent + tolerance:
            found.append(float(min(max(position, 0.0), max(extent - span, 0.0))))
    return found


@dataclass(frozen=True)
class Mark:
    """One mark read from an image: its payload, the key it was read with, and its slot."""

    payload: int
    key_id: str
    slot: int
    confidence: float  # how cleanly the coded bits agree with the payload, 0-1
    #: Where the read image lies in the marked one; only when asked for (``detect(place=True)``):
    #: for a crop it costs a sharpened geometry, a few ms.
    placement: Placement | None = field(default=None, compare=False)

    @property
    def payload_hex(self) -> str:
        return f"{self.payload:016x}"


@dataclass(frozen=True)
class Detection:
    found: bool
    payload: int | None
    confidence: float  # 0 when nothing was found; else how cleanly the coded bits agree
    scale: float | None = None  # tile scale relative to the embedding (crop enlarges it)
    rotation_deg: float | None = None
    pilot_z: float = 0.0  # the strongest pilot correlation peak, in standard deviations
    #: The 64 data bits read (most significant first): the payload's when found, else the best
    #: guess of the strongest decoded reading (for measuring bit accuracy), or None.
    bits: np.ndarray | None = field(default=None, compare=False, repr=False)
    key_id: str | None = None  # the key of ``payload``'s mark
    slot: int | None = None
    #: Every mark read, by the order of the keys given, then by slot. ``payload`` is the first's.
    marks: tuple[Mark, ...] = ()
    crc_trials: int = field(default=0, compare=False)  # how many payloads were checked

    @property
    def payload_hex(self) -> str | None:
        return None if self.payload is None else f"{self.payload:016x}"


@lru_cache(maxsize=64)
def _pilot_spectrum(key: WatermarkKey) -> np.ndarray:
    tile = layout_for(key).pilot_tile
    pattern = np.repeat(np.repeat(tile, CELL_PX, axis=0), CELL_PX, axis=1)
    return cv2.dft(cv2.GaussianBlur(pattern.astype(np.float32), (0, 0), PATTERN_SOFTNESS))


def _rectify(plane: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Undo scale, aspect and rotation: pixels that draw on anything outside come out NaN."""
    if geometry == NOMINAL:
        return plane
    scale_x, scale_y = geometry.period / TILE_PX, geometry.period_y / TILE_PX
    cos, sin = np.cos(geometry.angle), np.sin(geometry.angle)
    matrix = np.array([[scale_x * cos, -scale_y * sin, 0],
                       [scale_x * sin, scale_y * cos, 0]], dtype=np.float32)
    height, width = int(plane.shape[0] / scale_y), int(plane.shape[1] / scale_x)
    source = plane
    scale = min(scale_x, scale_y)
    if scale > 1.05:  # shrinking: blur first so the resampling does not alias
        source = cv2.GaussianBlur(plane, (0, 0), 0.5 * float(np.sqrt(scale * scale - 1)))
    return cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))


def _fold(rectified: np.ndarray) -> np.ndarray:
    """Average all tiles of a rectified plane into one (TILE_PX × TILE_PX), NaN left out."""
    height, width = rectified.shape
    rows, cols = -(-height // TILE_PX), -(-width // TILE_PX)
    sums = np.zeros((rows * TILE_PX, cols * TILE_PX), dtype=np.float32)
    valid = rectified == rectified  # False where NaN
    shape = (rows, TILE_PX, cols, TILE_PX)
    if valid.all():
        sums[:height, :width] = rectified
        count = np.zeros_like(sums)
        count[:height, :width] = 1
    else:
        sums[:height, :width] = np.where(valid, rectified, 0)
        count = np.zeros_like(sums)
        count[:height, :width] = valid
    total = sums.reshape(shape).sum(axis=(0, 2))
    return total / np.maximum(count.reshape(shape).sum(axis=(0, 2)), 1)


def _pilot_correlation(folded: np.ndarray, key: WatermarkKey) -> np.ndarray:
    spectrum = cv2.mulSpectrums(cv2.dft(folded.astype(np.float32)), _pilot_spectrum(key), 0, conjB=True)
    return cv2.idft(spectrum, flags=cv2.DFT_REAL_OUTPUT)


def _pilot_offset(folded: np.ndarray, key: WatermarkKey) -> tuple[float, float]:
    """The pilot's offset in the folded tile (dy, dx) to a fraction of a pixel: the correlation
    peak, moved by a parabola through it and its two neighbours on each axis (cyclically)."""
    correlation = _pilot_correlation(folded, key)
    dy, dx = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    offsets = []
    for axis, at in ((0, dy), (1, dx)):
        line = correlation[:, dx] if axis == 0 else correlation[dy, :]
        before, peak, after = line[(at - 1) % line.size], line[at], line[(at + 1) % line.size]
        curvature = before - 2 * peak + after
        offsets.append(float(at) + (0.5 * (before - after) / curvature if curvature < 0 else 0.0))
    return offsets[0], offsets[1]


def _pilot(folded: np.ndarray, key: WatermarkKey) -> tuple[float, int, int]:
    """The key's pilot correlation peak in the folded tile: (z-score, dy, dx)."""
    correlation = _pilot_correlation(folded, key)
    dy, dx = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    pilot_z = float((correlation.max() - correlation.mean()) / (correlation.std() + 1e-12))
    return pilot_z, int(dy), int(dx)


def _strip_pilot(strip: np.ndarray, period: float, transposed: bool, key: WatermarkKey) -> float:
    """The pilot's z-score in a strip one tile high folded along its length at ``period``."""
    width = strip.shape[1]
    columns = max(TILE_PX, round(width * TILE_PX / period))
    folded = cv2.resize(strip, (columns, TILE_PX),
                        interpolation=cv2.INTER_AREA if columns < width else cv2.INTER_LINEAR)
    tiles = columns // TILE_PX
    tile = folded[:, :tiles * TILE_PX].reshape(TILE_PX, tiles, TILE_PX).sum(axis=1)
    return _pilot(np.ascontiguousarray(tile.T if transposed else tile), key)[0]


def _resized_aspect(plane: np.ndarray, key: WatermarkKey) -> list[Geometry]:
    """An uncropped image resized to another aspect: its short side keeps the tile period exactly
    (the working plane is normalised to it), so only the long side's period is unknown. The
    plane is folded along the short side into a strip one tile high; each period of the long
    side (the aspect range, 2 % steps, then 1 % and 0.5 % around the best) only resamples and
    folds that strip. A best pilot from ``AXIS_SCAN_MIN_Z`` gives a geometry."""
    transposed = plane.shape[0] > plane.shape[1]  # the long side runs down: scan the rows
    view = np.ascontiguousarray(plane.T) if transposed else plane
    whole = view.shape[0] // TILE_PX
    strip = view[:whole * TILE_PX].reshape(whole, TILE_PX, view.shape[1]).sum(axis=0)
    z, best = max((_strip_pilot(strip, TILE_PX * factor, transposed, key), TILE_PX * factor)
                  for factor in _AXIS_SCAN_COARSE)
    for steps in _AXIS_SCAN_FINE:  # halving the step twice around the best
        z, best = max([(z, best)] + [(_strip_pilot(strip, best * (1 + step), transposed, key),
                                      best * (1 + step)) for step in steps])
    if z < AXIS_SCAN_MIN_Z or abs(best / TILE_PX - 1) <= 0.01:
        return []
    # Not transposed: x is the long side (scanned), y keeps the tile; transposed, the other way.
    if transposed:
        return [Geometry(TILE_PX, 0.0, z, best / TILE_PX)]
    return [Geometry(best, 0.0, z, TILE_PX / best)]


def refine_geometry(plane: np.ndarray, geometry: Geometry, key: WatermarkKey = PUBLIC_KEY) -> Geometry:
    """Sharpen period, aspect and angle by the key's pilot: a tenth of a pixel matters when
    folding tiles."""
    best = (_pilot(_fold(_rectify(plane, geometry)), key)[0], geometry)
    if geometry.aspect != 1.0:  # the axis searches read an aspect to about a percent: look wider
        for offset in (-3, -2, -1, 1, 2, 3):
            candidate = Geometry(geometry.period, geometry.angle, 0.0, geometry.aspect * (1 + 0.005 * offset))
            z = _pilot(_fold(_rectify(plane, candidate)), key)[0]
            if z > best[0]:
                best = (z, candidate)
    for period_step, angle_step, reach in ((0.2, np.deg2rad(0.2), 2), (0.07, np.deg2rad(0.07), 1)):
        centre = best[1]
        aspect_step = period_step / centre.period
        for offset in [k for k in range(-reach, reach + 1) if k]:
            candidates = [Geometry(centre.period + offset * period_step, centre.angle, 0.0, centre.aspect),
                          Geometry(centre.period, centre.angle + offset * angle_step, 0.0, centre.aspect)]
            if geometry.aspect != 1.0:  # aspect changes come from the axis search: sharpen them too
                candidates.append(Geometry(centre.period, centre.angle, 0.0,
                                           centre.aspect + offset * aspect_step))
            for candidate in candidates:
                z = _pilot(_fold(_rectify(plane, candidate)), key)[0]
                if z > best[0]:
                    best = (z, candidate)
    return best[1]


@dataclass(frozen=True)
class _Reading:
    """One slot of one key read at one geometry: the pilot's strength and the soft coded bits."""

    key: WatermarkKey
    slot: int
    geometry: Geometry
    pilot_z: float
    soft: np.ndarray
    shift_ratio: float  # how clearly the tile shift stood out (1.0: taken as given)
    blind: bool = False  # read without a pilot
    origin: tuple[int, int] = (0, 0)  # where the tiles start in the rectified plane (y, x)
    shift: tuple[int, int] = (0, 0)  # which tile of the keyed grid the first (partial) tile is

    def placement(self, plane: np.ndarray) -> Placement:
        """Where ``plane`` (the read working plane) lies in the marked image (``Placement``).

        The rectified plane is in the marked image's working pixels. Its first (partial) tile
        starts ``(-origin) % TILE_PX`` pixels before its top-left corner and is tile ``shift`` of
        the keyed grid, which the embedder laid from the marked image's top-left corner. A
        candidate geometry is only as fine as the search's steps: it is sharpened by the pilot
        first (``refine_geometry``), and the tile's offset measured to a fraction of a pixel."""
        geometry, moved = self.geometry, (0.0, 0.0)
        if geometry != NOMINAL and not self.blind:
            geometry = refine_geometry(plane, geometry, self.key)
            finer = _pilot_offset(_fold(_rectify(plane, geometry)), self.key)
            # How far the same tile edge moved (less than half a tile, so the tile's index holds).
            moved = tuple((new - old + TILE_PX / 2) % TILE_PX - TILE_PX / 2
                          for old, new in zip(self.origin, finer, strict=True))
        corner = [(shift * TILE_PX + (-offset) % TILE_PX - delta) % PLACEMENT_PERIOD
                  for shift, offset, delta in zip(self.shift, self.origin, moved, strict=True)]
        plane_shape = plane.shape
        scale_y, scale_x = geometry.period_y / TILE_PX, geometry.period / TILE_PX
        return Placement(float(corner[0]), float(corner[1]), plane_shape[0] / scale_y,
                         plane_shape[1] / scale_x, float(np.rad2deg(geometry.angle)))


class _Search:
    """One detection: the marks found so far, per key, and what was tried."""

    def __init__(self, plane: np.ndarray, keys: Sequence[WatermarkKey], place: bool = False) -> None:
        self.plane = plane
        self.keys = list(dict.fromkeys(keys))
        self.marks: dict[str, list[tuple[Mark, Geometry, float, np.ndarray]]] = {}
        self.readings: list[_Reading] = []
        self.tried: dict[str, list[tuple[float, Geometry, tuple[int, int]]]] = {
            key.key_id: [] for key in self.keys}
        self.best_guess: tuple[float, np.ndarray] | None = None  # (pilot z, data bits)
        self.trials = 0
        self.place = place  # work out each found mark's placement

    def pending(self) -> list[WatermarkKey]:
        return [key for key in self.keys if key.key_id not in self.marks]

    def measure(self, geometry: Geometry, keys: Sequence[WatermarkKey]) -> np.ndarray:
        """Record each key's pilot at ``geometry`` in ``tried`` (z-score, geometry, tile offset);
        returns the rectified plane."""
        rectified = _rectify(self.plane, geometry)
        folded = _fold(rectified)
        for key in keys:
            pilot_z, dy, dx = _pilot(folded, key)
            self.tried[key.key_id].append((pilot_z, geometry, (dy, dx)))
        return rectified

    def read(self, key: WatermarkKey, geometry: Geometry, pilot_z: float, origin: tuple[int, int],
             rectified: np.ndarray | None = None) -> None:
        """Decode ``key``'s slots at ``geometry`` if its pilot passed the bar there. Planes are not
        kept per candidate (a wide image's ~28 would take tens of MB): one read warps it again."""
        if pilot_z >= (NOMINAL_MIN_PILOT_Z if geometry == NOMINAL else DECODE_MIN_PILOT_Z):
            if rectified is None:
                rectified = _rectify(self.plane, geometry)
            tiles = cells_per_tile(rectified, origin)
            uncropped = geometry == NOMINAL and origin == (0, 0)
            self.read_slots(key, tiles, geometry, pilot_z, from_origin=uncropped, origin=origin)

    def attempt(self, geometry: Geometry, keys: Sequence[WatermarkKey]) -> None:
        rectified = self.measure(geometry, keys)
        for key in keys:
            pilot_z, _, origin = self.tried[key.key_id][-1]
            self.read(key, geometry, pilot_z, origin, rectified)

    def read_slots(self, key: WatermarkKey, tiles: np.ndarray, geometry: Geometry, pilot_z: float,
                   *, from_origin: bool, blind: bool = False, origin: tuple[int, int] = (0, 0)) -> None:
        """Decode every slot of ``key`` from per-tile cells: at the tile shift whose coherent sum is
        strongest, and, for tiles that start at the image's origin (an uncropped copy), at shift
        (0, 0) too. Without a pilot (``blind``), shift (0, 0) always, and the strongest only when
        it stands out by ``BLIND_MIN_RATIO``."""
        layout = layout_for(key)
        for slot in range(SLOTS):
            soft_tiles = layout.despread_tiles(tiles, slot)
            shift, ratio = layout.best_shift(soft_tiles, slot)
            shifts = [(0, 0)] if from_origin else []
            if shift not in shifts and (not blind or ratio >= BLIND_MIN_RATIO):
                shifts.append(shift)
            for candidate in shifts:
                soft = layout.coherent_bits(soft_tiles, slot, candidate)
                soft = soft / (float(np.std(soft)) + 1e-12)
                reading = _Reading(key, slot, geometry, pilot_z, soft,
                                   ratio if candidate == shift else 1.0, blind, origin, candidate)
                self.readings.append(reading)
                if self.decode(reading, 1):
                    break

    def decode(self, reading: _Reading, list_size: int) -> bool:
        self.trials += list_size
        decoded = decode(reading.soft, list_size)
        bits = np.unpackbits(np.frombuffer(decoded.payload.to_bytes(8, "big"), dtype=np.uint8))
        if not decoded.crc_ok:
            if self.best_guess is None or reading.pilot_z > self.best_guess[0]:
                self.best_guess = (reading.pilot_z, bits)
            return False
        key_id = reading.key.key_id
        found = self.marks.setdefault(key_id, [])
        if any(mark.slot == reading.slot for mark, *_ in found):
            return True
        confidence = float(np.clip((decoded.bit_agreement - 0.5) * 2, 0, 1))
        mark = Mark(decoded.payload, key_id, reading.slot, confidence,
                    reading.placement(self.plane) if self.place else None)
        found.append((mark, reading.geometry,
                      reading.pilot_z, bits))
        return True

    def result(self) -> Detection:
        ordered = [found for key in self.keys
                   for found in sorted(self.marks.get(key.key_id, []), key=lambda item: item[0].slot)]
        strongest = max((z for tried in self.tried.values() for z, *_ in tried), default=0.0)
        if not ordered:
            bits = self.best_guess[1] if self.best_guess is not None else None
            return Detection(False, None, 0.0, None, None, strongest, bits, crc_trials=self.trials)
        mark, geometry, pilot_z, bits = ordered[0]
        return Detection(True, mark.payload, mark.confidence, geometry.scale,
                         float(np.rad2deg(geometry.angle)), pilot_z, bits, mark.key_id, mark.slot,
                         tuple(found[0] for found in ordered), self.trials)


def detect(image: np.ndarray, keys: Sequence[WatermarkKey] = (PUBLIC_KEY,), *,
           place: bool = False) -> Detection:
    """Look for DeepShield watermarks of ``keys`` in ``image`` (H×W×3 uint8 RGB).

    Returns ``found=False`` and no payload unless a payload's CRC-32 checks out. ``marks`` lists
    every mark read (several where an image was marked more than once); with ``place``, each
    with its ``placement`` in the marked image.
    """
    check_image(image, MIN_DETECT_SHORT_SIDE)
    return detect_in_plane(analysis_plane(image), keys, place=place)


def analysis_plane(image: np.ndarray) -> np.ndarray:
    """The high-passed working plane the detector reads; planes of one video can be averaged."""
    return highpass(to_working(luma(bounded(image))))


def bounded(image: np.ndarray) -> np.ndarray:
    """``image`` itself when within ``MAX_ASPECT`` and ``DIRECT_MAX_PIXELS``; else its centre
    cropped to that aspect and shrunk to under that many pixels."""
    height, width = image.shape[:2]
    short = min(height, width)
    if max(height, width) > MAX_ASPECT * short:
        keep_h, keep_w = min(height, MAX_ASPECT * short), min(width, MAX_ASPECT * short)
        top, left = (height - keep_h) // 2, (width - keep_w) // 2
        image = np.ascontiguousarray(image[top:top + keep_h, left:left + keep_w])
        height, width = keep_h, keep_w
    if height * width <= DIRECT_MAX_PIXELS:
        return image
    scale = (DIRECT_MAX_PIXELS / (height * width)) ** 0.5
    size = (max(1, int(width * scale)), max(1, int(height * scale)))
    return cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)


def detect_in_plane(plane: np.ndarray, keys: Sequence[WatermarkKey] = (PUBLIC_KEY,), *,
                    place: bool = False) -> Detection:
    """Detection on an analysis plane (or an average of several with the same geometry)."""
    if not keys:
        raise ValueError("give at least one watermark key to read with")
    search = _Search(plane, keys, place)
    # Resizing keeps the untouched geometry (the plane is normalised to the short side): try it
    # before paying for the search.
    search.attempt(NOMINAL, search.keys)
    if search.pending():
        # Every candidate's pilot is measured (a fold each); only the strongest are decoded.
        correlation = whitened_autocorrelation(plane)
        for geometry in candidate_geometries(plane, MAX_CANDIDATES, correlation):
            search.measure(geometry, search.pending())
        for key in search.pending() if plane.size <= ASPECT_VARIANT_MAX_PIXELS else ():
            # An aspect change the search missed: the strongest upright candidates may have one
            # axis right; the other axis is read from the autocorrelation (``aspect_variants``).
            upright = sorted((item for item in search.tried[key.key_id]
                              if item[1].angle == 0.0 and item[1].aspect == 1.0 and item[1] != NOMINAL),
                             key=lambda item: -item[0])[:ASPECT_VARIANT_CANDIDATES]
            # An uncropped image resized to another aspect keeps the tile period of its short
            # side exactly (the working plane is normalised to it): the untouched period too.
            for geometry in [NOMINAL] + [geometry for _, geometry, _ in upright]:
                for variant in aspect_variants(correlation, geometry):
                    search.measure(variant, [key])
            for scanned in _resized_aspect(plane, key):
                search.measure(scanned, [key])
        for key in search.pending():
            candidates = [item for item in search.tried[key.key_id] if item[1] != NOMINAL]
            ranked = sorted(candidates, key=lambda item: -item[0])
            for pilot_z, geometry, origin in ranked[:READ_GEOMETRIES]:
                search.read(key, geometry, pilot_z, origin)
                if key.key_id in search.marks:
                    break
    # Slow path: the geometries each key's pilot liked best, sharpened by that pilot.
    for key in search.pending():
        tried = sorted(search.tried[key.key_id], key=lambda item: -item[0])
        for z, geometry, _ in tried[:REFINED_CANDIDATES]:
            if z >= REFINE_MIN_PILOT_Z:
                search.attempt(refine_geometry(plane, geometry, key), [key])
    # No pilot (it may have been removed): the untouched geometry, tiles from the origin.
    pending = search.pending()
    if pending:
        tiles = cells_per_tile(plane)
        for key in pending:
            nominal_z = search.tried[key.key_id][0][0]
            search.read_slots(key, tiles, NOMINAL, nominal_z, from_origin=True, blind=True)
    # Last resort: list decoding of each key's reading whose pilot stood out most. A weak mark's
    # best path may be a bit or two off; the most likely path that passes the CRC is not.
    for key in search.pending():
        strong = [reading for reading in search.readings if reading.key == key and not reading.blind]
        if strong:  # the strongest pilot; of its readings, the one whose tiles added up best
            search.decode(max(strong, key=lambda reading: (reading.pilot_z, reading.shift_ratio)), LIST_SIZE)
    return search.result()


def occupied_slots(plane: np.ndarray, key: WatermarkKey) -> set[int]:
    """The slots of ``key`` that the high-passed working ``plane`` already seems to carry, read at
    the untouched geometry (with the pilot's offset where there is one). Cheap, and cautious: a
    slot that merely looks used is reported used."""
    pilot_z, dy, dx = _pilot(_fold(plane), key)
    origin = (dy, dx) if pilot_z >= NOMINAL_MIN_PILOT_Z else (0, 0)
    tiles = cells_per_tile(plane, origin)
    layout = layout_for(key)
    return {slot for slot in range(SLOTS)
            if layout.best_shift(layout.despread_tiles(tiles, slot), slot)[1] >= SHIFT_MIN_RATIO}
