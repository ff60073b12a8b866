"""Where a suspected source lies in a suspect image: a homography from local features, checked.

A repost of a picture is the same picture scaled, cropped, re-encoded, tone-shifted, maybe
mirrored; a face-swap is the same picture with one region replaced. Both keep most of the
source's local features where the source had them. SIFT keypoints (OpenCV) of both images,
matched with Lowe's ratio test and fitted by MAGSAC++ (OpenCV's ``USAC_MAGSAC``), give the
homography that carries the source onto the suspect; the fit's inliers say how much of the
picture agrees on it.

SIFT is the cost: at 1080p it takes over a second a picture. It runs here on both images scaled
to ``MATCH_LONG_SIDE`` on their long side, which places a 1080p pair to about a pixel of that
scale; ``refine`` then sharpens the homography by intensity (ECC, OpenCV's
``findTransformECC``) at the scale the difference is measured at.

A fit is only taken when it looks like a repost, not like a coincidence (``_plausible``): enough
inliers, spread over enough of the suspect, a scale between 1/8 and 8, no strong shear or
perspective. A mirrored repost is tried when the plain one fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from deepshield.signals.repost import shrink

#: SIFT runs on each image scaled (down only) to this long side.
MATCH_LONG_SIDE = 640
#: ... and small images scaled up to this long side.
MATCH_MIN_LONG_SIDE = 480
MAX_FEATURES = 2000
#: Lowe's ratio: a match must be this much nearer than the second nearest.
RATIO = 0.75
#: MAGSAC's threshold, in pixels at the matching scale.
RANSAC_PX = 3.0
#: Matched pairs that must agree on one homography before it counts as an alignment. Unrelated
#: photos give at most a handful (bench/forensics.py: 8 over 1,000 unrelated tuning pairs); the
#: pixel agreement that follows (comparison.py) is the second gate.
MIN_INLIERS = 12
#: Below this many inliers, with enough features on both sides, the pair shares nothing.
UNRELATED_MAX_INLIERS = 8
#: Features each image must show before "nothing matched" says anything (a flat or tiny picture
#: has too few to say either way).
MIN_FEATURES_TO_JUDGE = 150
#: The inliers' convex hull must cover this share of the suspect (a shared logo is not a repost).
MIN_INLIER_SPREAD = 0.04
SCALE_RANGE = (1 / 8, 8.0)
#: The most two axes may differ in scale (aspect changes of reposts are far smaller).
MAX_ANISOTROPY = 1.6
#: The most the perspective terms may change the scale across the suspect.
MAX_PERSPECTIVE = 0.25
#: Pictures with too few features are aligned by intensity at this long side, and the alignment
#: taken only where ECC's correlation reaches this.
INTENSITY_LONG_SIDE = 256
INTENSITY_MIN_ECC = 0.8
ECC_ITERATIONS = 40
ECC_EPSILON = 1e-4
_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPSILON)


@dataclass(frozen=True)
class Alignment:
    """How a source was laid onto a suspect (full-resolution pixels of each).

    ``homography`` maps source pixels to suspect pixels, None where no plausible fit was found
    (``reason`` then says why). ``mirrored``: the source was mirrored left-right first (the
    homography includes the mirroring).
    """

    homography: np.ndarray | None
    inliers: int
    matches: int
    suspect_features: int
    source_features: int
    mirrored: bool
    spread: float  # share of the suspect covered by the inliers' convex hull
    reason: str
    by_intensity: bool = False  # aligned by intensity (ECC), too few features for a fit

    @property
    def found(self) -> bool:
        return self.homography is not None

    @property
    def unrelated(self) -> bool:
        """Both pictures have plenty of detail and next to none of it matches."""
        return (not self.found and self.inliers < UNRELATED_MAX_INLIERS
                and min(self.suspect_features, self.source_features) >= MIN_FEATURES_TO_JUDGE)


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def for_matching(plane: np.ndarray) -> tuple[np.ndarray, float]:
    """The plane SIFT runs on: scaled down to ``MATCH_LONG_SIDE``, or up to ``MATCH_MIN_LONG_SIDE``
    (a small repost, a portrait of 200 px, has too few features at its own size)."""
    height, width = plane.shape[:2]
    if max(height, width) < MATCH_MIN_LONG_SIDE:
        scale = MATCH_MIN_LONG_SIDE / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(plane, size, interpolation=cv2.INTER_CUBIC), scale
    return scaled(plane, MATCH_LONG_SIDE)


def scaled(plane: np.ndarray, long_side: int) -> tuple[np.ndarray, float]:
    """``plane`` scaled down (never up) so its long side is at most ``long_side``, and the scale."""
    return shrink(plane, long_side), min(1.0, long_side / max(plane.shape[:2]))


def _features(plane: np.ndarray) -> tuple[tuple, np.ndarray | None]:
    sift = cv2.SIFT_create(nfeatures=MAX_FEATURES)
    return sift.detectAndCompute(plane, None)


def _matched(suspect: tuple, source: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-tested matches: (suspect points, source points), each (n, 2) float32."""
    (suspect_points, suspect_descriptors), (source_points, source_descriptors) = suspect, source
    if suspect_descriptors is None or source_descriptors is None or len(source_points) < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(suspect_descriptors, source_descriptors, k=2)
    good = [pair[0] for pair in pairs if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance]
    to = np.float32([suspect_points[m.queryIdx].pt for m in good]).reshape(-1, 2)
    frm = np.float32([source_points[m.trainIdx].pt for m in good]).reshape(-1, 2)
    return to, frm


