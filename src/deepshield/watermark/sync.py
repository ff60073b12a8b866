"""Blind synchronisation: find the tile's period and rotation in an edited image.

A pattern that repeats every tile puts peaks in the image's autocorrelation at the
tile's lattice vectors. After whitening the spectrum against its local envelope,
those peaks stand out from the host image's own structure. Scoring candidate
(period, angle) pairs by the autocorrelation at several lattice points (both axes,
diagonals, second harmonics) gives the scale and rotation left by resizing,
cropping and small rotations. Aspect changes (the width scaled and the height not) leave
different periods along the two axes: each axis's lattice points are also scored on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deepshield.watermark.layout import TILE_PX

_ENVELOPE_PX = 15
#: Periods searched, in working pixels: from 0.8× to 2× the tile (crops enlarge it: a crop
#: keeping half of each side doubles it).
PERIODS = TILE_PX + np.arange(-12, 129) * 0.5
#: Zero padding of the plane before the FFT: the longest lag read, 2 × the longest period.
_PAD_PX = int(2 * PERIODS[-1])
ANGLES = np.deg2rad(np.arange(-6, 6.01, 0.25))
_LATTICE = ((1, 0, 1.0), (0, 1, 1.0), (1, 1, 0.7), (1, -1, 0.7), (2, 0, 0.5), (0, 2, 0.5))
_FINE_PERIOD = np.linspace(-0.5, 0.5, 11)
_FINE_ANGLE = np.deg2rad(np.linspace(-0.25, 0.25, 11))
_UPRIGHT_PERIOD = np.linspace(-1.0, 1.0, 21)
#: Each axis's own period is searched within this factor of a candidate's period (aspect
#: changes of ±15 %, whichever axis the candidate followed).
_AXIS_RANGE = np.arange(0.82, 1.2201, 0.004)
_ASPECT_CANDIDATES = 3
#: The axis-only search (``_axis_pairs``): periods every quarter pixel, peaks per axis, pairs kept.
_AXIS_PERIODS = TILE_PX + np.arange(-48, 513) * 0.25
_AXIS_PEAKS = 6
_AXIS_PAIRS = 3
_X_AXIS = ((1, 0, 1.0), (2, 0, 0.5))
_Y_AXIS = ((0, 1, 1.0), (0, 2, 0.5))


@dataclass(frozen=True)
class Geometry:
    period: float  # horizontal tile period in working pixels (TILE_PX when unscaled)
    angle: float  # radians
    score: float
    aspect: float = 1.0  # vertical period / horizontal period

    @property
    def scale(self) -> float:
        """The tile's scale relative to the embedding (the geometric mean of both axes)."""
        return self.period * float(np.sqrt(self.aspect)) / TILE_PX

    @property
    def period_y(self) -> float:
        return self.period * self.aspect


NOMINAL = Geometry(float(TILE_PX), 0.0, 0.0)


