"""``deepshield forensics sources``: which registered picture or video a file was made from (issue 16).

Mounted under ``deepshield forensics`` by ``cli/forensics_commands.py``. The search and what
the caller may see are the service's (``services.verify.source_search``); the CLI's local operator
is the installation's admin, so it searches the reference library and the content registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

#: Exit codes (errors keep their own codes 1-6).
FOUND, NONE_FOUND = 0, 22


def parse_face(text: str) -> tuple[int, int, int, int]:
    """``x,y,width,height`` (whole numbers, the file's pixels) as a box."""
    parts = text.split(",")
    if len(parts) != 4 or not all(part.strip().isdigit() for part in parts):
        raise typer.BadParameter(f"write a face box as x,y,width,height in whole pixels; got {text!r}")
    x, y, width, height = (int(part) for part in parts)
    return x, y, width, height


def _signal_text(signal: dict[str, Any]) -> str:
    kind = signal["signal"]
    if kind == "pdq":
        return f"PDQ {signal['distance']} bits ({signal['variant']})"
    if kind == "vpdq":
        return (f"vPDQ {signal['frames_matched']} of {signal['frames_searched']} frames, median "
                f"{signal['distance']} bits")
    if kind == "keypoints":
        return f"{signal['inliers']} local features{' (mirrored)' if signal.get('mirrored') else ''}"
    return f"{kind.upper()} equal (the same bytes)"


def sources_command(
    file: Annotated[Path, typer.Argument(help="The file in question (an image or a video).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the candidates and comparisons as "
                                                         "JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=20, help="Most candidates listed.")] = 5,
    face: Annotated[list[str] | None, typer.Option(
        "--face", help="A face's box in FILE's pixels, x,y,width,height (repeatable): its features are "
                       "left out of the search.")] = None,
    compare: Annotated[bool, typer.Option(
        "--compare/--no-compare", help="Compare FILE with the best candidates whose file is in the "
                                       "reference library (up to 3).")] = True,
) -> None:
    """Find the registered source FILE may come from: in the reference library and the content registry.

    Candidates are ranked, each with where it was found (a reference library bank and the
    reference's name, or a content registry item), by which signal (the same bytes, PDQ with the
    variant that met it, vPDQ frames, local features that agree on one geometry) and how near.
    A candidate whose file sits in the reference library (DEEPSHIELD_REFERENCE_LIBRARY) is compared
    with FILE, as `forensics compare` does. Exit 0 when a candidate was found, 22 when none was.
    """
    from rich.table import Table

    from deepshield.cli.operator import local_operator, open_context
    from deepshield.cli.output import print_json, reported_errors, stdout
    from deepshield.media import read_media_file
    from deepshield.services.verify.source_search import compare_candidates, find_sources

    boxes = [parse_face(text) for text in face or []]
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        data = read_media_file(file, ctx.settings.limits.max_bytes)
        search = find_sources(ctx, data, principal=principal, limit=limit, faces=boxes)
        compared = compare_candidates(ctx, data, search, principal=principal,
                                      suspect_name=file.name) if compare else []
    body = search.to_dict()
    body["file"] = str(file)
    body["comparisons"] = [item.to_dict() for item in compared]
    if as_json:
        print_json(body)
    else:
        for warning in search.warnings:
            stdout.print(f"[yellow]note:[/] {warning}")
        if not search.candidates:
            stdout.print(f"[bold]{file}[/]: no candidate source in {' or '.join(search.searched)}")
        else:
            table = Table("rank", "where", "found by", show_edge=False)
            for candidate in body["candidates"]:
                where = (f"{candidate['bank']}: {candidate['reference']}"
                         if candidate["corpus"] == "reference_library"
                         else f"content registry: {candidate['item_id']} ({candidate['status']})")
                table.add_row(str(candidate["rank"]), where,
                              "; ".join(_signal_text(signal) for signal in candidate["signals"]))
            stdout.print(f"[bold]{file}[/]: {len(search.candidates)} candidate source(s)")
            stdout.print(table)
        for item in compared:
            name = item.candidate.reference
            if item.comparison is not None:
                stdout.print(f"compared with #{item.candidate.rank} ({name}): "
                             f"[bold]{item.comparison.outcome.value}[/]")
                stdout.print(f"  {item.comparison.summary}")
            elif item.error is not None:
                stdout.print(f"could not compare with #{item.candidate.rank} ({name}): {item.error.detail}")
    raise typer.Exit(FOUND if search.candidates else NONE_FOUND)
