"""``deepshield content``: the platform's content registry (register, import, flagged, removed)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stderr, stdout
from deepshield.errors import DeepShieldError
from deepshield.media import read_media_file
from deepshield.services.spread import content_registry as registry

app = typer.Typer(help="The platform's content registry: uploads by hash, copies listed by takedowns.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ItemArg = Annotated[str, typer.Argument(help="The platform's own id for the item.")]


def _print_registered(items: list[registry.RegisteredItem], as_json: bool) -> None:
    if as_json:
        print_json([asdict(item) for item in items])
        return
    table = Table("item", "status", "blocked by", "signals added")
    for item in items:
        status = "[bold red]blocked[/]" if item.blocked else item.status
        table.add_row(item.item_id, status, item.matched_case_ref or "", str(item.added))
    stdout.print(table)


@app.command("register")
def register(
    item_id: ItemArg,
    file: Annotated[Path, typer.Argument(help="The item's image or video (hashed here, never stored).")],
    uploader: Annotated[str | None, typer.Option(
        "--uploader", help="The uploader's opaque account id (never a name).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register one upload by its hashes. 'blocked' means it is a copy of removed content."""
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        try:
            data = read_media_file(file, ctx.settings.limits.max_bytes)
        except DeepShieldError as error:
            raise type(error)(f"{file}: {error.detail}") from error
        item = registry.register_media(ctx, item_id, data, principal, uploader_ref=uploader)
    _print_registered([item], as_json)


@app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(help="A CSV or JSON Lines file, or a folder of media.")],
    uploader: Annotated[str | None, typer.Option(
        "--uploader", help="For a folder: the uploader's opaque account id for every file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register many items: CSV (header item_id,signal_type,signal_value[,quality,uploader_ref])
    or JSON Lines with one signal per row, or every media file below a folder (each named by
    its path inside the folder). Everything is checked first; if anything is invalid, nothing
    is registered."""
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        progress = Progress(TextColumn("Registering"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=stderr, transient=True)
        with progress:
            task = progress.add_task("register", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            if source.is_dir():
                summary = registry.import_folder(ctx, source, principal, uploader_ref=uploader,
                                                 progress=report)
            else:
                summary = registry.import_file(ctx, source, principal, progress=report)
    if as_json:
        print_json(asdict(summary))
    else:
        stdout.print(f"Registered {summary.items} items from {summary.rows} {summary.format} rows: "
                     f"{summary.added} new signals, {summary.duplicates} already registered, "
                     f"{summary.blocked} blocked as copies of removed content")


@app.command("flagged")
def flagged(
    case: Annotated[str | None, typer.Option("--case", help="Only this case's copies (DS-...).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many items.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """List the items takedown sweeps found as copies, to act on."""
    with reported_errors(as_json):
        items = registry.list_flagged(open_context(), local_operator(), case, limit=limit)
    if as_json:
        print_json([asdict(item) for item in items])
        return
    table = Table("item", "case", "uploader", "signals", "listed at")
    for item in items:
        table.add_row(item.item_id, item.case_number or "", item.uploader_ref or "",
                      ", ".join(item.signal_types),
                      item.status_changed_at.isoformat(timespec="seconds") if item.status_changed_at else "")
    stdout.print(table)
    if not items:
        stdout.print("No items are listed for action.")


@app.command("removed")
def removed(item_id: ItemArg, as_json: JsonOption = False) -> None:
    """Record that a listed item was taken down (final)."""
    with reported_errors(as_json):
        principal = local_operator()
        item = registry.mark_actioned(open_context(), item_id, "removed", principal)
    _print_registered([item], as_json)
