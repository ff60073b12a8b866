"""Where an aligned source and a suspect differ, measured against what reposting alone changes.

Reposting changes every pixel a little: a tone curve, resampling, compression. Those are taken
out first: the source's tones are mapped onto the suspect's by a per-channel curve fitted with
medians (``fit_tones``; medians, so a replaced region does not bend the curve), and both are
softened by ``BLUR_SIGMA`` against compression noise. What remains is measured per pixel
(``difference``) and divided by what re-encoding and a fraction of a pixel of misalignment leave
there: a noise floor taken from the whole overlap (a robust deviation, since most of it agrees)
plus a share of the local gradient (misalignment shows only on edges). A region that differs is
then where that ratio stays high over an area (``regions``: hysteresis, so a region is seeded
where it is strong and grown where it is clear), traced out to its edge (``EDGE``) and filled.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BLUR_SIGMA = 1.0
#: The coarse end of the detail band whose agreement ``detail_correlation`` measures.
DETAIL_SIGMA = 4.0
#: How much of the local gradient (levels per pixel) counts as misalignment noise.
GRADIENT_WEIGHT = 0.5
#: The smallest noise floor, in levels: a lossless repost still resamples.
MIN_NOISE_FLOOR = 1.5
#: The ratio is averaged over this Gaussian (pixels of the comparison scale) before regions.
REGION_SIGMA = 2.5
#: Hysteresis thresholds on the averaged ratio: a region is seeded above HIGH and grown above LOW.
HIGH = 4.0
LOW = 2.2
#: A region then reaches out, up to ``EDGE_REACH_PX``, over pixels whose ratio passes ``EDGE``: an
#: edit blended to match its surroundings (Poisson) differs little near its border, so hysteresis
#: stops short of it. What it reaches is pulled back by ``EDGE_SHED_PX`` (the averaging spreads
#: the ratio outward past the edge), and its holes are filled. Set on the tuning half: the
#: replaced-region IoU median of typical Poisson edits went from 0.76 to 0.85 and of feathered
#: ones from 0.83 to 0.86 (bench/forensics.py).
EDGE = 1.2
EDGE_REACH_PX = 8
EDGE_SHED_PX = 1
#: The smallest region, as a share of the overlap and in pixels of the comparison scale.
MIN_REGION_SHARE = 0.002
MIN_REGION_PIXELS = 64
#: The side of the linear filter fitted between the two (``fit_filter``), and its pixel sampling.
FILTER_SIZE = 5
_FILTER_STEP = 2
_TONE_BINS = 32
_TONE_MIN_SAMPLES = 24
_SAMPLE_STEP = 3


@dataclass(frozen=True)
class DifferenceMap:
    """The measured difference of a suspect from its aligned, tone-mapped source."""

    ratio: np.ndarray  # float32: difference over the expected repost noise, averaged; 0 outside
    valid: np.ndarray  # bool: pixels the source covers
    noise_floor: float  # levels: the robust deviation of the difference over the overlap
    tone_shift: float  # levels: how far the fitted tone curves move the source, on average


@dataclass(frozen=True)
class FoundRegion:
    """One area that differs, in pixels of the comparison scale."""

    box: tuple[int, int, int, int]  # x, y, width, height
    pixels: int
    strength: float  # the mean ratio inside it
    label: int  # its number in the label image of ``regions``


def fit_tones(suspect: np.ndarray, source: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, float]:
    """``source`` (float32 H×W×3) with each channel mapped by a curve fitted to ``suspect`` over
    ``valid``: for bins of the source's values, the median suspect value. Returns the mapped
    source and the mean absolute change the curves make there."""
    mapped = np.empty_like(source)
    picked = np.zeros_like(valid)
    picked[::_SAMPLE_STEP] = valid[::_SAMPLE_STEP]  # every third row is enough for the medians
    for channel in range(3):
        values = source[..., channel]
        wanted = suspect[..., channel]
        x, y = values[picked], wanted[picked]
        if x.size < _TONE_MIN_SAMPLES:
            mapped[..., channel] = values
            continue
        edges = np.linspace(0, 256, _TONE_BINS + 1)
        which = np.clip(np.digitize(x, edges) - 1, 0, _TONE_BINS - 1)
        order = np.argsort(which, kind="stable")
        counts = np.bincount(which, minlength=_TONE_BINS)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        xs, ys = [], []
        for bin_index in np.flatnonzero(counts >= _TONE_MIN_SAMPLES):
            members = order[starts[bin_index]:starts[bin_index] + counts[bin_index]]
            xs.append(float(np.median(x[members])))
            ys.append(float(np.median(y[members])))
        if len(xs) < 2:
            offset = float(np.median(y - x))
            mapped[..., channel] = values + offset
            continue
        xs_array, ys_array = np.array(xs), np.maximum.accumulate(np.array(ys))  # tone curves rise
        # Beyond the fitted range, extend with the end slopes (np.interp would hold them flat).
        curve = np.interp(values, xs_array, ys_array)
        low_slope = (ys_array[1] - ys_array[0]) / max(xs_array[1] - xs_array[0], 1e-6)
        high_slope = (ys_array[-1] - ys_array[-2]) / max(xs_array[-1] - xs_array[-2], 1e-6)
        curve = np.where(values < xs_array[0], ys_array[0] + (values - xs_array[0]) * low_slope, curve)
        curve = np.where(values > xs_array[-1], ys_array[-1] + (values - xs_array[-1]) * high_slope, curve)
        mapped[..., channel] = curve
    shift = float(np.abs(mapped - source)[valid].mean()) if valid.any() else 0.0
    return mapped.astype(np.float32), shift


def fit_filter(suspect: np.ndarray, mapped_source: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``mapped_source`` passed through the linear filter (``FILTER_SIZE`` square, least squares on
    luma over ``valid``, refitted without the worst-fitting pixels) that best turns it into
    ``suspect``: what sharpening, blurring and resampling did to the whole picture, so that they
    leave no difference behind. The identity where the fit is not possible."""
    half = FILTER_SIZE // 2
    height, width = valid.shape
    if height <= 2 * half + 2 or width <= 2 * half + 2:
        return mapped_source
    target = cv2.cvtColor(suspect, cv2.COLOR_RGB2GRAY)
    source_luma = cv2.cvtColor(mapped_source, cv2.COLOR_RGB2GRAY)
    inner = np.zeros_like(valid)
    inner[half:height - half:_FILTER_STEP, half:width - half:_FILTER_STEP] = True
    inner &= cv2.erode(valid.astype(np.uint8), np.ones((FILTER_SIZE, FILTER_SIZE), np.uint8)) > 0
    ys, xs = np.nonzero(inner)
    if ys.size < 20 * FILTER_SIZE * FILTER_SIZE:
        return mapped_source
    offsets = range(-half, half + 1)
    columns = [source_luma[ys + dy, xs + dx] for dy in offsets for dx in offsets]
    design = np.stack([*columns, np.ones(ys.size, np.float32)], axis=1).astype(np.float64)
    wanted = target[ys, xs].astype(np.float64)
    keep = np.ones(ys.size, dtype=bool)
    for _ in range(2):  # fit, then refit without the pixels that fit worst (a replaced region)
        coefficients, *_ = np.linalg.lstsq(design[keep], wanted[keep], rcond=None)
        residual = np.abs(design @ coefficients - wanted)
        keep = residual <= np.quantile(residual, 0.8)
    kernel = coefficients[:-1].reshape(FILTER_SIZE, FILTER_SIZE).astype(np.float32)
    if not np.all(np.isfinite(kernel)) or not 0.8 <= float(kernel.sum()) <= 1.25:
        return mapped_source
    filtered = cv2.filter2D(mapped_source, -1, kernel, borderType=cv2.BORDER_REFLECT)
    # A saved picture clips: sharpened black text on white overshoots past 0 and 255 and is cut
    # there, so the prediction is too.
    return np.clip(filtered + np.float32(coefficients[-1]), 0, 255)


