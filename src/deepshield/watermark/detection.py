"""Detection: synchronise, fold every tile onto one, find the offset, decode, check the CRC.

A payload is reported only when its CRC-32 holds. At most
``1 + 2 × MAX_CANDIDATES + REFINED_CANDIDATES`` = 18 geometries are decoded per image, each
by one Viterbi path, and ``LIST_DECODED_GEOMETRIES`` = 1 of them again by a list of
``LIST_SIZE`` = 32 paths: at most 50 CRC trials. The chance that an unmarked image yields
a payload is therefore at most 50 × 2^-32 ≈ 1.2e-8, by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from deepshield.watermark.analysis import (
    CELL_PX,
    CELLS,
    MIN_DETECT_SHORT_SIDE,
    PATTERN_SOFTNESS,
    highpass,
    luma,
    to_working,
)
from deepshield.watermark.embedding import check_image
from deepshield.watermark.layout import TILE_PX, despread, pilot_cells
from deepshield.watermark.payload import LIST_SIZE, decode
from deepshield.watermark.sync import NOMINAL, Geometry, candidate_geometries

MAX_CANDIDATES = 8
REFINED_CANDIDATES = 1
#: Pilot correlation (in standard deviations) below which a geometry is not worth decoding.
#: Geometries that decode sit at 4 and above; wrong ones at a median of 3.4.
DECODE_MIN_PILOT_Z = 3.5
REFINE_MIN_PILOT_Z = 3.8
#: List decoding (``LIST_SIZE`` paths) is tried on at most this many geometries, the ones whose
#: pilot is strongest, and only when their pilot reaches ``LIST_MIN_PILOT_Z``.
LIST_DECODED_GEOMETRIES = 1
LIST_MIN_PILOT_Z = 3.5
#: Bounds on what the detector reads, so no image can make its float planes large. An image
#: over ``DIRECT_MAX_PIXELS`` is first shrunk (area filter, 8-bit) to under it: the working
#: plane has a short side of a few hundred pixels anyway. One longer than ``MAX_ASPECT`` times
#: its short side is centre-cropped to that: the mark repeats in every tile, and a thin strip
#: would otherwise be scaled up to an enormous working plane.
DIRECT_MAX_PIXELS = 24_000_000
MAX_ASPECT = 8


@dataclass(frozen=True)
class Detection:
    found: bool
    payload: int | None
    confidence: float  # 0 when nothing was found; else how cleanly the coded bits agree
    scale: float | None = None  # tile scale relative to the embedding (crop enlarges it)
    rotation_deg: float | None = None
    pilot_z: float = 0.0  # the pilot's correlation peak, in standard deviations
    #: The 64 data bits read (most significant first): the payload's when found, else the best
    #: guess of the strongest decoded geometry (for measuring bit accuracy), or None.
    bits: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def payload_hex(self) -> str | None:
        return None if self.payload is None else f"{self.payload:016x}"


def _pilot_pattern() -> np.ndarray:
    pattern = np.repeat(np.repeat(pilot_cells(), CELL_PX, axis=0), CELL_PX, axis=1)
    return cv2.GaussianBlur(pattern.astype(np.float32), (0, 0), PATTERN_SOFTNESS)


_PILOT_SPECTRUM = cv2.dft(_pilot_pattern())


def _fold(plane: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Undo scale and rotation, then average all tiles into one (TILE_PX × TILE_PX)."""
    scale, angle = geometry.scale, geometry.angle
    if geometry == NOMINAL:
        return _fold_tiles(plane, np.ones_like(plane))
    matrix = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 0],
                       [scale * np.sin(angle), scale * np.cos(angle), 0]], dtype=np.float32)
    height, width = (int(plane.shape[0] / scale), int(plane.shape[1] / scale))
    source = plane
    if scale > 1.05:  # shrinking: blur first so the resampling does not alias
        source = cv2.GaussianBlur(plane, (0, 0), 0.5 * float(np.sqrt(scale * scale - 1)))
    # Pixels that draw on anything outside the image come out NaN and are left out of the fold.
    warped = cv2.warpAffine(source, matrix, (width, height),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan"))
    valid = ~np.isnan(warped)
    return _fold_tiles(np.where(valid, warped, 0), valid.astype(np.float32))


def _fold_tiles(rectified: np.ndarray, valid: np.ndarray) -> np.ndarray:
    height, width = rectified.shape
    rows, cols = -(-height // TILE_PX), -(-width // TILE_PX)
    sums = np.zeros((rows * TILE_PX, cols * TILE_PX), dtype=np.float32)
    counts = np.zeros_like(sums)
    sums[:height, :width] = rectified
    counts[:height, :width] = valid
    shape = (rows, TILE_PX, cols, TILE_PX)
    total = sums.reshape(shape).sum(axis=(0, 2), dtype=np.float64)
    count = counts.reshape(shape).sum(axis=(0, 2), dtype=np.float64)
    return total / np.maximum(count, 1)


def _pilot(folded: np.ndarray) -> tuple[float, int, int]:
    """The pilot's correlation peak in the folded tile: (z-score, dy, dx)."""
    spectrum = cv2.mulSpectrums(cv2.dft(folded.astype(np.float32)), _PILOT_SPECTRUM, 0, conjB=True)
    correlation = cv2.idft(spectrum, flags=cv2.DFT_REAL_OUTPUT)
    dy, dx = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    pilot_z = float((correlation.max() - correlation.mean()) / (correlation.std() + 1e-12))
    return pilot_z, int(dy), int(dx)


def refine_geometry(plane: np.ndarray, geometry: Geometry) -> Geometry:
    """Sharpen period and angle by the pilot: a tenth of a pixel matters when folding tiles."""
    best = (_pilot(_fold(plane, geometry))[0], geometry)
    for period_step, angle_step, reach in ((0.2, np.deg2rad(0.2), 2), (0.07, np.deg2rad(0.07), 1)):
        centre = best[1]
        for offset in [k for k in range(-reach, reach + 1) if k]:
            for candidate in (Geometry(centre.period + offset * period_step, centre.angle, 0.0),
                              Geometry(centre.period, centre.angle + offset * angle_step, 0.0)):
                z = _pilot(_fold(plane, candidate))[0]
                if z > best[0]:
                    best = (z, candidate)
    return best[1]


@dataclass(frozen=True)
class _Reading:
    """What one geometry gave: its pilot strength and, if that was enough, the soft coded bits."""
    geometry: Geometry
    pilot_z: float
    soft: np.ndarray | None


def _read_at(plane: np.ndarray, geometry: Geometry) -> _Reading:
    folded = _fold(plane, geometry)
    pilot_z, dy, dx = _pilot(folded)
    if pilot_z < DECODE_MIN_PILOT_Z:
        return _Reading(geometry, pilot_z, None)
    aligned = np.roll(folded, (-dy, -dx), axis=(0, 1))
    cells = aligned.reshape(CELLS, CELL_PX, CELLS, CELL_PX).mean(axis=(1, 3)).ravel()
    soft = despread(cells)
    return _Reading(geometry, pilot_z, soft / (float(np.std(soft)) + 1e-12))


def _decode_reading(reading: _Reading, list_size: int = 1) -> tuple[Detection, bool]:
    geometry = reading.geometry
    if reading.soft is None:
        return Detection(False, None, 0.0, geometry.scale, float(np.rad2deg(geometry.angle)),
                         reading.pilot_z), False
    decoded = decode(reading.soft, list_size)
    confidence = float(np.clip((decoded.bit_agreement - 0.5) * 2, 0, 1))
    bits = np.unpackbits(np.frombuffer(decoded.payload.to_bytes(8, "big"), dtype=np.uint8))
    detection = Detection(True, decoded.payload, confidence, geometry.scale,
                          float(np.rad2deg(geometry.angle)), reading.pilot_z, bits)
    return detection, decoded.crc_ok


def detect(image: np.ndarray) -> Detection:
    """Look for a DeepShield watermark in ``image`` (H×W×3 uint8 RGB).

    Returns ``found=False`` and no payload unless a payload's CRC-32 checks out.
    """
    check_image(image, MIN_DETECT_SHORT_SIDE)
    return detect_in_plane(analysis_plane(image))


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


def detect_in_plane(plane: np.ndarray) -> Detection:
    """Detection on an analysis plane (or an average of several with the same geometry)."""
    readings: list[_Reading] = []
    attempts: list[Detection] = []

    def attempt(geometry: Geometry) -> Detection | None:
        readings.append(_read_at(plane, geometry))
        detection, crc_ok = _decode_reading(readings[-1])
        attempts.append(detection)
        return detection if crc_ok else None

    # Resizing keeps the nominal geometry (the plane is normalised to the short side): try it
    # before paying for the search.
    found = attempt(NOMINAL)
    if found:
        return found
    tried = [(attempts[-1].pilot_z, NOMINAL)]
    for geometry in candidate_geometries(plane, MAX_CANDIDATES):
        found = attempt(geometry)
        if found:
            return found
        tried.append((attempts[-1].pilot_z, geometry))
    # Slow path: the candidates the pilot liked best, with their geometry sharpened by it.
    tried.sort(key=lambda item: -item[0])
    for z, geometry in tried[:REFINED_CANDIDATES]:
        if z < REFINE_MIN_PILOT_Z:
            break
        found = attempt(refine_geometry(plane, geometry))
        if found:
            return found
    # Last resort: list decoding of the geometries whose pilot stood out most. A weak mark's
    # best path may be a bit or two off; the most likely path that passes the CRC is not.
    strong = sorted((r for r in readings if r.soft is not None and r.pilot_z >= LIST_MIN_PILOT_Z),
                    key=lambda r: -r.pilot_z)
    for reading in strong[:LIST_DECODED_GEOMETRIES]:
        detection, crc_ok = _decode_reading(reading, LIST_SIZE)
        if crc_ok:
            return detection
    strongest = max(attempts, key=lambda detection: detection.pilot_z)
    return replace(strongest, found=False, payload=None, confidence=0.0, scale=None,
                   rotation_deg=None)
