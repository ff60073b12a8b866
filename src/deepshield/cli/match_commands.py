"""``deepshield match``: match files or hashes against every bank."""

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
    stderr,
    stdout,
)
from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media import expand_paths, read_media_file
from deepshield.services.json_shapes import match_json
from deepshield.services.spread.matching import match_media, match_query, parse_query_signals
from deepshield.signals.types import parse_signal_spec


def match_command(
    files: Annotated[list[Path] | None, typer.Argument(help="Image or video files, or folders.")] = None,
    signal: Annotated[list[str] | None, typer.Option(
        "--signal", help="Match a hash given as TYPE:VALUE, e.g. pdq:<64 hex>; repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Match files or hashes against every bank.

    Prints one result per input; `matches` is empty when nothing matched. The exit code
    is 0 whether or not anything matched, and 3 if an input could not be read.
    """
    results: list[dict[str, Any]] = []
    errors: list[DeepShieldError] = []
    with reported_errors(as_json):
        if not files and not signal:
            raise InvalidRequest("give files to match, or --signal TYPE:VALUE")
        principal = local_operator()
        ctx = open_context()
        for spec in signal or []:
            signal_type, value = parse_signal_spec(spec)
            matches = match_query(ctx, parse_query_signals([(signal_type.value, value)]), principal)
            results.append({"file": None, "signal": f"{signal_type.value}:{value}",
                            "matches": [match_json(m) for m in matches], "warnings": []})
        paths = list(expand_paths(files or []))
        with progress_bar(len(paths), "Matching") as progress:
            for path in paths:
                try:
                    data = read_media_file(path, ctx.settings.limits.max_bytes)
                    _, outcome = match_media(ctx, data, principal)
                    results.append({"file": str(path),
                                    "matches": [match_json(m) for m in outcome.matches],
                                    "warnings": outcome.warnings})
                except DeepShieldError as error:
                    errors.append(error)
                    results.append({"file": str(path), "matches": [], "error": error_view(error)})
                advance(progress)
    if as_json:
        print_json(results)
    else:
        _print_table(results)
    if errors:
        raise typer.Exit(int(exit_code_for(errors[0])))


def _print_table(results: list[dict[str, Any]]) -> None:
    table = Table("input", "bank", "entry", "type", "distance", "variant")
    for result in results:
        name = result["file"] or result["signal"]
        if "error" in result:
            print_file_error(name, result['error']['detail'])
            continue
        for warning in result.get("warnings", []):
            stderr.print(f"[yellow]warning:[/] {name}: {warning}")
        if not result["matches"]:
            table.add_row(name, "[dim]no match[/]", "", "", "", "")
        for match in result["matches"]:
            table.add_row(name, match["bank"], str(match["entry_id"]), match["signal_type"],
                          str(match["distance"]), match["variant"])
    stdout.print(table)
