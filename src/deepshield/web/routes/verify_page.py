""""Is this labelled?": the public verify page (``/verify``), and the evidence pack of a file
(``/verify/evidence``) for signed-in staff.

The upload is read like the API's ``/v1/verify`` reads it (``api.uploads.read_upload``: in memory,
never on disk, capped at ``limits.max_bytes``), rate-limited per address for the public (a
signed-in staff member is not, as a key is not at the API), and counts as heavy work
(``api.heavy_work``): when every slot is taken the form comes back with 503 and ``Retry-After``.
``services.verify.verification.verify_upload`` gives the verdict; the page words it. The
"unknown" verdict is always worded "No label found. That does not mean it is real.": it never
says a file is authentic.

The form may also carry "the original": a suspected source the file may have been made from
(``source``, optional). Both files are read in memory together, within the same limit
(``api.uploads.read_files``). With a source, the page also runs
``services.verify.source_comparison.compare_with_source`` and shows its sentence, its figure (an
inline ``data:`` PNG, made for this answer and kept nowhere), its numbers, the method's version and
its known limits. A source the comparison refuses brings the form back with the reason, as a file
the check refuses does. The staff evidence pack adds the same comparison when a source is given.

The evidence pack of an arbitrary file carries the installation's signature, so it is
``REPORT_FILE``: keys only (services/access.py). The page offers it to a signed-in staff member,
whose principal ``reporting.evidence_for_file`` checks; the public is told how to get a signed
pack instead (a helpline, or her own case's pack). The door widens nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from deepshield.api.errors import retry_headers, status_of
from deepshield.api.rate_limit import public_rate_limit
from deepshield.api.uploads import Upload, read_files
from deepshield.errors import DeepShieldError
from deepshield.forensics.figure import clock
from deepshield.services import reporting
from deepshield.services.access import Action, Principal, roles_for
from deepshield.services.verify.source_comparison import SourceComparison, compare_with_source
from deepshield.services.verify.verification import VerifyReport, verify_upload
from deepshield.web.forms import FORM_REFUSED, FORM_TOKEN_FIELD, FormRefused, check_form_token
from deepshield.web.sessions import FORM_COOKIE, context_of, optional_staff_principal
from deepshield.web.templating import render

router = APIRouter(include_in_schema=False)

#: The words of the unknown verdict, always: no label is not a sign of anything.
UNKNOWN_HEADLINE = "No label found. That does not mean it is real."
#: The page's headline and its explanation for each verdict of ``services.verify``.
VERDICT_WORDS: dict[str, tuple[str, str]] = {
    "verified": ("This file carries a valid AI label",
                 "It holds a label saying it was made by AI. The label is signed by a signer this service "
                 "trusts, and the file has not been changed since it was signed."),
    "recovered": ("An AI label was found for this file",
                  "The label had been removed from the file, but DeepShield found it again through the "
                  "file's invisible watermark or its fingerprint, and the label's signature checks out. "
                  "It says the content was made by AI."),
    "invalid": ("This file has a label, but it cannot be trusted",
                "Something about the label is wrong: its signature may be forged, expired or from a signer "
                "not trusted here, or the file was changed after it was labelled. Do not rely on it."),
    "unknown": (UNKNOWN_HEADLINE,
                "DeepShield found no AI label in this file, and none for it in its label repository. Many "
                "AI-made pictures carry no label, and labels can be removed, so this cannot tell you "
                "whether the picture shows something that happened."),
}
#: Said under "unknown" when a label was near but the file differs too much to be its picture.
INCONCLUSIVE_WORDS = ("A label of a similar picture was found, but this file differs too much from it to "
                      "say it is that picture: it may be a blend, a collage or an edit.")
TAG_OF_VERDICT = {"verified": "tag-ok", "recovered": "tag-ok", "invalid": "tag-bad", "unknown": "tag-warn"}
#: The heading of each outcome of the comparison with a suspected source. What was measured
#: against this one source, nothing more: never "fake" or "real"; ``not_derived`` is about this
#: source only; ``inconclusive`` says neither.
COMPARISON_HEADINGS: dict[str, str] = {
    "derived_local_difference": "The same picture as the original you gave, except in the outlined part",
    "derived_no_difference": "The same picture as the original you gave",
    "not_derived": "The original you gave is not where this file comes from",
    "inconclusive": "The comparison could not say either way",
}
VIDEO_COMPARISON_HEADINGS: dict[str, str] = {
    "derived_local_difference": "The same footage as the original you gave, except in the outlined parts",
    "derived_no_difference": "The same footage as the original you gave",
    "not_derived": "The original you gave is not where this file comes from",
    "inconclusive": "The comparison could not say either way",
}
#: Said of an outcome whose heading is not listed (a newer method): the service's sentence follows.
OTHER_COMPARISON_HEADING = "Compared with the original you gave"
#: The figure's text alternative; the sentence and the table next to it say what it found.
FIGURE_ALT = ("Comparison figure made from the two files: this file; the original laid onto it; their "
              "difference as a heat map, blue where it is within what reposting changes and red where "
              "it is far beyond; and this file with the parts that differ outlined.")
#: The same for two videos: the timeline strip above one frame's four panels.
VIDEO_FIGURE_ALT = ("Comparison figure made from the two videos: a strip of the frames compared, each marked "
                    "differs, matches or inconclusive with its time in this file and in the original; below "
                    "it, the frame that differs most, the original's frame laid onto it, their difference as "
                    "a heat map, and the frame with the parts that differ outlined.")


@dataclass(frozen=True)
class VerdictView:
    """A verification report as the page shows it."""

    verdict: str
    headline: str
    explanation: str
    #: The service's own one-line summary, shown for a label found; None for "unknown", whose
    #: summary is the page's fixed words.
    summary: str | None
    #: A sentence more for an "unknown" that came near a label (``INCONCLUSIVE_WORDS``), or "".
    note: str
    made_by: list[tuple[str, str]]
    reasons: list[str]
    warnings: list[str]
    media: list[tuple[str, str]]
    tag: str


def verdict_view(report: VerifyReport) -> VerdictView:
    """What the result page shows of ``report``: the verdict in the page's words, who made it,
    the reasons and the file's facts."""
    headline, explanation = VERDICT_WORDS.get(report.verdict, VERDICT_WORDS["unknown"])
    made_by = report.made_by or {}
    facts = [(words, str(made_by[name])) for name, words in (
        ("generator", "Made with"), ("model", "Model"), ("signer", "Signed by"), ("created_at", "Made at"),
        ("source", "Label read from")) if made_by.get(name)]
    media = [(words, str(report.media[name])) for name, words in (
        ("kind", "Kind"), ("format", "Format"), ("sha256", "SHA-256")) if report.media.get(name)]
    return VerdictView(
        verdict=report.verdict, headline=headline, explanation=explanation,
        summary=report.summary if report.verdict in ("verified", "recovered", "invalid") else None,
        note=INCONCLUSIVE_WORDS
        if report.verdict == "unknown" and (report.consistency or {}).get("inconclusive") else "",
        made_by=facts, reasons=list(report.reasons), warnings=list(report.warnings), media=media,
        tag=TAG_OF_VERDICT.get(report.verdict, "tag-warn"))


