"""Meeting reposts in the middle: derived PDQ queries and the victim-side hash set.

Plain PDQ misses most reposts: a 10 % border, a 5 % crop, a 2° rotation or a caption band
moves the hash well past the match threshold. Both sides can help:

* **Query side** (the platform, per upload): besides the image and its 8 dihedral
  variants, hash what the original probably looked like: the image with uniform borders
  and letterboxing trimmed, that with a caption band cut off the top, and that rotated
  back by 1° or 2° (centre-cropped to drop the corners).
* **Bank side** (the victim's device, once per image): besides the plain hash, a
  *hash set* of a few crops that reposts commonly are: centre crops keeping 95 % and
  90 % of each side, and the four corner crops keeping 90 %.

A plain PDQ hash from HMA or StopNCII is still found: the upload's own hash is always the
first query. The variants were chosen from measurements (docs/BENCHMARKS.md, "Reposts"):
each one earns its place on some transform, and none produced a false match over 3 × 10⁶
unrelated pairs.

Derived images are hashed from a copy whose long side is at most ``DERIVED_MAX_SIDE``:
PDQ reduces every image to 64 × 64 anyway, and this keeps eleven extra hashes of a
1080p upload in the tens of milliseconds. The image's own hash is computed at full size,
bit-identical to Meta's reference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deepshield.signals.pdq import PdqHash, pdq_from_pixels

# OpenCV (about 0.1 s to load) is imported inside the two functions that use it, so importing
# this module for HASH_SET_VERSION, or hashing without derived images, does not load it.

#: The documented, versioned hash set a victim's device may store for each image.
HASH_SET_VERSION = "deepshield-hash-set/1"
DERIVED_MAX_SIDE = 512
#: Colour spread (per channel, 0-255) below which an edge row or column counts as border.
BORDER_TOLERANCE = 12
_MIN_SIDE = 32

Derivation = Callable[[np.ndarray], np.ndarray | None]


def shrink(pixels: np.ndarray, max_side: int = DERIVED_MAX_SIDE) -> np.ndarray:
    """``pixels`` scaled down (area filter) so the long side is at most ``max_side``."""
    height, width = pixels.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return pixels
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    import cv2

    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _is_uniform(line: np.ndarray, tolerance: int) -> bool:
    """Whether a row or column of pixels (N×3) is one flat colour, within ``tolerance``."""
    return bool((line.max(axis=0).astype(np.int16) - line.min(axis=0)).max() <= 2 * tolerance)


def trim_uniform_borders(pixels: np.ndarray, tolerance: int = BORDER_TOLERANCE) -> np.ndarray:
    """``pixels`` without flat-coloured rows and columns along its edges (borders, letterboxing).

    Returns the input itself when there is nothing to trim, or when trimming would leave
    less than a sliver.
    """
    height, width = pixels.shape[:2]
    top, bottom, left, right = 0, height, 0, width
    while bottom - top > _MIN_SIDE and _is_uniform(pixels[top], tolerance):
        top += 1
    while bottom - top > _MIN_SIDE and _is_uniform(pixels[bottom - 1], tolerance):
        bottom -= 1
    while right - left > _MIN_SIDE and _is_uniform(pixels[top:bottom, left], tolerance):
        left += 1
    while right - left > _MIN_SIDE and _is_uniform(pixels[top:bottom, right - 1], tolerance):
        right -= 1
    if (top, bottom, left, right) == (0, height, 0, width):
        return pixels
    return pixels[top:bottom, left:right]


def crop(pixels: np.ndarray, keep: float, anchor_y: float = 0.5, anchor_x: float = 0.5) -> np.ndarray:
    """The part keeping ``keep`` of each side; anchors 0 / 0.5 / 1 put it at an edge or centre."""
    height, width = pixels.shape[:2]
    kept_h, kept_w = max(1, round(height * keep)), max(1, round(width * keep))
    top = round((height - kept_h) * anchor_y)
    left = round((width - kept_w) * anchor_x)
    return pixels[top:top + kept_h, left:left + kept_w]


def cut_top(pixels: np.ndarray, fraction: float) -> np.ndarray:
    """``pixels`` without its top ``fraction`` of rows (where a meme caption sits)."""
    return pixels[round(pixels.shape[0] * fraction):]


def rotate_crop(pixels: np.ndarray, degrees: float, keep: float = 0.9) -> np.ndarray:
    """``pixels`` rotated by ``degrees`` (counter-clockwise) about the centre, centre-cropped."""
    import cv2

    height, width = pixels.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    rotated = cv2.warpAffine(pixels, matrix, (width, height), flags=cv2.INTER_CUBIC,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return crop(rotated, keep)


#: Bank side, version 1: name → how to derive it from the original image.
HASH_SET_VARIANTS: dict[str, Derivation] = {
    "crop95": lambda p: crop(p, 0.95),
    "crop90": lambda p: crop(p, 0.90),
    "corner90-tl": lambda p: crop(p, 0.90, 0, 0),
    "corner90-tr": lambda p: crop(p, 0.90, 0, 1),
    "corner90-bl": lambda p: crop(p, 0.90, 1, 0),
    "corner90-br": lambda p: crop(p, 0.90, 1, 1),
}

#: Query side: name → derivation from the upload, after its uniform borders are trimmed.
QUERY_VARIANTS: dict[str, Derivation] = {
    "caption10": lambda p: cut_top(p, 0.10),
    "caption15": lambda p: cut_top(p, 0.15),
    "caption20": lambda p: cut_top(p, 0.20),
    "rotate-2": lambda p: rotate_crop(p, -2.0),
    "rotate-1": lambda p: rotate_crop(p, -1.0),
    "rotate+1": lambda p: rotate_crop(p, 1.0),
    "rotate+2": lambda p: rotate_crop(p, 2.0),
}


def _hash_variants(base: np.ndarray, derivations: dict[str, Derivation]) -> list[tuple[str, PdqHash]]:
    hashes = []
    for name, derive in derivations.items():
        derived = derive(base)
        if derived is not None and min(derived.shape[:2]) >= _MIN_SIDE:
            hashes.append((name, pdq_from_pixels(np.ascontiguousarray(derived))))
    return hashes


def hash_set(pixels: np.ndarray) -> list[tuple[str, PdqHash]]:
    """The extra hashes of :data:`HASH_SET_VERSION` for an original image (not its plain hash)."""
    return _hash_variants(shrink(pixels), HASH_SET_VARIANTS)


#: Provenance side, version 1: a grid of crops whose PDQ hashes a label's manifest signs (as
#: region-scoped soft-binding blocks), so a cropped copy can still be compared with its
#: registered fingerprint. (keep, positions per side): the crop keeps ``keep`` of each side, at
#: ``positions`` evenly spaced places from one edge to the other. 25 + 49 = 74 regions.
REGION_SET_VERSION = "deepshield-regions/1"
REGION_GRID: tuple[tuple[float, int], ...] = ((0.90, 5), (0.75, 7))
#: Region hashes are taken from the image scaled to this long side: PDQ works on a 64×64
#: reduction anyway, and this keeps 74 hashes to tens of milliseconds.
REGION_MAX_SIDE = 256

Region = tuple[float, float, float, float]  # x, y, width, height as fractions of the image


def region_hashes(pixels: np.ndarray) -> list[tuple[Region, PdqHash]]:
    """The PDQ hash of every crop of :data:`REGION_GRID`, with where it lies (fractions)."""
    base = shrink(pixels, REGION_MAX_SIDE)
    height, width = base.shape[:2]
    found: list[tuple[Region, PdqHash]] = []
    for keep, positions in REGION_GRID:
        kept_h, kept_w = max(1, round(height * keep)), max(1, round(width * keep))
        for row in range(positions):
            for column in range(positions):
                anchor_y, anchor_x = row / (positions - 1), column / (positions - 1)
                part = crop(base, keep, anchor_y, anchor_x)
                top, left = round((height - kept_h) * anchor_y), round((width - kept_w) * anchor_x)
                region = (left / width, top / height, kept_w / width, kept_h / height)
                found.append((region, pdq_from_pixels(np.ascontiguousarray(part))))
    return found


def derived_queries(pixels: np.ndarray) -> list[tuple[str, PdqHash]]:
    """Extra query hashes for an upload: border-trimmed, caption-cut and rotated-back forms.

    The upload's own hash and its dihedral variants are not included; callers have them.
    """
    small = shrink(pixels)
    trimmed = trim_uniform_borders(small)
    hashes: list[tuple[str, PdqHash]] = []
    if trimmed is not small:
        hashes.append(("trimmed", pdq_from_pixels(np.ascontiguousarray(trimmed))))
    return hashes + _hash_variants(trimmed, QUERY_VARIANTS)