def _plausible(homography: np.ndarray, shape: tuple[int, int]) -> str:
    """Why a source→suspect homography (suspect of ``shape``) is not a repost's; '' when it is."""
    if not np.all(np.isfinite(homography)) or abs(homography[2, 2]) < 1e-12:
        return "the fit is degenerate"
    matrix = homography / homography[2, 2]
    linear = matrix[:2, :2]
    determinant = float(np.linalg.det(linear))
    if determinant <= 0:
        return "the fit turns the picture over"
    singular = np.linalg.svd(linear, compute_uv=False)
    scale = float(np.sqrt(determinant))
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        return f"the fit scales the source by {scale:.2f}"
    if singular[0] / singular[1] > MAX_ANISOTROPY:
        return "the fit shears or stretches the source too far"
    height, width = shape
    # How much the projective denominator varies over the suspect (0 for an affine map).
    inverse = np.linalg.inv(matrix)
    corners = np.float64([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]])
    denominators = corners @ inverse[2]
    if denominators.min() <= 0 or denominators.max() / denominators.min() - 1 > MAX_PERSPECTIVE:
        return "the fit bends the perspective too far"
    return ""


def _full_resolution(homography: np.ndarray, suspect_scale: float, source_scale: float) -> np.ndarray:
    """A homography between two scaled planes, between the full-size pictures instead:
    suspect = S_suspect⁻¹ · H · S_source."""
    return np.diag([1 / suspect_scale, 1 / suspect_scale, 1.0]) @ homography @ np.diag(
        [source_scale, source_scale, 1.0])


def _unmirrored(homography: np.ndarray, source_width: int) -> np.ndarray:
    """A fit found against the source mirrored left-right, as a map from the source itself
    (normalised)."""
    full = homography @ np.array([[-1.0, 0, source_width - 1], [0, 1, 0], [0, 0, 1]])
    return full / full[2, 2]


def _fit(suspect: tuple, source: tuple, scale_suspect: float, scale_source: float,
         shape: tuple[int, int], mirror_width: int | None) -> Alignment:
    to, frm = _matched(suspect, source)
    counts = dict(suspect_features=len(suspect[0]), source_features=len(source[0]), matches=len(to),
                  mirrored=mirror_width is not None)
    if len(to) < 4:
        return Alignment(None, 0, spread=0.0, reason="too few features match", **counts)
    homography, inlier_mask = cv2.findHomography(frm, to, cv2.USAC_MAGSAC, RANSAC_PX, maxIters=5000,
                                                 confidence=0.999)
    if homography is None or inlier_mask is None:
        return Alignment(None, 0, spread=0.0, reason="no geometry fits the matches", **counts)
    inliers = int(inlier_mask.sum())
    kept = to[inlier_mask.ravel().astype(bool)]
    hull = cv2.convexHull(kept) if len(kept) >= 3 else None
    area = float(cv2.contourArea(hull)) if hull is not None else 0.0
    height, width = shape
    spread = area / (scale_suspect * scale_suspect * height * width)
    full = _full_resolution(homography, scale_suspect, scale_source)
    if inliers < MIN_INLIERS:
        return Alignment(None, inliers, spread=spread,
                         reason=f"only {inliers} matched features agree on one geometry", **counts)
    if spread < MIN_INLIER_SPREAD:
        return Alignment(None, inliers, spread=spread,
                         reason="the agreeing features cover too little of the picture", **counts)
    why = _plausible(full, shape)  # judged before the mirroring, which turns any fit over
    if why:
        return Alignment(None, inliers, spread=spread, reason=why, **counts)
    full = _unmirrored(full, mirror_width) if mirror_width is not None else full / full[2, 2]
    return Alignment(full, inliers, spread=spread, reason="", **counts)


