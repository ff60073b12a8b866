"""Meeting reposts in the middle: derived PDQ queries and the victim-side hash set.

Plain PDQ misses most reposts: a 10 % border, a 5 % crop, a 2° rotation or a caption band
moves the hash well past the match threshold. Both sides can help:

* **Query side** (the platform, per upload): besides the image and its 8 dihedral
  variants, hash what the original probably looked like: the image with uniform borders
  and letterboxing trimmed, that with a caption band cut off the top (a fixed share, and the
  detected band, top or bottom), that mirrored in the pixels, and that rotated back by 1° or
  2° (centre-cropped to drop the corners). Where the upload's top or bottom row is one flat
  colour (a caption may be laid over the picture there), also the upload without its top,
  bottom, or top and bottom ``OVERLAY_CUT`` of rows.
* **Bank side** (the victim's device, once per image): besides the plain hash, a
  *hash set* of a few crops that reposts commonly are: centre crops keeping 95 % and
  90 % of each side, the four corner crops keeping 90 % (version 1), and, since version 2,
  the image without its top, bottom, or top and bottom ``OVERLAY_CUT`` of rows: a caption laid
  over the picture (a band of up to that share, which replaces the rows it covers) leaves the
  rest of the picture as it was, so the query side's same cut meets this crop within a few bits.
* **Provenance side** (a label, once per output): the PDQ hashes of a set of region crops
  (:func:`region_hashes`), signed in the manifest and registered as fingerprints; a copy meets
  them through its own crops and rotated-back forms at the same scale (:func:`region_queries`).

A plain PDQ hash from HMA or StopNCII is still found: the upload's own hash is always the
first query. The variants were chosen from measurements (docs/BENCHMARKS.md, "Reposts" and
"Overlaid captions"): each one earns its place on some transform, and none produced a false
match over 4.5 × 10⁶ unrelated pairs.

Derived images are hashed from one copy whose long side is at most ``DERIVED_MAX_SIDE``
(PDQ reduces every image to 64 × 64 anyway), made once per upload by :func:`query_shrink`;
derivations that cannot apply are skipped (the fixed caption cuts and the overlay cuts need a
flat edge row). The image's own hash is computed at full size, bit-identical to Meta's reference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deepshield.signals.pdq import PdqHash, pdq_from_pixels

# OpenCV (about 0.1 s to load) is imported inside the functions that use it, so importing
# this module for HASH_SET_VERSION, or hashing without derived images, does not load it.

#: The documented, versioned hash set a victim's device may store for each image.
#: Version 2 appends the three overlay cuts to version 1's six crops, which are unchanged.
HASH_SET_VERSION = "deepshield-hash-set/2"
#: Every version a bank still takes from a hashes file: each is a subset of the next (a version
#: appends variants), so an older set is fewer hashes of the same kind, never wrong ones.
READABLE_HASH_SET_VERSIONS = ("deepshield-hash-set/1", HASH_SET_VERSION)
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


def query_shrink(pixels: np.ndarray, max_side: int = DERIVED_MAX_SIDE) -> np.ndarray:
    """``pixels`` scaled down as :func:`shrink` does, for query hashes only, in a fraction of the time.

    OpenCV's area filter is about four times slower at a non-integer ratio than at exactly 2:1,
    so the image is first halved (2×2 means) while its long side is at least twice ``max_side``
    and both sides are even (an odd side would need a row or column dropped, which moves PDQ on a
    narrow image), then area-filtered the rest of the way. The result differs from
    :func:`shrink`'s by the rounding of the halved copy (a few grey levels in under 1 % of the
    pixels, at sharp edges; the same PDQ hash in tests). Bank-side hashes (the hash set) keep
    :func:`shrink`, so they stay as documented; a query only needs to land within the threshold.
    """
    import cv2

    height, width = pixels.shape[:2]
    while max(height, width) >= 2 * max_side and height % 2 == 0 and width % 2 == 0:
        height, width = height // 2, width // 2
        pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    return shrink(pixels, max_side)


def _is_uniform(line: np.ndarray, tolerance: int) -> bool:
    """Whether a row or column of pixels (N×3) is one flat colour, within ``tolerance``."""
    return bool((line.max(axis=0).astype(np.int16) - line.min(axis=0)).max() <= 2 * tolerance)


#: A caption band (a flat-coloured band with text, added above or below a picture) is cut off
#: where it is found: it starts at the edge with a row of one colour (within
#: ``2 × BORDER_TOLERANCE``), every row of it is at least ``_BAND_TEXT_SHARE`` that colour (text
#: rows are about half ink), and it ends after its last row of that colour alone (at least
#: ``_BAND_FLAT_SHARE``), before the first row that is not band. It is cut at full size: PDQ moves
#: about 30 bits when an edge moves by half a percent, so the cut must fall on the very row.
_BAND_FLAT_SHARE = 0.98
_BAND_TEXT_SHARE = 0.3
BAND_MIN_SHARE, BAND_MAX_SHARE = 0.04, 0.45  # of the height: shorter is a border, taller is the picture
_BAND_ROWS_PER_STEP = 64
#: A row's band-colour share is read on at most this many evenly spaced columns: the share of a
#: 1920-pixel row is as well told by every fourth pixel, and reading the flat edge of a 1080p upload
#: to the band's 45 % limit took about 16 ms of CPU (5 ms now).
_BAND_COLUMNS = 512


def starts_flat(row: np.ndarray, tolerance: int = 2 * BORDER_TOLERANCE) -> bool:
    """Whether a row of pixels (N×3) is one colour, within ``tolerance``, in ``_BAND_FLAT_SHARE`` of it.

    A caption band, added above the picture or laid over it, starts at the edge with such a row,
    and most photos do not: the derivations made for captions are skipped without one.
    """
    colour = np.median(row, axis=0).astype(np.int16)
    share = (np.abs(row.astype(np.int16) - colour).max(axis=-1) <= tolerance).mean()
    return bool(share >= _BAND_FLAT_SHARE)


def cut_caption_band(pixels: np.ndarray, from_top: bool = True,
                     tolerance: int = 2 * BORDER_TOLERANCE) -> np.ndarray | None:
    """``pixels`` without the caption band along its top (or bottom) edge; None when there is none.

    Rows are read in steps from the edge and the reading stops at the first row that is not band,
    so an image without a band costs one row.
    """
    height, width = pixels.shape[:2]
    rows = (pixels if from_top else pixels[::-1])[:, ::-(-width // _BAND_COLUMNS)]
    colour = np.median(rows[0], axis=0).astype(np.int16)

    def colour_share(part: np.ndarray) -> np.ndarray:
        return (np.abs(part.astype(np.int16) - colour).max(axis=-1) <= tolerance).mean(axis=-1)

    if colour_share(rows[:1])[0] < _BAND_FLAT_SHARE:
        return None
    limit = int(height * BAND_MAX_SHARE)
    last_flat, start = 0, 0
    while start < limit:
        shares = colour_share(rows[start:min(start + _BAND_ROWS_PER_STEP, limit)])
        below = np.flatnonzero(shares < _BAND_TEXT_SHARE)
        band_rows = shares[:below[0]] if below.size else shares
        flat = np.flatnonzero(band_rows >= _BAND_FLAT_SHARE)
        if flat.size:
            last_flat = start + int(flat[-1])
        if below.size:
            band = last_flat + 1
            if band < BAND_MIN_SHARE * height:
                return None
            return pixels[band:] if from_top else pixels[:height - band]
        start += _BAND_ROWS_PER_STEP
    return None  # band-like rows all the way: a flat picture, not a caption


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


def cut_rows(pixels: np.ndarray, top: float, bottom: float) -> np.ndarray:
    """``pixels`` without its top ``top`` and bottom ``bottom`` shares of rows, all columns kept."""
    height = pixels.shape[0]
    return pixels[round(height * top):height - round(height * bottom)]


def rotate_crop(pixels: np.ndarray, degrees: float, keep: float = 0.9, linear: bool = False) -> np.ndarray:
    """``pixels`` rotated by ``degrees`` (counter-clockwise) about the centre, centre-cropped.

    ``linear`` is the derived queries' faster form: it samples bilinearly instead of bicubically
    and computes only the kept centre (about eight times faster at 512 px; a query rotated back
    this way finds the same reposts, docs/BENCHMARKS.md, "Overlaid captions"). The default form
    stays as the region queries were measured with.
    """
    import cv2

    height, width = pixels.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    if not linear:
        rotated = cv2.warpAffine(pixels, matrix, (width, height), flags=cv2.INTER_CUBIC,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        return crop(rotated, keep)
    kept_h, kept_w = max(1, round(height * keep)), max(1, round(width * keep))
    # Shifting the output by the crop's corner rotates straight into the kept centre, the same
    # window that crop() would cut (to within a rounding of OpenCV's fixed-point coordinates).
    matrix[0, 2] -= round((width - kept_w) * 0.5)
    matrix[1, 2] -= round((height - kept_h) * 0.5)
    return cv2.warpAffine(pixels, matrix, (kept_w, kept_h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


#: A caption laid over the picture (issue 17: a flat band with text over the top or bottom 10-15 %
#: of the rows) is cut off by dropping this share of the rows at its edge, on both sides: the
#: bank side drops it from the original, the query side from the upload. Any band up to this
#: share goes with the cut, and what is left is the very same crop of the picture, so the two
#: meet within a few bits, where PDQ moves about 30 bits when an edge moves by half a percent. A
#: fifth leaves room for bands taller than the usual 15 % (two lines of text).
OVERLAY_CUT = 0.20

#: Bank side, version 2: name → how to derive it from the original image (its first six are
#: version 1's).
HASH_SET_VARIANTS: dict[str, Derivation] = {
    "crop95": lambda p: crop(p, 0.95),
    "crop90": lambda p: crop(p, 0.90),
    "corner90-tl": lambda p: crop(p, 0.90, 0, 0),
    "corner90-tr": lambda p: crop(p, 0.90, 0, 1),
    "corner90-bl": lambda p: crop(p, 0.90, 1, 0),
    "corner90-br": lambda p: crop(p, 0.90, 1, 1),
    "cut-top20": lambda p: cut_rows(p, OVERLAY_CUT, 0),
    "cut-bottom20": lambda p: cut_rows(p, 0, OVERLAY_CUT),
    "cut-both20": lambda p: cut_rows(p, OVERLAY_CUT, OVERLAY_CUT),
}

#: Query side: name → derivation from the upload, after its uniform borders are trimmed. The
#: caption cuts are made only when the upload starts with a flat row (a caption band does).
CAPTION_VARIANTS: dict[str, Derivation] = {
    "caption10": lambda p: cut_top(p, 0.10),
    "caption15": lambda p: cut_top(p, 0.15),
    "caption20": lambda p: cut_top(p, 0.20),
}
ROTATION_VARIANTS: dict[str, Derivation] = {
    "rotate-2": lambda p: rotate_crop(p, -2.0, linear=True),
    "rotate-1": lambda p: rotate_crop(p, -1.0, linear=True),
    "rotate+1": lambda p: rotate_crop(p, 1.0, linear=True),
    "rotate+2": lambda p: rotate_crop(p, 2.0, linear=True),
}
QUERY_VARIANTS: dict[str, Derivation] = {**CAPTION_VARIANTS, **ROTATION_VARIANTS}
#: Query side, from the upload as it is (an overlaid caption keeps the picture's size): each cut
#: is made only when the rows it drops start with a flat row. They meet the hash set's cuts.
OVERLAY_VARIANTS: dict[str, tuple[bool, bool, Derivation]] = {  # (needs a flat top, a flat bottom)
    "overlay-top": (True, False, lambda p: cut_rows(p, OVERLAY_CUT, 0)),
    "overlay-bottom": (False, True, lambda p: cut_rows(p, 0, OVERLAY_CUT)),
    "overlay-both": (True, True, lambda p: cut_rows(p, OVERLAY_CUT, OVERLAY_CUT)),
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


#: Provenance side: the crops whose PDQ hashes a label's manifest signs (as region-scoped
#: soft-binding blocks) and registers as fingerprints, so a cropped copy can still be found and
#: compared. Version 1 was the grid alone; version 2 adds the anchored ladder (below).
#:
#: The grid, (keep, positions per side): the crop keeps ``keep`` of each side, at ``positions``
#: evenly spaced places from one edge to the other. 25 + 49 = 74 regions.
REGION_SET_VERSION = "deepshield-regions/2"
REGION_GRID: tuple[tuple[float, int], ...] = ((0.90, 5), (0.75, 7))
#: The anchored ladder: crops keeping each of ``REGION_LADDER`` at each of ``REGION_ANCHORS`` (the
#: four corners and the centre, as (y, x) fractions, where crops are usually taken). With the
#: grid's 0.90 and 0.75 (which have those anchors too) the scales run 0.90, 0.82, 0.75, 0.68,
#: 0.62, 0.56: each about 91 % of the one before. 5 × 4 = 20 regions, 94 in all.
REGION_ANCHORS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0), (0.5, 0.5))
REGION_LADDER: tuple[float, ...] = (0.82, 0.68, 0.62, 0.56)
#: Region hashes are taken from the image scaled to this long side: PDQ works on a 64×64
#: reduction anyway, and this keeps 94 hashes to tens of milliseconds.
REGION_MAX_SIDE = 256
REGION_COUNT = sum(positions * positions for _, positions in REGION_GRID) + \
    len(REGION_ANCHORS) * len(REGION_LADDER)

#: Query side of the regions. PDQ is sharp about geometry: a crop whose edges are 1 % of a side
#: off from a signed region's moves about 45 bits, past the match threshold. A copy cropped to
#: keep k of each side at a corner or the centre is therefore met by its own crops at that anchor
#: keeping c of each side, for c in ``REGION_QUERY_KEEPS`` (1 % steps down to 90 %, the ladder's
#: spacing): k × c lands within half a percent of one signed scale. Each crop is hashed at
#: ``REGION_MAX_SIDE``, the regions' own size, so the pixel grids agree.
REGION_QUERY_KEEPS: tuple[float, ...] = (0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90)
#: A rotated copy is rotated back by each of these (degrees) at ``REGION_MAX_SIDE`` and its centre
#: 90 % kept, which meets the signed centre region of the grid's 0.90 crops.
REGION_QUERY_ROTATIONS: tuple[float, ...] = (-3.0, -2.0, -1.0, 1.0, 2.0, 3.0)
_ANCHOR_NAMES = {(0.0, 0.0): "tl", (0.0, 1.0): "tr", (1.0, 0.0): "bl", (1.0, 1.0): "br", (0.5, 0.5): "c"}

Region = tuple[float, float, float, float]  # x, y, width, height as fractions of the image


def _region(base: np.ndarray, keep: float, anchor_y: float, anchor_x: float) -> tuple[Region, PdqHash]:
    height, width = base.shape[:2]
    kept_h, kept_w = max(1, round(height * keep)), max(1, round(width * keep))
    top, left = round((height - kept_h) * anchor_y), round((width - kept_w) * anchor_x)
    region = (left / width, top / height, kept_w / width, kept_h / height)
    return region, pdq_from_pixels(np.ascontiguousarray(crop(base, keep, anchor_y, anchor_x)))


def grid_regions(base: np.ndarray, grid: tuple[tuple[float, int], ...]) -> list[tuple[Region, PdqHash]]:
    """The PDQ hash of each crop of ``grid`` ((keep, positions per side), row by row) of ``base``
    (an image already shrunk to ``REGION_MAX_SIDE``), with where it lies."""
    return [_region(base, keep, row / (positions - 1), column / (positions - 1))
            for keep, positions in grid for row in range(positions) for column in range(positions)]


def region_hashes(pixels: np.ndarray) -> list[tuple[Region, PdqHash]]:
    """The PDQ hash of every region of :data:`REGION_SET_VERSION` (the grid's, then the ladder's),
    with where it lies (fractions of the image)."""
    base = shrink(pixels, REGION_MAX_SIDE)
    found = grid_regions(base, REGION_GRID)
    for anchor_y, anchor_x in REGION_ANCHORS:
        for keep in REGION_LADDER:
            found.append(_region(base, keep, anchor_y, anchor_x))
    return found


def region_queries(pixels: np.ndarray) -> list[tuple[str, PdqHash]]:
    """Query hashes that meet :func:`region_hashes` of the image a copy was made from: the copy's
    own crops at each anchor (``region-crop93-tl``: keeping 93 % of each side at the top left) and
    its rotated-back centres (``region-rotate+3``), all at ``REGION_MAX_SIDE``. 56 hashes, tens of
    milliseconds; callers drop those below the PDQ quality minimum."""
    base = shrink(pixels, REGION_MAX_SIDE)
    if min(base.shape[:2]) < _MIN_SIDE:
        return []
    hashes = [(f"region-crop{round(keep * 100)}-{_ANCHOR_NAMES[anchor]}", _region(base, keep, *anchor)[1])
              for anchor in REGION_ANCHORS for keep in REGION_QUERY_KEEPS]
    for degrees in REGION_QUERY_ROTATIONS:
        rotated_back = np.ascontiguousarray(rotate_crop(base, degrees))
        hashes.append((f"region-rotate{degrees:+g}", pdq_from_pixels(rotated_back)))
    return hashes


def derived_queries(pixels: np.ndarray) -> list[tuple[str, PdqHash]]:
    """Extra query hashes for an upload: border-trimmed, mirrored, caption-cut, rotated-back and
    overlay-cut forms.

    The upload's own hash and its dihedral variants are not included; callers have them. The
    dihedral flip is computed from PDQ's transform and can sit up to about 30 bits from the hash
    of the mirrored pixels; ``mirrored`` is the latter, so a mirrored copy meets its original
    within a few bits.
    """
    import cv2

    small = query_shrink(pixels)
    trimmed = trim_uniform_borders(small)
    hashes: list[tuple[str, PdqHash]] = []
    if trimmed is not small:
        hashes.append(("trimmed", pdq_from_pixels(np.ascontiguousarray(trimmed))))
    hashes.append(("mirrored", pdq_from_pixels(cv2.flip(small, 1))))  # 40 times faster than a numpy copy
    for name, from_top in (("band-top", True), ("band-bottom", False)):
        without_band = cut_caption_band(pixels, from_top)
        if without_band is not None and min(without_band.shape[:2]) >= _MIN_SIDE:
            hashes.append((name, pdq_from_pixels(np.ascontiguousarray(query_shrink(without_band)))))
    flat_top, flat_bottom = starts_flat(small[0]), starts_flat(small[-1])
    hashes += _hash_variants(trimmed, QUERY_VARIANTS if flat_top else ROTATION_VARIANTS)
    overlays = {name: derive for name, (top, bottom, derive) in OVERLAY_VARIANTS.items()
                if (flat_top or not top) and (flat_bottom or not bottom)}
    return hashes + _hash_variants(small, overlays)