def difference(suspect: np.ndarray, mapped_source: np.ndarray, valid: np.ndarray,
               tone_shift: float = 0.0) -> DifferenceMap:
    """The difference ratio of ``suspect`` from ``mapped_source`` (float32 H×W×3 each, aligned;
    ``tone_shift`` is what ``fit_tones`` reported, kept with the map)."""
    soft_suspect = cv2.GaussianBlur(suspect, (0, 0), BLUR_SIGMA)
    soft_source = cv2.GaussianBlur(mapped_source, (0, 0), BLUR_SIGMA)
    distance = np.sqrt(np.mean((soft_suspect - soft_source) ** 2, axis=2))
    luma = cv2.cvtColor(soft_source, cv2.COLOR_RGB2GRAY)
    gradient = cv2.magnitude(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8,
                             cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8)
    # Misalignment moves an edge's whole neighbourhood: take the strongest gradient nearby.
    gradient = cv2.dilate(gradient, np.ones((3, 3), np.uint8))
    inside = distance[valid]
    floor = max(MIN_NOISE_FLOOR, 1.4826 * float(np.median(inside))) if inside.size else MIN_NOISE_FLOOR
    ratio = distance / (floor + GRADIENT_WEIGHT * gradient)
    weight = valid.astype(np.float32)
    smoothed = cv2.GaussianBlur(ratio * weight, (0, 0), REGION_SIGMA)
    coverage = cv2.GaussianBlur(weight, (0, 0), REGION_SIGMA)
    averaged = np.where(valid, smoothed / np.maximum(coverage, 1e-3), 0).astype(np.float32)
    return DifferenceMap(averaged, valid, floor, tone_shift)


