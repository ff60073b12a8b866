"""Local features of a labelled output, to place a crop taken anywhere once its watermark is gone.

A crop keeping 60-70 % of each side at an arbitrary place meets none of a label's signed PDQ
regions (they sit at the corners and the centre, and PDQ moves about 45 bits when a crop's edge
is 1 % of a side off). While the watermark is there it places the crop (``watermark.Placement``);
an attacker who removed it (with the key, by folding, by averaging many marked images) removed
that too. Local features do not care where a crop was cut: ORB keypoints (OpenCV: FAST corners
with binary BRIEF descriptors, 256 bits each) of the copy are matched with those of the labelled
output, and a RANSAC fit of the matched positions says where the copy lies in it, to a fraction
of a percent of a side.

That is all they are used for. The repository keeps each label's :func:`keypoints` (``to_bytes``;
they are search aids, not evidence, and are not signed), finds candidate labels for a copy by its
own features, and :func:`locate` gives the copy's box in each candidate's output. Whether the copy
*is* a crop of that output is then decided by the label's signed regions cut where the box says
(``signals.placed_regions``), exactly as for a crop placed by the watermark.

Features are taken from the image scaled to ``KEYPOINT_MAX_SIDE`` on its long side; positions are
kept as fractions of the image, so any size of copy compares with any size of output. A stored set
holds ``STORED_KEYPOINTS`` keypoints spread over a 4 × 4 grid (the strongest in each cell first),
so that a crop anywhere keeps a share of them proportional to its area.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from deepshield.signals.repost import shrink

#: The version of the stored form (``to_bytes``), and of how features are taken.
KEYPOINT_SET_VERSION = "deepshield-keypoints/1"
_FORMAT_TAG = b"DSK1"
_HEADER = 10  # the tag, then the count, height and width (16 bits each)
KEYPOINT_MAX_SIDE = 512
#: Keypoints kept per labelled output (5 kB stored), and taken from a copy to match with.
STORED_KEYPOINTS = 160
QUERY_KEYPOINTS = 400
#: The most keypoints a stored set may hold: ``from_bytes`` refuses more.
MAX_KEYPOINTS = 512
DESCRIPTOR_BYTES = 32
#: A match must be this much nearer than the next (Lowe's ratio test) and within this many bits.
MATCH_RATIO = 0.8
MATCH_MAX_BITS = 64
#: Matched pairs that must agree on one geometry (RANSAC inliers) before a place is reported.
#: Unrelated photos: at most 10 of 400 query keypoints against 160 stored (120 pairs measured,
#: docs/PROVENANCE.md); a crop of the output keeping 60 % of each side: 30 or more in 95 %.
MIN_INLIERS = 15
#: How far (pixels of the stored image, at most 512 a side) a matched pair may sit from the fit.
RANSAC_TOLERANCE = 4.0
#: A place is given only for an upright copy (rotated by at most about half a degree): the signed
#: regions are cut axis-aligned.
MAX_SKEW = 0.01
_GRID = 4
_DETECTED = 1500
_MIN_SIDE = 32


class InvalidKeypoints(ValueError):
    """A stored keypoint set that is not of this format (truncated, oversized, not a set)."""


@dataclass(frozen=True, eq=False)
class Keypoints:
    """ORB keypoints of an image: ``points`` (n × 2, x and y as fractions of the image's width
    and height), their ``descriptors`` (n × 32 bytes), and ``size``, the (height, width) in pixels
    of the image they were taken from (scaled to ``KEYPOINT_MAX_SIDE``): its aspect, for fits."""

    points: np.ndarray
    descriptors: np.ndarray
    size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class Located:
    """Where a copy lies in an image whose keypoints it matched: ``box`` (x, y, width, height as
    fractions of that image), and how many matched pairs agreed on it."""

    box: tuple[float, float, float, float]
    inliers: int
    matches: int


def _empty(size: tuple[int, int]) -> Keypoints:
    return Keypoints(np.zeros((0, 2), np.float32), np.zeros((0, DESCRIPTOR_BYTES), np.uint8), size)


def keypoints(pixels: np.ndarray, count: int = STORED_KEYPOINTS) -> Keypoints:
    """At most ``count`` ORB keypoints of ``pixels`` (H×W×3 RGB uint8), spread over the image:
    each cell of a 4 × 4 grid first gives its strongest ``count / 16``, the strongest of the rest
    fill the remainder. Deterministic for the same pixels."""
    import cv2

    small = shrink(pixels, KEYPOINT_MAX_SIDE)
    size = (int(small.shape[0]), int(small.shape[1]))
    if min(size) < _MIN_SIDE:
        return _empty(size)
    gray = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    orb = cv2.ORB_create(nfeatures=_DETECTED, edgeThreshold=15, patchSize=31, fastThreshold=10)
    found, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or not found:
        return _empty(size)
    xy = np.array([point.pt for point in found], np.float32)
    response = np.array([point.response for point in found], np.float32)
    cell = (np.minimum(_GRID - 1, (xy[:, 1] * _GRID / height).astype(int)) * _GRID
            + np.minimum(_GRID - 1, (xy[:, 0] * _GRID / width).astype(int)))
    order = np.lexsort((-response, cell))  # by cell, strongest first within each
    starts = np.searchsorted(cell[order], np.arange(_GRID * _GRID))
    rank = np.empty(len(order), int)  # each keypoint's place among its cell's, strongest 0
    rank[order] = np.arange(len(order)) - starts[cell[order]]
    per_cell = max(1, count // (_GRID * _GRID))
    first = np.flatnonzero(rank < per_cell)
    rest = np.flatnonzero(rank >= per_cell)
    rest = rest[np.argsort(-response[rest], kind="stable")][:max(0, count - len(first))]
    chosen = np.concatenate([first[np.argsort(-response[first], kind="stable")], rest])[:count]
    points = xy[chosen] / np.array([width, height], np.float32)
    return Keypoints(points.astype(np.float32), np.ascontiguousarray(descriptors[chosen], dtype=np.uint8),
                     size)


def to_bytes(found: Keypoints) -> bytes:
    """The stored form: a tag, the count, the image's height and width, then per keypoint x and y
    (16-bit fractions of the side) and its 32-byte descriptor. 36 bytes a keypoint."""
    count = len(found)
    if count > MAX_KEYPOINTS:
        raise ValueError(f"at most {MAX_KEYPOINTS} keypoints are stored")
    positions = np.clip(np.round(found.points * 65535), 0, 65535).astype(">u2")
    return (_FORMAT_TAG + struct.pack(">HHH", count, *found.size) + positions.tobytes()
            + np.ascontiguousarray(found.descriptors, dtype=np.uint8).tobytes())


def from_bytes(data: bytes) -> Keypoints:
    """A stored set back (``InvalidKeypoints`` for anything ``to_bytes`` did not write)."""
    if len(data) < _HEADER or data[:4] != _FORMAT_TAG:
        raise InvalidKeypoints(f"not a {KEYPOINT_SET_VERSION} keypoint set")
    count, height, width = struct.unpack(">HHH", data[4:_HEADER])
    if count > MAX_KEYPOINTS:
        raise InvalidKeypoints(f"a keypoint set holds at most {MAX_KEYPOINTS} keypoints, not {count}")
    if len(data) != _HEADER + count * (4 + DESCRIPTOR_BYTES):
        raise InvalidKeypoints(f"a set of {count} keypoints is {_HEADER + count * (4 + DESCRIPTOR_BYTES)} "
                               f"bytes, not {len(data)}")
    if not 0 < height <= KEYPOINT_MAX_SIDE or not 0 < width <= KEYPOINT_MAX_SIDE:
        raise InvalidKeypoints(f"a keypoint set's image is at most {KEYPOINT_MAX_SIDE} pixels a side, "
                               f"not {width}×{height}")
    end = _HEADER + count * 4
    points = np.frombuffer(data[_HEADER:end], ">u2").reshape(count, 2).astype(np.float32) / 65535
    descriptors = np.frombuffer(data[end:], np.uint8).reshape(count, DESCRIPTOR_BYTES).copy()
    return Keypoints(points, descriptors, (height, width))


def locate(copy: Keypoints, stored: Keypoints) -> Located | None:
    """Where the image whose keypoints are ``copy`` lies in the image of ``stored``, or None: too
    few matches agree (``MIN_INLIERS``) on one scale and shift, or they agree on a rotation
    (beyond ``MAX_SKEW``). A copy stretched to another aspect is placed as if it kept the stored
    image's (the fingerprint rules meet those)."""
    import cv2

    if len(copy) < MIN_INLIERS or len(stored) < MIN_INLIERS:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(copy.descriptors, stored.descriptors, k=2)
    good = [best for best, second in (pair for pair in pairs if len(pair) == 2)
            if best.distance <= MATCH_MAX_BITS and best.distance < MATCH_RATIO * second.distance]
    if len(good) < MIN_INLIERS:
        return None
    # Both in their own pixels (at the scale features were taken at): the fit finds the scale.
    height, width = copy.size
    stored_h, stored_w = stored.size
    source = np.array([copy.points[m.queryIdx] for m in good], np.float64) * (width, height)
    target = np.array([stored.points[m.trainIdx] for m in good], np.float64) * (stored_w, stored_h)
    # A similarity (scale, rotation, shift): a crop, resized or not, is one; the rotation must then
    # be nil. A full affine fit let a crop's matches, spread along one axis, stretch the other.
    matrix, inliers = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC,
                                                  ransacReprojThreshold=RANSAC_TOLERANCE, maxIters=2000,
                                                  confidence=0.999, refineIters=10)
    if matrix is None or inliers is None or int(inliers.sum()) < MIN_INLIERS:
        return None
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))  # stored pixels per copy pixel
    if matrix[0, 0] <= 0 or abs(matrix[1, 0]) > MAX_SKEW * scale:
        return None
    box = (float(matrix[0, 2] / stored_w), float(matrix[1, 2] / stored_h),
           scale * width / stored_w, scale * height / stored_h)
    return Located(box, int(inliers.sum()), len(good))
