"""Is a suspect image a suspected source, and where does it differ from it?

``compare(suspect, source)`` answers with one of four outcomes and the numbers behind it:

* ``derived_local_difference``: the suspect is the source's picture (aligned by many agreeing
  features, and agreeing pixel for pixel over most of the overlap once tones are fitted), except
  in the regions listed;
* ``derived_no_difference``: the same, with no region that differs;
* ``not_derived``: both pictures have plenty of detail and next to none of it matches: this
  source is not the suspect's origin (it says nothing about any other source);
* ``inconclusive``: the alignment or the overlap is too weak to say either. Always preferred to
  a wrong answer: too few features, an implausible fit, too little overlap, or an overlap that
  differs almost everywhere (a different shot of one scene, or a whole frame re-rendered).

It measures differences from a source and nothing else: it cannot call a picture fake or real,
and a genuine photo compared with its own original is ``derived_no_difference``. Faces are not
found here; a caller that knows where faces are passes their boxes, and each region then says how
much of a face it covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from deepshield.forensics.alignment import (
    MIN_FEATURES_TO_JUDGE,
    UNRELATED_MAX_INLIERS,
    Alignment,
    align,
    grey,
    refine,
    scaled,
)
from deepshield.forensics.difference import (
    LOW,
    DifferenceMap,
    detail_correlation,
    difference,
    fit_filter,
    fit_tones,
    regions,
)

METHOD_VERSION = "deepshield-forensics-compare/1"
#: The difference is measured on the suspect scaled (down only) to this long side.
COMPARE_LONG_SIDE = 768
#: The least share of the suspect the source must cover.
MIN_OVERLAP = 0.3
#: The least share of the overlap outside the regions that must agree with the source (its
#: difference ratio under ``difference.LOW``, the bound a region grows to).
MIN_AGREEMENT = 0.9
#: The least correlation of the two pictures' detail outside the regions (``detail_correlation``):
#: one picture reposted typically keeps 0.93 or more (5th percentile of the tuning set), a wrong
#: alignment 0.3-0.6, a non-rigid warp of a few pixels 0.65-0.8.
MIN_CORRELATION = 0.8
#: A region whose own detail correlates with the source's at this or more is not reported.
REGION_MAX_CORRELATION = 0.85
#: The most of the overlap the regions may cover: beyond it, this is not "the source with a
#: region replaced".
MAX_REGION_SHARE = 0.4
#: The smallest side (pixels) either picture may have.
MIN_SIDE = 32
#: Pixels at the overlap's edge left out (resampling there mixes in the outside).
_EDGE_PX = 3


class Outcome(StrEnum):
    DERIVED_LOCAL_DIFFERENCE = "derived_local_difference"
    DERIVED_NO_DIFFERENCE = "derived_no_difference"
    NOT_DERIVED = "not_derived"
    INCONCLUSIVE = "inconclusive"

    @property
    def derived(self) -> bool:
        return self in (Outcome.DERIVED_LOCAL_DIFFERENCE, Outcome.DERIVED_NO_DIFFERENCE)


@dataclass(frozen=True)
class Region:
    """A region of the suspect that differs from the source (suspect pixels, full resolution)."""

    box: tuple[int, int, int, int]  # x, y, width, height
    area: float  # share of the overlap
    strength: float  # mean difference over the expected repost noise inside it
    face_overlap: float | None  # share of the most-covered face box inside the region; None: no faces given


@dataclass(frozen=True)
class ComparisonViews:
    """The pictures behind a comparison, at the comparison scale (for figures and masks)."""

    suspect: np.ndarray  # uint8 RGB
    aligned_source: np.ndarray  # uint8 RGB: the source laid onto the suspect, tones fitted
    ratio: np.ndarray  # float32: the difference ratio (0 outside the overlap)
    valid: np.ndarray  # bool: where the source covers the suspect
    region_mask: np.ndarray  # bool: inside a reported region


@dataclass(frozen=True)
class Comparison:
    outcome: Outcome
    reason: str
    inliers: int
    matches: int
    mirrored: bool
    overlap: float  # share of the suspect the source covers (0 when not aligned)
    noise_floor: float | None  # levels
    tone_shift: float | None  # levels
    agreement: float | None  # share of the overlap outside the regions that agrees with the source
    correlation: float | None = None  # of the two pictures' detail outside the regions
    regions: tuple[Region, ...] = ()
    suspect_size: tuple[int, int] = (0, 0)  # width, height
    homography: tuple[tuple[float, ...], ...] | None = None  # source → suspect, full resolution
    aligned_by: str | None = None  # "features" (SIFT + MAGSAC) or "intensity" (ECC, few features)
    method: str = METHOD_VERSION
    views: ComparisonViews | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        """The numbers as plain JSON values (no pictures)."""
        return {
            "outcome": self.outcome.value, "reason": self.reason, "method": self.method,
            "inliers": self.inliers, "matches": self.matches, "mirrored": self.mirrored,
            "overlap": round(self.overlap, 4),
            "noise_floor": None if self.noise_floor is None else round(self.noise_floor, 2),
            "tone_shift": None if self.tone_shift is None else round(self.tone_shift, 2),
            "agreement": None if self.agreement is None else round(self.agreement, 4),
            "correlation": None if self.correlation is None else round(self.correlation, 4),
            "suspect_size": list(self.suspect_size),
            "homography": None if self.homography is None else [list(row) for row in self.homography],
            "aligned_by": self.aligned_by,
            "regions": [{"box": list(region.box), "area": round(region.area, 4),
                         "strength": round(region.strength, 2),
                         "face_overlap": None if region.face_overlap is None
                         else round(region.face_overlap, 3)}
                        for region in self.regions],
        }

    def mask(self) -> np.ndarray:
        """uint8 mask of the suspect's full size: 255 where a reported region lies, 0 elsewhere."""
        width, height = self.suspect_size
        if self.views is None or not self.views.region_mask.any():
            return np.zeros((height, width), np.uint8)
        small = self.views.region_mask.astype(np.uint8) * 255
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)


