"""``deepshield report``: signed evidence packs (a case or a file), their check, and the
transparency report."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stdout, write_atomically
from deepshield.errors import DeepShieldError
from deepshield.media import read_media_file
from deepshield.provenance.c2pa_signing import SigningKeysMissing
from deepshield.services import reporting

if TYPE_CHECKING:
    from deepshield.reports.pdf_signing import ReportCheck

#: ``report check``: 0 when the pack is valid; 11 when it was changed, is unsigned or its signer
#: is not trusted (like ``verify``'s "invalid"); errors keep their codes (3: not a readable PDF).
CHECK_VALID, CHECK_INVALID = 0, 11

app = typer.Typer(help="Evidence packs (signed PDFs) for a case or a file, their check, and the "
                  "transparency report.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Where to write the PDF.")]


def _path_error(path: Path, error: DeepShieldError) -> DeepShieldError:
    return type(error)(f"{path}: {error.detail}")


def _written(path: Path, pdf: bytes, extra: dict[str, Any], as_json: bool, what: str) -> None:
    digest = hashlib.sha256(pdf).hexdigest()
    if as_json:
        print_json({**extra, "file": str(path), "bytes": len(pdf), "pdf_sha256": digest})
    else:
        stdout.print(f"Wrote {what} to {path} ({len(pdf):,} bytes, signed).")
        stdout.print(f"SHA-256 of the PDF: {digest}")
        stdout.print("Check it any time with: deepshield report check " + str(path))


@app.command("case")
def case(
    case_number: Annotated[str, typer.Argument(help="The case number, e.g. DS-XXXX-XXXX-XXXX.")],
    out: OutOption,
    include_contact: Annotated[bool, typer.Option(
        "--include-contact", help="Include the requester's name and email (personal data; the "
        "read is audit-logged).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Write a case's signed evidence pack: state, clocks, decision, appeals, locations, hashes
    and history. No picture; contact details only with --include-contact."""
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        try:
            report = reporting.evidence_for_case(ctx, case_number.strip(), principal,
                                                 include_contact=include_contact)
        finally:
            ctx.close()
        write_atomically(out, report.pdf)
    _written(out, report.pdf, {"case_number": report.pack.case_number}, as_json,
             f"the evidence pack for case {report.pack.case_number}")


@app.command("file")
def file(
    path: Annotated[Path, typer.Argument(help="An image or video (hashed here, never stored).")],
    out: OutOption,
    source: Annotated[Path | None, typer.Option(
        "--source", help="A picture the file may have been made from (never stored): the pack adds "
        "the comparison with it (figure, sentence, numbers, method, known limits).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a file's signed evidence pack: its PDQ, MD5 and SHA-256 (a video's vPDQ frame hashes)
    and its label verification; with --source, the comparison with that suspected source. Neither
    file is stored; only the comparison's figure shows them."""
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        try:
            source_data = None
            if source is not None:
                try:
                    source_data = read_media_file(source, ctx.settings.limits.max_bytes)
                except DeepShieldError as error:
                    raise _path_error(source, error) from error
            try:
                data = read_media_file(path, ctx.settings.limits.max_bytes)
                # A source the comparison refuses is named in the error's own words.
                report = reporting.evidence_for_file(ctx, data, principal, source=source_data,
                                                     source_name=source.name if source else None)
            except DeepShieldError as error:
                if isinstance(error, SigningKeysMissing):
                    raise
                raise _path_error(path, error) from error
        finally:
            ctx.close()
        write_atomically(out, report.pdf)
    verification, comparison = report.pack.verification, report.pack.comparison
    extra = {"verdict": verification.verdict if verification else None}
    if comparison is not None:
        extra["comparison"] = comparison.outcome
    _written(out, report.pdf, extra, as_json, "the evidence pack for the file")
    if comparison is not None and not as_json:
        stdout.print(f"Compared with {source}: {comparison.outcome}")


def _print_check(path: Path, check: ReportCheck) -> None:
    if check.valid:
        stdout.print(f"[bold green]{path}: valid[/]: unchanged since it was signed by a trusted signer.")
    else:
        stdout.print(f"[bold red]{path}: NOT valid[/]: do not rely on its contents.")
    stdout.print(f"  signer: {check.signer or 'none'}")
    stdout.print(f"  signed at: {check.signed_at.isoformat() if check.signed_at else 'unknown'}")
    stdout.print(f"  intact: {'yes' if check.intact else 'no'}; trusted: {'yes' if check.trusted else 'no'}")
    for problem in check.problems:
        stdout.print(f"  - {problem}")
    evidence = check.evidence or {}
    if evidence.get("case_number"):
        stdout.print(f"  case: {evidence['case_number']} (state {evidence.get('state')})")


@app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="An evidence pack PDF.")],
    as_json: JsonOption = False,
) -> None:
    """Check an evidence pack: unchanged since signing, whole file signed, signer trusted.

    Exit codes: 0 valid; 11 changed, unsigned or untrusted; 3 not a readable PDF.
    """
    with reported_errors(as_json):
        ctx = open_context()
        try:
            try:
                data = read_media_file(path, reporting.MAX_REPORT_BYTES)
            except DeepShieldError as error:
                raise _path_error(path, error) from error
            result = reporting.check_report(ctx, data)
        finally:
            ctx.close()
    if as_json:
        print_json({"file": str(path), **result.to_dict()})
    else:
        _print_check(path, result)
    raise typer.Exit(CHECK_VALID if result.valid else CHECK_INVALID)


@app.command("transparency")
def transparency(
    output_format: Annotated[str, typer.Option("--format", help="csv or json.")] = "json",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    since: Annotated[str | None, typer.Option(help="Period start (ISO date or date-time, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Period end, exclusive (ISO date or date-time).")] = None,
) -> None:
    """Aggregate counts for publication: cases by state, role, source and jurisdiction, decisions,
    handling times, clocks, appeals, counter-notices, warnings and suspensions, and the audit
    chain's head hash. No case numbers, personal data or content hashes."""
    with reported_errors(False):
        principal = local_operator()
        fmt = reporting.transparency_format(output_format)
        start = reporting.parse_period_bound(since, "--since")
        end = reporting.parse_period_bound(until, "--until")
        ctx = open_context()
        try:
            report = reporting.transparency_report(ctx, principal, since=start, until=end)
        finally:
            ctx.close()
        text, _ = reporting.report_as(report, fmt)
        if out is not None:
            write_atomically(out, text)
    if out is None:
        typer.echo(text, nl=False)
    else:
        stdout.print(f"Wrote the transparency report ({fmt}) to {out}")
