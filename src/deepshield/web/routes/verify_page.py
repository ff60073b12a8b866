""""Is this labelled?": the public verify page (``/verify``), and the evidence pack of a file
(``/verify/evidence``) for signed-in staff.

The upload is read like the API's ``/v1/verify`` reads it (``api.uploads.read_upload``: in memory,
never on disk, capped at ``limits.max_bytes``), rate-limited per address for the public (a
signed-in staff member is not, as a key is not at the API), and counts as heavy work
(``api.heavy_work``): when every slot is taken the form comes back with 503 and ``Retry-After``.
``services.verify.verification.verify_upload`` gives the verdict; the page words it. The
"unknown" verdict is always worded "No label found. That does not mean it is real.": it never
says a file is authentic.

The evidence pack of an arbitrary file carries the installation's signature, so it is
``REPORT_FILE``: keys only (services/access.py). The page offers it to a signed-in staff member,
whose principal ``reporting.evidence_for_file`` checks; the public is told how to get a signed
pack instead (a helpline, or her own case's pack). The door widens nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from deepshield.api.errors import retry_headers, status_of
from deepshield.api.rate_limit import public_rate_limit
from deepshield.api.uploads import read_upload
from deepshield.errors import DeepShieldError
from deepshield.services import reporting
from deepshield.services.access import Action, Principal, roles_for
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
#: Statuses of the services' errors that are not their category's (as the API answers them).


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


def _page(request: Request, template: str, principal: Principal | None, *, status_code: int = 200,
          headers: dict[str, str] | None = None, **values: Any) -> Response:
    values.setdefault("error", "")
    values.setdefault("result", None)
    limits = context_of(request).settings.limits
    return render(request, template, status_code=status_code, headers=headers, max_bytes=limits.max_bytes,
                  max_image_bytes=limits.max_image_bytes, max_video_bytes=limits.max_video_bytes,
                  may_get_pack=principal is not None and principal.role in roles_for(Action.REPORT_FILE),
                  **values)


def _refused(request: Request, principal: Principal | None, error: DeepShieldError) -> Response:
    """The form again with the service's sentence, the error's status and, for "busy" and "too
    many tries", when to try again."""
    return _page(request, "verify/form.html", principal, status_code=status_of(error),
                 headers=retry_headers(error),
                 error=error.detail, error_code=error.code)


async def _read_file(request: Request, principal: Principal | None) -> bytes:
    """The uploaded ``file``, after the form's anti-forgery token. A public form without its
    cookie is refused before its body is read."""
    if principal is None and not request.cookies.get(FORM_COOKIE):
        raise FormRefused(FORM_REFUSED)
    upload = await read_upload(request, context_of(request).settings.limits.max_bytes)
    check_form_token(request, upload.fields.get(FORM_TOKEN_FIELD, ""))
    return upload.data


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
        data = await _read_file(request, principal)
        report = await run_in_threadpool(verify_upload, ctx, data, principal)
    except FormRefused:
        raise  # the door's own 403 page: nothing was checked
    except DeepShieldError as error:
        return _refused(request, principal, error)
    del data  # the file is not kept past its check
    return _page(request, "verify/result.html", principal, result=verdict_view(report), error_code="")


@router.post("/verify/evidence")
async def verify_evidence(request: Request) -> Response:
    """A signed evidence pack (PDF) of the uploaded file, for a signed-in staff member whose role
    may have one (``reporting.evidence_for_file`` decides); everyone else is told how to get a
    signed pack, and nothing is read."""
    principal = await optional_staff_principal(request)
    if principal is None:
        return _page(request, "verify/evidence_public.html", None, status_code=403)
    ctx = context_of(request)
    try:
        data = await _read_file(request, principal)
        report = await run_in_threadpool(reporting.evidence_for_file, ctx, data, principal)
    except FormRefused:
        raise
    except DeepShieldError as error:
        return _refused(request, principal, error)
    return Response(report.pdf, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="evidence-file.pdf"'})