def _unaligned(alignment: Alignment, suspect_size: tuple[int, int]) -> Comparison:
    if alignment.unrelated:
        outcome = Outcome.NOT_DERIVED
        reason = (f"the two pictures share next to no detail ({alignment.inliers} matched features agree "
                  f"on one geometry, of {alignment.suspect_features} and {alignment.source_features})")
    else:
        outcome = Outcome.INCONCLUSIVE
        if min(alignment.suspect_features, alignment.source_features) < MIN_FEATURES_TO_JUDGE \
                and alignment.inliers < UNRELATED_MAX_INLIERS:
            reason = "one of the pictures has too little detail to align"
        else:
            reason = f"they could not be aligned: {alignment.reason}"
    return Comparison(outcome, reason, alignment.inliers, alignment.matches, alignment.mirrored, 0.0,
                      None, None, None, suspect_size=suspect_size)


def _face_overlap(region_mask: np.ndarray, faces: Sequence[tuple[int, int, int, int]] | None,
                  scale: float) -> float | None:
    """The largest share of a given face box (suspect pixels) that ``region_mask`` (comparison
    scale) covers; None when no faces were given."""
    if faces is None:
        return None
    best = 0.0
    for face_x, face_y, face_w, face_h in faces:
        left, top = max(0, int(face_x * scale)), max(0, int(face_y * scale))
        right = min(region_mask.shape[1], int(np.ceil((face_x + face_w) * scale)))
        bottom = min(region_mask.shape[0], int(np.ceil((face_y + face_h) * scale)))
        if right <= left or bottom <= top:
            continue
        best = max(best, float(region_mask[top:bottom, left:right].mean()))
    return best


