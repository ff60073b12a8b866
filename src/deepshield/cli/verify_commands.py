"""``deepshield verify``: does a file carry an AI label, valid or forged? Who made it, and when?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import (
    advance,
    error_view,
    exit_code_for,
    print_file_error,
    print_json,
    progress_bar,
    reported_errors,
    stdout,
)
from deepshield.errors import DeepShieldError
from deepshield.media import expand_paths, read_media_file
from deepshield.services.verify.verification import verify_media

#: Exit code per verdict (errors keep their own codes 1-6). With several files, the first of
#: invalid, unknown, recovered that any file got decides; all verified is 0.
VERDICT_EXIT_CODES = {"verified": 0, "recovered": 10, "invalid": 11, "unknown": 12}
_PRECEDENCE = ("invalid", "unknown", "recovered", "verified")
_STYLE = {"verified": "green", "recovered": "cyan", "invalid": "bold red", "unknown": "yellow"}


def verify_command(
    paths: Annotated[list[Path], typer.Argument(help="Images or videos, or folders of them.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per file, "
                                                         "each with a 'verdict'.")] = False,
    source: Annotated[Path | None, typer.Option(
        "--source", help="A picture or video each file may have been made from: also compare them (as "
                         "`forensics compare` does); the JSON gains 'source_comparison'.")] = None,
) -> None:
    """Verify labels: embedded C2PA manifest, watermark, and repository lookups.

    Verdicts: verified (exit 0), recovered (10), invalid (11), unknown (12). "unknown" means
    no label was found; it never means the content is authentic. With --source, each file is
    also compared with SRC; the exit code is still the verdicts' (the comparison's outcome is in
    the output), unless a comparison fails: then that error's code.
    """
    reports: list[dict[str, Any]] = []
    errors: list[DeepShieldError] = []
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        files = list(expand_paths(paths))
        source_data = _read_source(source, ctx.settings.limits.max_bytes) if source is not None else None
        with progress_bar(len(files), "Verifying") as progress:
            for path in files:
                try:
                    data = read_media_file(path, ctx.settings.limits.max_bytes)
                    report = verify_media(ctx, data, principal=principal, file=str(path)).to_dict()
                except DeepShieldError as error:
                    errors.append(error)
                    reports.append({"file": str(path), "verdict": None, "error": error_view(error)})
                    advance(progress)
                    continue
                if source is not None and source_data is not None:
                    report["source_comparison"] = _compared(ctx, data, source_data, path, source,
                                                            principal, errors)
                reports.append(report)
                advance(progress)
    if as_json:
        print_json(reports)
    else:
        for report in reports:
            if report.get("error"):
                print_file_error(report['file'], report['error']['detail'])
                continue
            verdict = report["verdict"]
            stdout.print(f"[bold]{report['file']}[/]: [{_STYLE[verdict]}]{report['summary']}[/]")
            for reason in report["reasons"]:
                stdout.print(f"  - {reason}")
            made_by = report.get("made_by") or {}
            if made_by:
                table = Table("generator", "model", "signer", "created", show_edge=False)
                table.add_row(str(made_by.get("generator") or ""), str(made_by.get("model") or ""),
                              str(made_by.get("signer") or ""), str(made_by.get("created_at") or ""))
                stdout.print(table)
            compared = report.get("source_comparison")
            if compared is not None:
                if compared.get("error"):
                    print_file_error(f"comparing with {source}", compared['error']['detail'])
                else:
                    stdout.print(f"  compared with {source}: [bold]{compared['outcome']}[/]")
                    stdout.print(f"  {compared['summary']}")
    if errors:
        raise typer.Exit(int(exit_code_for(errors[0])))
    verdicts = {report["verdict"] for report in reports}
    for verdict in _PRECEDENCE:
        if verdict in verdicts:
            raise typer.Exit(VERDICT_EXIT_CODES[verdict])


def _read_source(source: Path, max_bytes: int) -> bytes:
    """The source's bytes, read before any file is verified: an unreadable one refuses the command."""
    try:
        return read_media_file(source, max_bytes)
    except DeepShieldError as error:
        raise type(error)(f"--source {source}: {error.detail}") from error


def _compared(ctx: Any, data: bytes, source_data: bytes, path: Path, source: Path, principal: Any,
              errors: list[DeepShieldError]) -> dict[str, Any]:
    """The comparison of one verified file with the source, as its report's ``source_comparison``
    (an error view when the comparison refused the files, also counted in ``errors``)."""
    from deepshield.services.verify.source_comparison import compare_with_source

    try:
        return compare_with_source(ctx, data, source_data, principal=principal, suspect_name=path.name,
                                   source_name=source.name).to_dict()
    except DeepShieldError as error:
        errors.append(error)
        return {"error": error_view(error)}
