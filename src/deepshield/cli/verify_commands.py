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
    print_json,
    progress_bar,
    reported_errors,
    stderr,
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
) -> None:
    """Verify labels: embedded C2PA manifest, watermark, and repository lookups.

    Verdicts: verified (exit 0), recovered (10), invalid (11), unknown (12). "unknown" means
    no label was found; it never means the content is authentic.
    """
    reports: list[dict[str, Any]] = []
    errors: list[DeepShieldError] = []
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        files = list(expand_paths(paths))
        with progress_bar(len(files), "Verifying") as progress:
            for path in files:
                try:
                    data = read_media_file(path, ctx.settings.limits.max_bytes)
                    reports.append(verify_media(ctx, data, principal=principal, file=str(path)).to_dict())
                except DeepShieldError as error:
                    errors.append(error)
                    reports.append({"file": str(path), "verdict": None, "error": error_view(error)})
                advance(progress)
    if as_json:
        print_json(reports)
    else:
        for report in reports:
            if report.get("error"):
                stderr.print(f"[red]error:[/] {report['file']}: {report['error']['detail']}")
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
    if errors:
        raise typer.Exit(int(exit_code_for(errors[0])))
    verdicts = {report["verdict"] for report in reports}
    for verdict in _PRECEDENCE:
        if verdict in verdicts:
            raise typer.Exit(VERDICT_EXIT_CODES[verdict])
