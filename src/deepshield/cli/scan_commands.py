"""``deepshield scan``: scan an archive against every active bank, here or on a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stderr, stdout


def scan_command(
    source: Annotated[Path, typer.Argument(
        help="A folder (every file below it) or a listing: .csv, .jsonl or .parquet with a `path` "
             "column and an optional `content_id` column; relative paths are relative to the listing.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Where the rows go: FILE.jsonl (JSON Lines) or FILE.parquet.")],
    detect_labels: Annotated[bool, typer.Option(
        "--detect-labels", help="Also read DeepShield watermarks and C2PA labels (finds labelled "
                                "AI content; `deepshield verify` gives a file's verdict).")] = False,
    reposts: Annotated[bool | None, typer.Option(
        "--reposts/--no-reposts",
        help="Also look for reposts (trimmed borders, cut caption bands, rotated back), as an upload "
             "is matched: about twice the CPU per file. Default: DEEPSHIELD_REPOST_QUERIES (on).",
        show_default=False)] = None,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="auto|ADDRESS",
        help="Run on a Ray cluster with Ray Data: `auto` for the cluster this machine joined "
             "(`ray start`), or its HOST:PORT. Needs `pip install 'deepshield[ray]'`.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Go on with the unfinished scan into --out (after a stop, even kill -9): "
                         "files already in it are not scanned again.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Scan an archive against every active bank: one row per file, matches and errors.

    Each row holds the file's content id, `path`, `matches` (bank, entry, signal type, distance,
    variant) and `error` (a file that cannot be read: corrupt, truncated, too large, not media).
    Bad files never stop a scan. Rows are written as they are done; a stopped scan goes on with
    --resume. The summary (files, matched, errors, throughput) is printed at the end, and the
    scan is audit-logged as one event. Exit code 0 when the scan finished, whatever it found.
    """
    with reported_errors(as_json):
        runner_mode = "local"
        from deepshield.services.spread import scan

        runner = scan.run_local
        if ray is not None:
            from deepshield.services.spread.scan_ray import ray_runner

            runner, runner_mode = ray_runner(ray), "ray"
        principal = local_operator()
        ctx = open_context()
        progress = _Progress()
        try:
            summary = scan.scan_archive(ctx, principal, source, out, detect_labels=detect_labels,
                                        reposts=reposts, resume=resume, runner=runner, mode=runner_mode,
                                        on_start=progress.start, on_rows=progress.advance)
        finally:
            progress.stop()
    if as_json:
        print_json(summary.to_dict())
        return
    rate = f"{summary.files_per_second:,.1f} files/s" if summary.scanned else "nothing left to scan"
    stdout.print(f"Scanned {summary.files:,} files into {summary.out} ({summary.mode}): "
                 f"[bold]{summary.matched:,} matched[/], {summary.errors:,} errors"
                 + (f", {summary.labelled:,} labelled" if detect_labels else "")
                 + (f"; {summary.resumed:,} were done before this run" if summary.resumed else "")
                 + f". {summary.scanned:,} in {summary.seconds:,.1f} s: {rate}.")


class _Progress:
    """A bar on stderr with files per second and the time left, fed by the rows written."""

    def __init__(self) -> None:
        self._progress = None

    def start(self, total: int, done: int) -> None:
        if total - done < 2:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("Scanning"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(), console=stderr, transient=True)
        self._progress.start()
        self._progress.add_task("scan", total=total, completed=done, rate="")

    def advance(self, rows: int) -> None:
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        self._progress.advance(task.id, rows)
        speed = task.speed
        self._progress.update(task.id, rate=f"{speed:,.1f} files/s" if speed else "")

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
