"""Detection: synchronise, fold every tile onto one, find the offset, decode, check the CRC.

A payload is reported only when its CRC-32 holds. At most
``1 + 2 × MAX_CANDIDATES + REFINED_CANDIDATES`` = 20 geometries are decoded per image,
so the chance that an unmarked image yields a payload is at most 20 × 2^-32 ≈ 5e-9,
by construction.
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
from deepshield.watermark.payload import decode
from deepshield.watermark.sync import NOMINAL, Geometry, candidate_geometries

MAX_CANDIDATES = 8
REFINED_CANDIDATES = 3
#: Pilot correlation (in standard deviations) below which a geometry is not worth decoding.
#: Geometries that decode sit at 4 and above; wrong ones at a median of 3.4.
DECODE_MIN_PILOT_Z = 3.5
REFINE_MIN_PILOT_Z = 3.8


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


_PILOT_SPECTRUM = np.conj(np.fft.fft2(_pilot_pattern()))


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
    # Warp the plane and a validity mask together; pixels from outside the image get weight 0.
    both = cv2.merge([source, np.ones_like(source)])
    warped = cv2.warpAffine(both, matrix, (width, height),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    valid = (warped[..., 1] > 0.999).astype(np.float32)
    return _fold_tiles(warped[..., 0], valid)


def _fold_tiles(rectified: np.ndarray, valid: np.ndarray) -> np.ndarray:
    height, width = rectified.shape
    rows, cols = -(-height // TILE_PX), -(-width // TILE_PX)
    sums = np.zeros((rows * TILE_PX, cols * TILE_PX), dtype=np.float64)
    counts = np.zeros_like(sums)
    sums[:height, :width] = rectified * valid
    counts[:height, :width] = valid
    shape = (rows, TILE_PX, cols, TILE_PX)
    total = sums.reshape(shape).sum(axis=(0, 2))
    count = counts.reshape(shape).sum(axis=(0, 2))
    return total / np.maximum(count, 1)


def _pilot(folded: np.ndarray) -> tuple[float, int, int]:
    """The pilot's correlation peak in the folded tile: (z-score, dy, dx)."""
    correlation = np.real(np.fft.ifft2(np.fft.fft2(folded) * _PILOT_SPECTRUM))
    dy, dx = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    pilot_z = float((correlation.max() - correlation.mean()) / (correlation.std() + 1e-12))
    return pilot_z, int(dy), int(dx)


def refine_geometry(plane: np.ndarray, geometry: Geometry) -> Geometry:
    """Sharpen period and angle by the pilot: a tenth of a pixel matters when folding tiles."""
    best = (_pilot(_fold(plane, geometry))[0], geometry)
    for period_step, angle_step, reach in ((0.2, np.deg2rad(0.2), 3), (0.07, np.deg2rad(0.07), 1)):
        centre = best[1]
        for offset in [k for k in range(-reach, reach + 1) if k]:
            for candidate in (Geometry(centre.period + offset * period_step, centre.angle, 0.0),
                              Geometry(centre.period, centre.angle + offset * angle_step, 0.0)):
                z = _pilot(_fold(plane, candidate))[0]
                if z > best[0]:
                    best = (z, candidate)
    return best[1]


def _decode_at(plane: np.ndarray, geometry: Geometry) -> tuple[Detection, bool]:
    folded = _fold(plane, geometry)
    pilot_z, dy, dx = _pilot(folded)
    if pilot_z < DECODE_MIN_PILOT_Z:
        return Detection(False, None, 0.0, geometry.scale, float(np.rad2deg(geometry.angle)),
                         pilot_z), False
    aligned = np.roll(folded, (-dy, -dx), axis=(0, 1))
    cells = aligned.reshape(CELLS, CELL_PX, CELLS, CELL_PX).mean(axis=(1, 3)).ravel()
    soft = despread(cells)
    soft /= float(np.std(soft)) + 1e-12
    decoded = decode(soft)
    confidence = float(np.clip((decoded.bit_agreement - 0.5) * 2, 0, 1))
    bits = np.unpackbits(np.frombuffer(decoded.payload.to_bytes(8, "big"), dtype=np.uint8))
    detection = Detection(True, decoded.payload, confidence, geometry.scale,
                          float(np.rad2deg(geometry.angle)), pilot_z, bits)
    return detection, decoded.crc_ok


def detect(image: np.ndarray) -> Detection:
    """Look for a DeepShield watermark in ``image`` (H×W×3 uint8 RGB).

    Returns ``found=False`` and no payload unless a payload's CRC-32 checks out.
    """
    check_image(image, MIN_DETECT_SHORT_SIDE)
    return detect_in_plane(analysis_plane(image))


def analysis_plane(image: np.ndarray) -> np.ndarray:
    """The high-passed working plane the detector reads; planes of one video can be averaged."""
    return highpass(to_working(luma(image)))


def detect_in_plane(plane: np.ndarray) -> Detection:
    """Detection on an analysis plane (or an average of several with the same geometry)."""
    attempts: list[Detection] = []

    def attempt(geometry: Geometry) -> Detection | None:
        detection, crc_ok = _decode_at(plane, geometry)
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
    strongest = max(attempts, key=lambda detection: detection.pilot_z)
    return replace(strongest, found=False, payload=None, confidence=0.0, scale=None,
                   rotation_deg=None)
