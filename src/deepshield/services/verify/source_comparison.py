"""Compare a suspect file with a suspected source: the evidence a victim can hand over when a
deepfake carries no label (issue 16).

``compare_with_source`` decodes both images within the media limits (huge ones reduced while
decoded, as for every analysis), runs ``forensics.compare`` and puts its outcome in plain words.
The wording reports what was measured against this one source and nothing else: never "fake" or
"real"; ``not_derived`` says only that this source is not the file's origin; ``inconclusive``
says neither. Neither file is stored; the audit log records who compared and the outcome, no
hash and no picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deepshield.errors import InvalidRequest
from deepshield.forensics import Comparison, Outcome, compare
from deepshield.forensics.comparison import MIN_SIDE
from deepshield.forensics.figure import figure_png, mask_png
from deepshield.media import MediaKind, decode_image
from deepshield.media.errors import UnsupportedMedia
from deepshield.media.sniff import sniff_media_type
from deepshield.media.video import probe_video
from deepshield.services.access import Action, Principal, actor_of, authorize
from deepshield.services.context import ServiceContext

#: What the method cannot see, stated with every comparison (docs/FORENSICS.md).
KNOWN_LIMITS = (
    "It compares the file with this one source only; another source may still be the origin.",
    "A picture re-rendered as a whole (a face restorer, an upscaler) or bent by a non-rigid warp "
    "no longer matches pixel for pixel: such files read inconclusive, or show regions where the "
    "warp moved most.",
    "Subtle edits that move a few pixels (an expression changed by a small warp) stay within what "
    "reposting changes and are not outlined.",
    "Face location is not measured: a region is described by its place and size, not by what it shows.",
)


@dataclass(frozen=True)
class SourceComparison:
    """A comparison in words, with its numbers and pictures."""

    comparison: Comparison
    summary: str
    suspect_name: str | None = None
    source_name: str | None = None

    @property
    def outcome(self) -> Outcome:
        return self.comparison.outcome

    def figure_png(self) -> bytes | None:
        return figure_png(self.comparison)

    def mask_png(self) -> bytes:
        return mask_png(self.comparison)

    def to_dict(self) -> dict[str, Any]:
        return {"suspect": self.suspect_name, "source": self.source_name, "outcome": self.outcome.value,
                "summary": self.summary, "numbers": self.comparison.to_dict(), "limits": list(KNOWN_LIMITS)}


def _where(box: tuple[int, int, int, int], size: tuple[int, int]) -> str:
    x, y, width, height = box
    centre_x, centre_y = (x + width / 2) / size[0], (y + height / 2) / size[1]
    across = "left" if centre_x < 1 / 3 else "right" if centre_x > 2 / 3 else "centre"
    down = "top" if centre_y < 1 / 3 else "bottom" if centre_y > 2 / 3 else "middle"
    return "in the centre" if (across, down) == ("centre", "middle") else f"at the {down} {across}"


def summary_of(comparison: Comparison, source_name: str | None = None) -> str:
    """The outcome in one or two plain sentences."""
    source = f"the source ({source_name})" if source_name else "the source"
    outcome = comparison.outcome
    if outcome is Outcome.DERIVED_LOCAL_DIFFERENCE:
        regions = comparison.regions
        faces = [region for region in regions
                 if region.face_overlap is not None and region.face_overlap >= 0.5]
        places = "; ".join(f"{_where(region.box, comparison.suspect_size)}, {region.area:.1%} of the picture"
                           for region in regions[:3])
        outlined = "the outlined region" if len(regions) == 1 else f"the {len(regions)} outlined regions"
        covering = ", which covers a face" if len(faces) == 1 and len(regions) == 1 else \
            f", {len(faces)} of which cover a face" if faces else ""
        return (f"This file matches {source} everywhere except in {outlined}{covering} ({places}); "
                "elsewhere it differs only as much as reposting changes a picture.")
    if outcome is Outcome.DERIVED_NO_DIFFERENCE:
        return (f"This file matches {source} everywhere: no region differs beyond what reposting "
                "(scaling, cropping, re-encoding, tone changes) changes.")
    if outcome is Outcome.NOT_DERIVED:
        return (f"{source[0].upper()}{source[1:]} is not the origin of this file: the two pictures share "
                "next to no detail. This says nothing about any other source.")
    return (f"Inconclusive: {comparison.reason}. This says neither that the file comes from {source} "
            "nor that it does not.")


def _pixels(data: bytes, ctx: ServiceContext, role: str) -> Any:
    if not data:
        raise InvalidRequest(f"the {role} file is empty (0 bytes)")
    kind = sniff_media_type(data[:64]).kind
    if kind is MediaKind.VIDEO:
        probe_video(data, ctx.settings.limits)  # a video over the limits is refused for that first
        raise UnsupportedMedia(f"the {role} is a video: comparison with a source takes images for now "
                               "(compare a frame of each)")
    pixels = decode_image(data, ctx.settings.limits, for_analysis=True).pixels
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InvalidRequest(f"the {role} is {width}×{height} px: too small to compare (at least "
                             f"{MIN_SIDE} px a side)")
    return pixels


def compare_with_source(ctx: ServiceContext, suspect: bytes, source: bytes, *, principal: Principal | None,
                        suspect_name: str | None = None, source_name: str | None = None) -> SourceComparison:
    """Compare ``suspect`` with ``source`` (image bytes; neither stored).

    Open to the public (``principal`` None) and to every key's role (``Action.FORENSICS_COMPARE``);
    any other principal is ``Forbidden`` before any work. Media errors (empty, unsupported,
    corrupt, too large) are raised before any comparison; the action and its outcome are
    audit-logged.
    """
    if principal is not None:
        authorize(principal, Action.FORENSICS_COMPARE)
    suspect_pixels = _pixels(suspect, ctx, "suspect")
    source_pixels = _pixels(source, ctx, "source")
    comparison = compare(suspect_pixels, source_pixels)
    ctx.read_audit.record(actor_of(principal), "forensics.compare", "", outcome=comparison.outcome.value,
                          regions=len(comparison.regions))
    return SourceComparison(comparison, summary_of(comparison, source_name), suspect_name, source_name)