def detail_correlation(suspect: np.ndarray, mapped_source: np.ndarray, where: np.ndarray) -> float:
    """How well the two pictures' detail agrees over ``where``: the correlation of their luma
    band-passed between ``BLUR_SIGMA`` and ``DETAIL_SIGMA``. Near 1 for one picture however it
    was reposted; low for a misplaced alignment or different pictures, whatever the noise floor
    (which adapts to both)."""
    def band(rgb: np.ndarray) -> np.ndarray:
        luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return cv2.GaussianBlur(luma, (0, 0), BLUR_SIGMA) - cv2.GaussianBlur(luma, (0, 0), DETAIL_SIGMA)
    first, second = band(suspect)[where], band(mapped_source)[where]
    if first.size < 64:
        return 0.0
    first, second = first - first.mean(), second - second.mean()
    denominator = float(np.sqrt(np.dot(first, first) * np.dot(second, second)))
    return float(np.dot(first, second) / denominator) if denominator > 0 else 0.0


def regions(measured: DifferenceMap) -> tuple[list[FoundRegion], np.ndarray]:
    """The regions that differ (largest first) and their label image (int32, 0: none)."""
    grown = ((measured.ratio >= LOW) & measured.valid).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    overlap = int(measured.valid.sum())
    smallest = max(MIN_REGION_PIXELS, int(MIN_REGION_SHARE * overlap))
    found: list[FoundRegion] = []
    kept = np.zeros(count, dtype=bool)
    if count > 1:
        peaks = np.zeros(count, dtype=np.float32)
        np.maximum.at(peaks, labels.ravel(), measured.ratio.ravel())
        sums = np.bincount(labels.ravel(), weights=measured.ratio.ravel(), minlength=count)
        for label in range(1, count):
            area = int(stats[label, cv2.CC_STAT_AREA])
            if peaks[label] < HIGH or area < smallest:
                continue
            kept[label] = True
            box = tuple(int(stats[label, index]) for index in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP,
                                                                 cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
            found.append(FoundRegion(box, area, float(sums[label] / area), label))  # type: ignore[arg-type]
    final = np.where(kept[labels], labels, 0).astype(np.int32)
    found.sort(key=lambda region: -region.pixels)
    traced = _traced(final, found, measured)
    return [_measured_again(region, traced, measured) for region in found], traced


def _measured_again(region: FoundRegion, labels: np.ndarray, measured: DifferenceMap) -> FoundRegion:
    """``region``'s box, size and strength over the pixels it holds after ``_traced``."""
    ys, xs = np.nonzero(labels == region.label)
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
    return FoundRegion(box, int(ys.size), float(measured.ratio[ys, xs].mean()), region.label)


def _traced(labels: np.ndarray, found: list[FoundRegion], measured: DifferenceMap) -> np.ndarray:
    """Each region reached out to its edge, what it reached pulled back and filled (``EDGE``);
    it keeps every pixel it had, and takes none of another region's nor outside the overlap."""
    traced = labels.copy()
    step = np.ones((3, 3), np.uint8)
    shed = np.ones((2 * EDGE_SHED_PX + 1, 2 * EDGE_SHED_PX + 1), np.uint8)
    edge = (measured.ratio >= EDGE) & measured.valid
    for region in found:
        mask = (labels == region.label).astype(np.uint8)
        open_ground = edge & ((traced == 0) | (traced == region.label))
        for _ in range(EDGE_REACH_PX):
            mask = (cv2.dilate(mask, step) & (open_ground | (mask > 0))).astype(np.uint8)
        mask = cv2.erode(mask, shed)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        solid = np.zeros_like(mask)
        cv2.drawContours(solid, contours, -1, 1, -1)
        traced[(solid > 0) & measured.valid & ((traced == 0) | (traced == region.label))] = region.label
    return traced
