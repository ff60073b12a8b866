"""``deepshield watermark``: embed and detect DeepShield's invisible watermark in images and videos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from deepshield.cli.output import (
    advance,
    error_view,
    exit_code_for,
    print_json,
    progress_bar,
    reported_errors,
    stderr,
    stdout,
    write_atomically,
)
from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media import expand_paths, read_media_file
from deepshield.services.label.watermarking import detect_watermark, embed_watermark
from deepshield.settings import load_settings

app = typer.Typer(help="The invisible watermark: embed a 64-bit payload, detect it.",
                  no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("embed")
def embed_command(
    source: Annotated[Path, typer.Argument(help="The image or video to mark.")],
    target: Annotated[Path, typer.Argument(
        help="Where to write it: .png, .jpg, .webp, .tif or .bmp for images; a video keeps its "
             "container (.mp4, .mov, .mkv, .webm).")],
    payload: Annotated[str, typer.Option(help="The payload: 16 hex digits (64 bits).")],
    as_json: JsonOption = False,
) -> None:
    """Write a copy of an image or video carrying an invisible 64-bit payload.

    Nothing is written on error.
    """
    with reported_errors(as_json):
        settings = load_settings()
        if source.resolve() == target.resolve():
            raise InvalidRequest("the output must be a different file from the input")
        try:
            data = read_media_file(source, settings.limits.max_bytes)
        except DeepShieldError as error:
            raise type(error)(f"{source}: {error.detail}") from error
        marked = embed_watermark(data, payload, target.suffix, settings.limits)
        try:
            write_atomically(target, marked)
        except OSError as exc:
            raise InvalidRequest(f"{target}: cannot be written: {exc.strerror or exc}") from None
    if as_json:
        print_json({"file": str(target), "payload": payload.strip().lower()})
    else:
        stdout.print(f"Wrote {target} carrying payload {payload.strip().lower()}")


@app.command("detect")
def detect_command(
    paths: Annotated[list[Path], typer.Argument(help="Images or videos, or folders of them.")],
    as_json: JsonOption = False,
) -> None:
    """Look for the watermark. Exit 0 whether or not it is found; 3 if a file cannot be read.

    Not finding it says nothing about where an image came from: marks can be removed.
    """
    results: list[dict[str, Any]] = []
    errors: list[DeepShieldError] = []
    with reported_errors(as_json):
        settings = load_settings()
        files = list(expand_paths(paths))
        with progress_bar(len(files), "Detecting") as progress:
            for path in files:
                try:
                    data = read_media_file(path, settings.limits.max_bytes)
                    report = detect_watermark(data, settings.limits)
                    results.append({"file": str(path), "found": report.found,
                                    "payload": report.payload_hex,
                                    "confidence": report.confidence})
                except DeepShieldError as error:
                    errors.append(error)
                    results.append({"file": str(path), "found": False, "payload": None,
                                    "confidence": 0.0, "error": error_view(error)})
                advance(progress)
    if as_json:
        print_json(results)
    else:
        table = Table("file", "watermark", "payload", "confidence")
        for result in results:
            if "error" in result:
                stderr.print(f"[red]error:[/] {result['file']}: {result['error']['detail']}")
                continue
            table.add_row(result["file"], "found" if result["found"] else "not found",
                          result["payload"] or "", f"{result['confidence']:.2f}")
        if table.row_count:
            stdout.print(table)
    if errors:
        raise typer.Exit(int(exit_code_for(errors[0])))
