"""Evidence packs and the transparency report: ``/v1/cases/{case_number}/report``,
``/v1/reports/file``, ``/v1/reports/check`` and ``/v1/reports/transparency``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from deepshield.api.auth import key_or_public, require, require_case_access, service_context
from deepshield.api.routes._openapi import ERRORS, FILE_UPLOAD
from deepshield.api.uploads import read_files, read_upload
from deepshield.services import reporting
from deepshield.services.access import Action, Principal
from deepshield.services.context import ServiceContext

router = APIRouter(tags=["reports"])

_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The signed evidence pack (PDF)"},
    404: {"model": ERRORS[400]["model"], "description": "No case with that number is visible to you, "
                                                        "or no signing keys (run `deepshield keys init`)"},
    **ERRORS,
}


_FILE_AND_SOURCE: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the file the pack is about"},
        "source": {"type": "string", "format": "binary",
                   "description": "optional: a picture the file may have been made from; the pack then "
                                  "adds the comparison with it"}}}}}}}


def _pdf_response(pdf: bytes, filename: str) -> Response:
    # no-store: a pack names a case and its content's hashes; no cache along the way keeps it.
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@router.get("/v1/cases/{case_number}/report", response_class=Response, responses=_PDF)
async def case_report(
    case_number: str,
    include_contact: bool = Query(False, description="Include the requester's name and email "
                                  "(admin only; the read is audit-logged)."),
    principal: Principal = Depends(require_case_access(Action.REPORT_EVIDENCE)),
    ctx: ServiceContext = Depends(service_context),
) -> Response:
    """The case's signed evidence pack: state, clocks, decision, appeals, locations, hashes and
    history, with its contents embedded as `evidence.json`. A victim (case number and PIN as
    Basic credentials) gets her own case; a helpline the cases it filed. No picture, and no
    contact details unless an admin asks with `include_contact=true`."""
    report = await run_in_threadpool(
        lambda: reporting.evidence_for_case(ctx, case_number, principal, include_contact=include_contact))
    return _pdf_response(report.pdf, f"evidence-{report.pack.case_number}.pdf")


@router.post("/v1/reports/file", response_class=Response, responses=_PDF, openapi_extra=_FILE_AND_SOURCE)
async def file_report(
    request: Request,
    principal: Principal = Depends(require(Action.REPORT_FILE)),
    ctx: ServiceContext = Depends(service_context),
) -> Response:
    """A signed evidence pack for the uploaded `file` (hashed in memory, never stored or
    embedded): PDQ, MD5, SHA-256 (a video's vPDQ frame hashes) and its label verification.
    With an optional `source` (a picture the file may have been made from; both in memory,
    together within the upload limit), the pack adds "Comparison with a suspected source": the
    figure, the sentence, the numbers, the method's version and known limits, and the source's
    file name and SHA-256. Keys only (admin, platform, helpline): a victim's case number and
    PIN reach her case's pack, not the installation's signature on any file."""
    form = await read_files(request, ctx.settings.limits.max_bytes, ("file",), ("source",))
    upload, source = form.files["file"], form.files.get("source")
    report = await run_in_threadpool(
        lambda: reporting.evidence_for_file(ctx, upload.data, principal,
                                            source=source.data if source else None,
                                            source_name=source.filename if source else None))
    return _pdf_response(report.pdf, "evidence-file.pdf")


@router.post("/v1/reports/check", responses=ERRORS, openapi_extra=FILE_UPLOAD)
async def check_report(
    request: Request,
    _: Principal | None = Depends(key_or_public(Action.REPORT_EVIDENCE)),
    ctx: ServiceContext = Depends(service_context),
) -> dict[str, Any]:
    """Check an evidence pack PDF (uploaded as `file`): `valid` only when it is unchanged since
    signing, the signature covers the whole file, and the signer is trusted here. `problems`
    says what is wrong; `evidence` is the signed contents. 400 when it is not a readable PDF."""
    upload = await read_upload(request, reporting.MAX_REPORT_BYTES)
    result = await run_in_threadpool(reporting.check_report, ctx, upload.data)
    return result.to_dict()


@router.get("/v1/reports/transparency", response_class=Response, responses={
    200: {"content": {"application/json": {}, "text/csv": {}},
          "description": "The transparency report: JSON (nested) or CSV (metric, dimension, value)"},
    **ERRORS})
async def transparency_report(
    format: str = Query("json", description="json or csv"),
    since: str | None = Query(None, description="Period start: ISO 8601 date or date-time (UTC)"),
    until: str | None = Query(None, description="Period end, exclusive"),
    principal: Principal = Depends(require(Action.REPORT_TRANSPARENCY)),
    ctx: ServiceContext = Depends(service_context),
) -> Response:
    """Aggregate counts over a period: cases by state, requester role, source and jurisdiction;
    decisions; median and slowest handling times; clocks met and breached; automated versus
    human; appeals, counter-notices, warnings and suspensions; the audit chain's head hash. No
    case numbers, personal data or content hashes."""
    fmt = reporting.transparency_format(format)
    start = reporting.parse_period_bound(since, "since")
    end = reporting.parse_period_bound(until, "until")
    report = await run_in_threadpool(
        lambda: reporting.transparency_report(ctx, principal, since=start, until=end))
    text, media_type = reporting.report_as(report, fmt)
    return Response(text, media_type=media_type)
