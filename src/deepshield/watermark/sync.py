"""Blind synchronisation: find the tile's period and rotation in an edited image.

A pattern that repeats every tile puts peaks in the image's autocorrelation at the
tile's lattice vectors. After whitening the spectrum against its local envelope,
those peaks stand out from the host image's own structure. Scoring candidate
(period, angle) pairs by the autocorrelation at several lattice points (both axes,
diagonals, second harmonics) gives the scale and rotation left by resizing,
cropping and small rotations.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deepshield.watermark.layout import TILE_PX

_ENVELOPE_PX = 15
#: Periods searched, in working pixels: from 0.8× to 1.5× the tile (crops enlarge it).
PERIODS = TILE_PX + np.arange(-12, 65) * 0.5
#: Zero padding of the plane before the FFT: the longest lag read, 2 × the longest period.
_PAD_PX = int(2 * PERIODS[-1])
ANGLES = np.deg2rad(np.arange(-6, 6.01, 0.25))
_LATTICE = ((1, 0, 1.0), (0, 1, 1.0), (1, 1, 0.7), (1, -1, 0.7), (2, 0, 0.5), (0, 2, 0.5))
_FINE_PERIOD = np.linspace(-0.5, 0.5, 11)
_FINE_ANGLE = np.deg2rad(np.linspace(-0.25, 0.25, 11))
_UPRIGHT_PERIOD = np.linspace(-1.0, 1.0, 21)


@dataclass(frozen=True)
class Geometry:
    period: float  # tile period in working pixels (TILE_PX when unscaled)
    angle: float  # radians
    score: float

    @property
    def scale(self) -> float:
        return self.period / TILE_PX


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


def _lattice_score(correlation: np.ndarray, periods: np.ndarray, angles: np.ndarray) -> np.ndarray:
    height, width = correlation.shape
    score = np.zeros(periods.shape, dtype=np.float32)
    for along, across, weight in _LATTICE:
        x = width // 2 + periods * (along * np.cos(angles) - across * np.sin(angles))
        y = height // 2 + periods * (along * np.sin(angles) + across * np.cos(angles))
        inside = (x >= 0) & (x < width - 1) & (y >= 0) & (y < height - 1)
        values = cv2.remap(correlation, x.astype(np.float32), y.astype(np.float32),
                           cv2.INTER_LINEAR)
        score += weight * np.where(inside, values, 0)
    return score


def candidate_geometries(plane: np.ndarray, count: int = 16) -> list[Geometry]:
    """The ``count`` most likely tile geometries of a high-passed working image, best first."""
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
    return _distinct(found + upright)


def _distinct(geometries: list[Geometry]) -> list[Geometry]:
    kept: list[Geometry] = []
    for geometry in geometries:
        if all(abs(geometry.period - k.period) > 0.05 or abs(geometry.angle - k.angle) > 1e-3
               for k in kept):
            kept.append(geometry)
    return kept