def whitened_autocorrelation(plane: np.ndarray) -> np.ndarray:
    """Autocorrelation of ``plane`` (zero lag at the centre) from its envelope-whitened spectrum."""
    # Zero-padded, so the correlation is linear: lags up to two of the longest tiles are read,
    # and a circular one would fold them back onto the short lags of a small (cropped) image.
    height, width = (cv2.getOptimalDFTSize(n + _PAD_PX) for n in plane.shape)
    spectrum = np.fft.rfft2(plane, s=(height, width))
    power = np.fft.fftshift(spectrum.real**2 + spectrum.imag**2, axes=0).astype(np.float32)
    envelope = cv2.blur(power, (_ENVELOPE_PX, _ENVELOPE_PX), borderType=cv2.BORDER_REFLECT)
    peaks = np.maximum(power / (envelope + 1e-6) - 1.0, 0)
    correlation = np.fft.irfft2(np.fft.ifftshift(peaks, axes=0), s=(height, width))
    correlation = np.fft.fftshift(correlation)
    centre = correlation[height // 2, width // 2]
    return (correlation / max(centre, 1e-12)).astype(np.float32)


def _lattice_score(correlation: np.ndarray, periods: np.ndarray, angles: np.ndarray,
                   lattice: tuple[tuple[int, int, float], ...] = _LATTICE,
                   aspects: np.ndarray | float = 1.0) -> np.ndarray:
    height, width = correlation.shape
    score = np.zeros(periods.shape, dtype=np.float32)
    for along, across, weight in lattice:
        u, v = periods * along, periods * aspects * across
        x = width // 2 + u * np.cos(angles) - v * np.sin(angles)
        y = height // 2 + u * np.sin(angles) + v * np.cos(angles)
        inside = (x >= 0) & (x < width - 1) & (y >= 0) & (y < height - 1)
        values = cv2.remap(correlation, x.astype(np.float32), y.astype(np.float32),
                           cv2.INTER_LINEAR)
        score += weight * np.where(inside, values, 0)
    return score


def candidate_geometries(plane: np.ndarray, count: int = 16, correlation: np.ndarray | None = None
                         ) -> list[Geometry]:
    """The ``count`` most likely tile geometries of a high-passed working image, best first
    (``correlation``: its ``whitened_autocorrelation``, when already made)."""
    if correlation is None:
        correlation = whitened_autocorrelation(plane)
    periods, angles = np.meshgrid(PERIODS, ANGLES, indexing="ij")
    score = _lattice_score(correlation, periods, angles)
    is_peak = score >= cv2.dilate(score, np.ones((5, 5), np.uint8))
    peaks = np.argwhere(is_peak)
    order = np.argsort(-score[peaks[:, 0], peaks[:, 1]])[:count]
    fine_periods, fine_angles = np.meshgrid(_FINE_PERIOD, _FINE_ANGLE, indexing="ij")
    found = []
    for index in order:
        period_index, angle_index = peaks[index]
        local_periods = PERIODS[period_index] + fine_periods
        local_angles = ANGLES[angle_index] + fine_angles
        local = _lattice_score(correlation, local_periods, local_angles)
        best = np.unravel_index(np.argmax(local), local.shape)
        found.append(Geometry(float(local_periods[best]), float(local_angles[best]),
                              float(local[best])))
    # Most edits do not rotate: also try each candidate period exactly upright, where the
    # autocorrelation's weak angular resolution would otherwise leave it a fraction off.
    upright = []
    for geometry in found:
        if geometry.angle != 0.0:
            line = (geometry.period + _UPRIGHT_PERIOD)[None, :]
            scores = _lattice_score(correlation, line, np.zeros_like(line))
            upright.append(Geometry(float(line.ravel()[np.argmax(scores)]), 0.0,
                                    float(scores.max())))
    return _distinct(found + upright + _aspect_changed(correlation, found) + _axis_pairs(correlation))


def _aspect_changed(correlation: np.ndarray, found: list[Geometry]) -> list[Geometry]:
    """Upright geometries whose two axes have their own periods, near the best candidates: each
    axis's period is read from that axis's lattice points alone."""
    changed = []
    for geometry in found[:_ASPECT_CANDIDATES]:
        line = (geometry.period * _AXIS_RANGE)[None, :]
        zero = np.zeros_like(line)
        period_x = float(line.ravel()[np.argmax(_lattice_score(correlation, line, zero, _X_AXIS))])
        period_y = float(line.ravel()[np.argmax(_lattice_score(correlation, line, zero, _Y_AXIS))])
        aspect = period_y / period_x
        if abs(aspect - 1) > 0.01:
            score = float(_lattice_score(correlation, np.array([[period_x]]), np.zeros((1, 1)),
                                         aspects=aspect)[0, 0])
            changed.append(Geometry(period_x, 0.0, score, aspect))
    return changed


def aspect_variants(correlation: np.ndarray, geometry: Geometry) -> list[Geometry]:
    """Aspect changes that keep one axis of an upright ``geometry`` (whose pilot stood out: one
    of its periods is likely right): the other axis's period read from its own lattice points
    within the aspect range. Two geometries, one per axis kept."""
    variants = []
    for kept, other in ((_X_AXIS, _Y_AXIS), (_Y_AXIS, _X_AXIS)):
        line = (geometry.period * _AXIS_RANGE)[None, :]
        scores = _lattice_score(correlation, line, np.zeros_like(line), other).ravel()
        period = float(line.ravel()[int(np.argmax(scores))])
        ratio = period / geometry.period
        if abs(ratio - 1) > 0.01:
            if kept is _X_AXIS:  # x keeps the period, y takes the other
                variants.append(Geometry(geometry.period, 0.0, float(scores.max()), ratio))
            else:  # y keeps it: x takes the other
                variants.append(Geometry(period, 0.0, float(scores.max()), geometry.period / period))
    return variants


def _axis_pairs(correlation: np.ndarray) -> list[Geometry]:
    """Upright aspect-changed geometries read from the axes alone, over every period: the
    ``_AXIS_PEAKS`` strongest periods of each axis's own lattice points, paired where their ratio
    is an aspect change (up to ±``1 - _AXIS_RANGE[0]``), the ``_AXIS_PAIRS`` best pairs. The
    search around the best candidates misses these when the strongest candidates are the host's
    own structure (a stretched mark's lattice is weaker on the diagonals they score)."""
    line = _AXIS_PERIODS[None, :]
    zero = np.zeros_like(line)
    peaks = []
    for axis in (_X_AXIS, _Y_AXIS):
        score = _lattice_score(correlation, line, zero, axis).ravel()
        is_peak = score >= np.maximum(np.roll(score, 1), np.roll(score, -1))
        best = np.argsort(-np.where(is_peak, score, -np.inf))[:_AXIS_PEAKS]
        peaks.append([(float(_AXIS_PERIODS[i]), float(score[i])) for i in best])
    pairs = []
    for period_x, _ in peaks[0]:
        for period_y, _ in peaks[1]:
            aspect = period_y / period_x
            if abs(aspect - 1) > 0.01 and _AXIS_RANGE[0] <= aspect <= _AXIS_RANGE[-1]:
                score = float(_lattice_score(correlation, np.array([[period_x]]), np.zeros((1, 1)),
                                             aspects=aspect)[0, 0])
                pairs.append((score, Geometry(period_x, 0.0, score, aspect)))
    return [geometry for _, geometry in sorted(pairs, key=lambda pair: -pair[0])[:_AXIS_PAIRS]]


def _distinct(geometries: list[Geometry]) -> list[Geometry]:
    kept: list[Geometry] = []
    for geometry in geometries:
        if all(abs(geometry.period - k.period) > 0.05 or abs(geometry.angle - k.angle) > 1e-3
               or abs(geometry.aspect - k.aspect) > 1e-3
               for k in kept):
            kept.append(geometry)
    return kept
