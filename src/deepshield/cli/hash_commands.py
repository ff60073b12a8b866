"""``deepshield hash``: fingerprint files offline. Nothing is stored or sent."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

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
from deepshield.errors import DeepShieldError
from deepshield.media import expand_paths
from deepshield.services.json_shapes import media_signals_json
from deepshield.services.spread.hashing import MediaSignals, hash_file
from deepshield.settings import Settings, load_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def iter_hashed_files(
    paths: list[Path], settings: Settings, *, hash_set: bool = False
) -> Iterator[tuple[Path, MediaSignals | DeepShieldError]]:
    """Hash every file named or found below named folders, with a progress bar.

    Yields each file with its signals, or with the error that refused it.
    """
    files = list(expand_paths(paths))
    with progress_bar(len(files), "Hashing") as progress:
        for path in files:
            try:
                yield path, hash_file(path, settings.limits,
                                      seconds_per_video_hash=settings.seconds_per_video_hash,
                                      hash_set=hash_set)
            except DeepShieldError as error:
                yield path, error
            advance(progress)


def hash_paths(paths: list[Path], *, hash_set: bool = False
                ) -> tuple[list[dict[str, Any]], list[DeepShieldError]]:
    """Hash every file; one record per file, errors inline.

    This runs on the victim's or helpline's own device, whose memory is theirs to spend: every
    image up to the pixel limit is hashed at full size, so its PDQ hash is bit-identical to
    Meta's reference (the server reduces images over 24 Mpx first, media/limits.py)."""
    settings = load_settings()
    settings = settings.with_overrides(
        limits=replace(settings.limits, max_analysis_pixels=settings.limits.max_pixels))
    records: list[dict[str, Any]] = []
    errors: list[DeepShieldError] = []
    for path, result in iter_hashed_files(paths, settings, hash_set=hash_set):
        if isinstance(result, DeepShieldError):
            errors.append(result)
            records.append({"file": str(path), "error": error_view(result)})
        else:
            records.append({"file": str(path),
                            **media_signals_json(result, settings.match.pdq_min_quality)})
    return records, errors


def hash_command(
    paths: Annotated[list[Path], typer.Argument(help="Image or video files, or folders of them.")],
    as_json: JsonOption = False,
    hash_set: Annotated[bool, typer.Option(
        "--hash-set", help="Also compute each image's repost hash set (a few crops), so "
                           "cropped reposts are found too; see docs/MATCHING.md.")] = False,
) -> None:
    """Fingerprint images and videos on this device: PDQ (or vPDQ for video), MD5, SHA-256.

    Works offline, with no store. The output of --json can be given to
    `deepshield bank add BANK --hashes FILE`, so only hashes ever leave the device.
    """
    with reported_errors(as_json):
        records, errors = hash_paths(paths, hash_set=hash_set)
    if as_json:
        print_json(records)
    else:
        from rich.table import Table  # here: `--json` output, for scripts, does without it

        table = Table("file", "kind", "pdq / frames", "quality", "md5")
        for record in records:
            if "error" in record:
                print_file_error(record['file'], record['error']['detail'])
                continue
            summary = record["pdq"] or f"{len(record.get('vpdq', []))} frame hashes"
            quality = "" if record["quality"] is None else str(record["quality"])
            table.add_row(record["file"], record["kind"], summary, quality, record["md5"])
            for warning in record["warnings"]:
                stderr.print(f"[yellow]warning:[/] {record['file']}: {warning}")
        stdout.print(table)
    if not records:
        stderr.print("[yellow]warning:[/] no files found")
    if errors:
        raise typer.Exit(int(exit_code_for(errors[0])))