def compare(suspect: np.ndarray, source: np.ndarray, *,
            faces: Sequence[tuple[int, int, int, int]] | None = None) -> Comparison:
    """Compare ``suspect`` with a suspected ``source`` (H×W×3 uint8 RGB each).

    ``faces``: boxes (x, y, width, height, suspect pixels) of faces in the suspect, if known.
    Deterministic for the same inputs. Works on the suspect scaled to ``COMPARE_LONG_SIDE``; the
    regions' boxes and the mask are given at the suspect's full size.
    """
    for name, image in (("suspect", suspect), ("source", source)):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
                or image.shape[2] != 3 or min(image.shape[:2]) < MIN_SIDE:
            raise ValueError(f"the {name} must be an H×W×3 uint8 RGB array of at least {MIN_SIDE} px a side")
    height, width = suspect.shape[:2]
    suspect_size = (width, height)
    alignment = align(suspect, source)
    if not alignment.found:
        return _unaligned(alignment, suspect_size)
    assert alignment.homography is not None
    small_suspect, scale = scaled(suspect, COMPARE_LONG_SIDE)
    small_height, small_width = small_suspect.shape[:2]
    # The source at the comparison scale, then the homography between the two small planes.
    small_source = scaled(source, int(COMPARE_LONG_SIDE / max(scale, 1e-6)) + 1)[0]
    source_scale = small_source.shape[1] / source.shape[1]  # the scale the rounded size really has
    to_small = np.diag([scale, scale, 1.0]) @ alignment.homography @ np.diag([1 / source_scale,
                                                                               1 / source_scale, 1.0])
    to_small = refine(grey(small_suspect), grey(small_source), to_small)
    # Replicated borders: pixels at the source's own edge must not be mixed with black (the
    # coverage mask below says where the source really is).
    warped = cv2.warpPerspective(small_source, to_small, (small_width, small_height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    covered = cv2.warpPerspective(np.full(small_source.shape[:2], 255, np.uint8), to_small,
                                  (small_width, small_height), flags=cv2.INTER_NEAREST,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    valid = cv2.erode(covered, np.ones((2 * _EDGE_PX + 1, 2 * _EDGE_PX + 1), np.uint8)) > 0
    overlap = float(valid.mean())
    full_homography = (np.diag([1 / scale, 1 / scale, 1.0]) @ to_small
                       @ np.diag([source_scale, source_scale, 1.0]))
    full_homography /= full_homography[2, 2]
    numbers = dict(inliers=alignment.inliers, matches=alignment.matches, mirrored=alignment.mirrored,
                   suspect_size=suspect_size,
                   aligned_by="intensity" if alignment.by_intensity else "features",
                   homography=tuple(tuple(round(float(value), 6) for value in row)
                                    for row in full_homography))
    if overlap < MIN_OVERLAP:
        return Comparison(Outcome.INCONCLUSIVE,
                          f"the source covers only {overlap:.0%} of the file: too little to compare",
                          overlap=overlap, noise_floor=None, tone_shift=None, agreement=None, **numbers)
    suspect_values = small_suspect.astype(np.float32)
    mapped, tone_shift = fit_tones(suspect_values, warped.astype(np.float32), valid)
    mapped = fit_filter(suspect_values, mapped, valid)
    measured: DifferenceMap = difference(suspect_values, mapped, valid, tone_shift)
    found, labels = regions(measured)
    # A region whose detail still follows the source's is the same content drawn a little
    # differently (sharpened text, ringing), not content replaced: it is dropped.
    areas = {region.label: labels == region.label for region in found}
    kept = [region for region in found
            if detail_correlation(suspect_values, mapped, areas[region.label]) < REGION_MAX_CORRELATION]
    if len(kept) < len(found):
        labels = np.where(np.isin(labels, [region.label for region in kept]), labels, 0)
        found = kept
    region_mask = labels > 0
    outside = valid & ~region_mask
    agreement = float((measured.ratio[outside] < LOW).mean()) if outside.any() else 0.0
    correlation = detail_correlation(suspect_values, mapped, outside)
    region_share = float(region_mask.sum()) / max(int(valid.sum()), 1)
    reported = tuple(
        Region((int(region.box[0] / scale), int(region.box[1] / scale),
                int(np.ceil(region.box[2] / scale)), int(np.ceil(region.box[3] / scale))),
               region.pixels / max(int(valid.sum()), 1), region.strength,
               _face_overlap(areas[region.label], faces, scale))
        for region in found)
    views = ComparisonViews(small_suspect, np.clip(mapped, 0, 255).astype(np.uint8), measured.ratio, valid,
                            region_mask)
    common = dict(overlap=overlap, noise_floor=measured.noise_floor, tone_shift=tone_shift,
                  agreement=agreement, correlation=correlation, **numbers)
    # An inconclusive comparison claims nothing, regions included; the views keep the picture.
    unclaimed = ComparisonViews(views.suspect, views.aligned_source, views.ratio, valid,
                                np.zeros_like(region_mask))
    if correlation < MIN_CORRELATION:
        return Comparison(Outcome.INCONCLUSIVE,
                          f"the pictures align only roughly: their detail agrees at {correlation:.2f} (one "
                          f"picture reposted keeps {MIN_CORRELATION} or more); a misplaced alignment, a bent "
                          "or re-rendered picture, or a different one", views=unclaimed, **common)
    if agreement < MIN_AGREEMENT:
        return Comparison(Outcome.INCONCLUSIVE,
                          f"the pictures align, but only {agreement:.0%} of the overlap agrees outside the "
                          "regions: not the same footage, or re-rendered as a whole", views=unclaimed,
                          **common)
    if region_share > MAX_REGION_SHARE:
        return Comparison(Outcome.INCONCLUSIVE,
                          f"the pictures align, but {region_share:.0%} of the overlap differs: too much to "
                          "call it the same footage with a region replaced", views=unclaimed, **common)
    if reported:
        return Comparison(Outcome.DERIVED_LOCAL_DIFFERENCE,
                          f"the same picture, except in {len(reported)} region(s) covering "
                          f"{region_share:.1%} of the overlap", regions=reported, views=views, **common)
    return Comparison(Outcome.DERIVED_NO_DIFFERENCE, "the same picture, with no region that differs",
                      views=views, **common)