@dataclass(frozen=True)
class ComparisonView:
    """A comparison with a suspected source as the page shows it."""

    outcome: str
    heading: str
    summary: str
    #: The figure as a ``data:image/png;base64,...`` URL, with its size in pixels; None when
    #: nothing could be laid onto the file.
    figure_src: str | None
    figure_size: tuple[int, int] | None
    numbers: list[tuple[str, str]]
    #: Each region: its number, box (x, y, width, height), area and strength, as printed.
    regions: list[tuple[str, str, str, str]]
    method: str
    limits: list[str]
    kind: str = "image"
    #: Two videos: each frame compared (time in this file, in the original, outcome, regions).
    frames: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def figure_alt(self) -> str:
        return VIDEO_FIGURE_ALT if self.kind == "video" else FIGURE_ALT


def _png_size(png: bytes) -> tuple[int, int] | None:
    """The width and height a PNG's header states (so the page keeps room for the figure)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def _share(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


def _number(value: object, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else "—"


def _clock(value: object) -> str:
    return clock(value) if isinstance(value, int | float) and not isinstance(value, bool) else "—"


Rows = list[tuple[str, str]]


def _video_rows(numbers: dict[str, Any]) -> tuple[Rows, list[tuple[str, str, str, str]]]:
    """A video comparison's numbers, and each compared frame's times, outcome and regions."""
    offset = numbers.get("offset") if isinstance(numbers.get("offset"), dict) else {}
    start = offset.get("offset_s")
    frames = [frame for frame in numbers.get("frames") or [] if isinstance(frame, dict)]
    rows = [
        ("Where this file starts in the original", _clock(start) if offset.get("found") else "not found"),
        ("Share of this file's frames whose hash agrees with the original's there",
         _share(offset.get("matched_share"))),
        ("Frames compared pixel for pixel", str(len(frames))),
        ("Frames with a part that differs", str(numbers.get("frames_with_regions", "—"))),
    ]
    shown = [(_clock(frame.get("suspect_time_s")), _clock(frame.get("source_time_s")),
              str(frame.get("outcome", "")), str(len(frame.get("regions") or []))) for frame in frames]
    return rows, shown


def _picture_rows(numbers: dict[str, Any]) -> tuple[Rows, list[tuple[str, str, str, str]]]:
    """A picture comparison's numbers, and each region's box, area and strength."""
    inliers = numbers.get("inliers")
    mirrored = numbers.get("mirrored")
    rows = [
        ("Features that agree on one alignment", "—" if inliers is None else str(inliers)),
        ("Original mirrored", "yes" if mirrored is True else "no" if mirrored is False else "—"),
        ("Share of this file the original covers", _share(numbers.get("overlap"))),
        ("Share that agrees outside the outlined parts", _share(numbers.get("agreement"))),
        ("Correlation of the detail outside them", _number(numbers.get("correlation"), 3)),
        ("Noise floor (what reposting changes)", _number(numbers.get("noise_floor"), 2)),
    ]
    regions = [(str(index), ", ".join(str(part) for part in region.get("box", ())),
                _share(region.get("area")), _number(region.get("strength"), 1))
               for index, region in enumerate(
                   [region for region in numbers.get("regions") or [] if isinstance(region, dict)], 1)]
    return rows, regions


def comparison_view(compared: SourceComparison) -> ComparisonView:
    """What the result page shows of a comparison: its heading, the service's sentence, the figure,
    the key numbers, the method's version and the known limits (for two videos, the frames
    compared instead of the regions). Renders the figure (CPU work: call it off the event loop)."""
    view = compared.to_dict()
    numbers = view.get("numbers") or {}
    figure = compared.figure_png()
    video = view.get("kind") == "video"
    rows, listed = _video_rows(numbers) if video else _picture_rows(numbers)
    headings = VIDEO_COMPARISON_HEADINGS if video else COMPARISON_HEADINGS
    return ComparisonView(
        outcome=compared.outcome.value,
        heading=headings.get(compared.outcome.value, OTHER_COMPARISON_HEADING),
        summary=compared.summary,
        figure_src="data:image/png;base64," + base64.b64encode(figure).decode("ascii") if figure else None,
        figure_size=_png_size(figure) if figure else None,
        numbers=[("Outcome", compared.outcome.value), *rows],
        regions=[] if video else listed, method=str(numbers.get("method", "")),
        limits=[str(limit) for limit in view.get("limits") or []],
        kind="video" if video else "image", frames=listed if video else [])


def _page(request: Request, template: str, principal: Principal | None, *, status_code: int = 200,
          headers: dict[str, str] | None = None, **values: Any) -> Response:
    values.setdefault("error", "")
    values.setdefault("error_step", "")
    values.setdefault("result", None)
    values.setdefault("comparison", None)
    limits = context_of(request).settings.limits
    return render(request, template, status_code=status_code, headers=headers, max_bytes=limits.max_bytes,
                  max_image_bytes=limits.max_image_bytes, max_video_bytes=limits.max_video_bytes,
                  may_get_pack=principal is not None and principal.role in roles_for(Action.REPORT_FILE),
                  **values)


def _refused(request: Request, principal: Principal | None, error: DeepShieldError, *,
             step: str = "") -> Response:
    """The form again with the service's sentence, the error's status and, for "busy" and "too
    many tries", when to try again. ``step`` is "compare" when the comparison refused."""
    return _page(request, "verify/form.html", principal, status_code=status_of(error),
                 headers=retry_headers(error),
                 error=error.detail, error_code=error.code, error_step=step)