def _by_intensity(suspect: np.ndarray, source: np.ndarray, failed: Alignment) -> Alignment:
    """For pictures with too few features to fit (small, soft portraits): the source fitted to the
    suspect's frame, plain or mirrored, then an affine map found by intensity (ECC). Taken only
    where the intensities agree to ``INTENSITY_MIN_ECC``; ``compare``'s pixel checks follow."""
    suspect_grey, suspect_scale = scaled(grey(suspect), INTENSITY_LONG_SIDE)
    source_grey, source_scale = scaled(grey(source), INTENSITY_LONG_SIDE)
    height, width = suspect_grey.shape
    source_height, source_width = source_grey.shape
    best: tuple[float, np.ndarray, bool] | None = None
    for mirrored in (False, True):
        moving = np.ascontiguousarray(source_grey[:, ::-1]) if mirrored else source_grey
        # ECC's warp maps suspect pixels to source pixels; start from "the same frame, rescaled".
        warp = np.float32([[source_width / width, 0, 0], [0, source_height / height, 0]])
        try:
            value, warp = cv2.findTransformECC(suspect_grey.astype(np.float32), moving.astype(np.float32),
                                               warp, cv2.MOTION_AFFINE, _ECC_CRITERIA, None, 5)
        except cv2.error:
            continue
        if best is None or value > best[0]:
            best = (float(value), warp, mirrored)
    counts = dict(inliers=failed.inliers, matches=failed.matches, suspect_features=failed.suspect_features,
                  source_features=failed.source_features, spread=0.0)
    if best is None or best[0] < INTENSITY_MIN_ECC:
        return Alignment(None, mirrored=failed.mirrored, reason=failed.reason, **counts)
    value, warp, mirrored = best
    to_source = np.vstack([warp.astype(np.float64), [0.0, 0.0, 1.0]])
    homography = np.linalg.inv(to_source)  # source (small, maybe mirrored) → suspect (small)
    full = _full_resolution(homography, suspect_scale, source_scale)
    why = _plausible(full, suspect.shape[:2])
    if why:
        return Alignment(None, mirrored=mirrored, reason=why, **counts)
    full = _unmirrored(full, source.shape[1]) if mirrored else full / full[2, 2]
    return Alignment(full, mirrored=mirrored, by_intensity=True, reason="", **counts)


def align(suspect: np.ndarray, source: np.ndarray) -> Alignment:
    """Lay ``source`` onto ``suspect`` (H×W×3 uint8 RGB each), trying it mirrored when the plain
    fit fails, and by intensity where either has too few features for a fit. Always returns an
    ``Alignment``; ``found`` says whether it holds a homography."""
    suspect_grey, scale_suspect = for_matching(grey(suspect))
    source_grey, scale_source = for_matching(grey(source))
    suspect_features = _features(suspect_grey)
    plain = _fit(suspect_features, _features(source_grey), scale_suspect, scale_source,
                 suspect.shape[:2], None)
    if plain.found:
        return plain
    mirrored = _fit(suspect_features, _features(np.ascontiguousarray(source_grey[:, ::-1])), scale_suspect,
                    scale_source, suspect.shape[:2], source.shape[1])
    if mirrored.found:
        return mirrored
    failed = plain if plain.inliers >= mirrored.inliers else mirrored
    if min(failed.suspect_features, failed.source_features) < MIN_FEATURES_TO_JUDGE:
        return _by_intensity(suspect, source, failed)
    return failed


def refine(suspect_grey: np.ndarray, source_grey: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Sharpen a source→suspect homography (pixels of these two planes) by intensity (ECC).

    Returns the refined homography, or the given one where ECC does not converge or moves it
    implausibly far (more than 3 pixels at any corner of the suspect)."""
    warp = np.linalg.inv(homography).astype(np.float32)  # ECC warps the suspect's frame into the source
    warp /= warp[2, 2]
    try:
        _, refined = cv2.findTransformECC(suspect_grey.astype(np.float32), source_grey.astype(np.float32),
                                          warp, cv2.MOTION_HOMOGRAPHY, _ECC_CRITERIA, None, 3)
    except cv2.error:
        return homography
    height, width = suspect_grey.shape
    corners = np.float32([[[0, 0]], [[width, 0]], [[0, height]], [[width, height]]])
    before = cv2.perspectiveTransform(corners, warp.astype(np.float64))
    after = cv2.perspectiveTransform(corners, refined.astype(np.float64))
    if not np.all(np.isfinite(after)) or float(np.abs(after - before).max()) > 3.0:
        return homography
    result = np.linalg.inv(refined.astype(np.float64))
    return result / result[2, 2]