async def _read_files(request: Request, principal: Principal | None) -> tuple[Upload, Upload | None]:
    """The uploaded ``file`` and, when one was chosen, the ``source``, after the form's
    anti-forgery token. A public form without its cookie is refused before its body is read."""
    if principal is None and not request.cookies.get(FORM_COOKIE):
        raise FormRefused(FORM_REFUSED)
    form = await read_files(request, context_of(request).settings.limits.max_bytes, ("file",), ("source",))
    check_form_token(request, form.fields.get(FORM_TOKEN_FIELD, ""))
    return form.files["file"], form.files.get("source")


@router.get("/verify")
async def verify_form(request: Request) -> Response:
    principal = await optional_staff_principal(request)
    return _page(request, "verify/form.html", principal, error_code="")


@router.post("/verify")
async def verify_file(request: Request) -> Response:
    principal = await optional_staff_principal(request)
    ctx = context_of(request)
    try:
        if principal is None:
            await public_rate_limit(request)
        upload, source = await _read_files(request, principal)
        report = await run_in_threadpool(verify_upload, ctx, upload.data, principal)
    except FormRefused:
        raise  # the door's own 403 page: nothing was checked
    except DeepShieldError as error:
        return _refused(request, principal, error)
    comparison = None
    if source is not None:
        try:
            compared = await run_in_threadpool(partial(
                compare_with_source, ctx, upload.data, source.data, principal=principal,
                suspect_name=upload.filename, source_name=source.filename))
        except DeepShieldError as error:
            return _refused(request, principal, error, step="compare")
        comparison = await run_in_threadpool(comparison_view, compared)
    del upload, source  # the files are not kept past their check
    return _page(request, "verify/result.html", principal, result=verdict_view(report),
                 comparison=comparison, error_code="")


@router.post("/verify/evidence")
async def verify_evidence(request: Request) -> Response:
    """A signed evidence pack (PDF) of the uploaded file, with the comparison when a source was
    chosen too, for a signed-in staff member whose role may have one
    (``reporting.evidence_for_file`` decides); everyone else is told how to get a signed pack, and
    nothing is read."""
    principal = await optional_staff_principal(request)
    if principal is None:
        return _page(request, "verify/evidence_public.html", None, status_code=403)
    ctx = context_of(request)
    try:
        upload, source = await _read_files(request, principal)
        report = await run_in_threadpool(partial(
            reporting.evidence_for_file, ctx, upload.data, principal,
            source=source.data if source else None, source_name=source.filename if source else None))
    except FormRefused:
        raise
    except DeepShieldError as error:
        return _refused(request, principal, error)
    return Response(report.pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="evidence-file.pdf"'})
