"""``deepshield watermark``: embed and detect DeepShield's invisible watermark in images and videos,
and ``deepshield watermark keys``: the providers' secret watermark keys (docs/WATERMARK_KEYS.md)."""

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
    write_atomically,
)
from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media import expand_paths, read_media_file
from deepshield.services.label import watermark_keys
from deepshield.services.label.watermarking import WatermarkReport, detect_watermark_upload, embed_watermark
from deepshield.settings import load_settings
from deepshield.watermark import PUBLIC_KEY

app = typer.Typer(help="The invisible watermark: embed a 64-bit payload, detect it.",
                  no_args_is_help=True)
keys_app = typer.Typer(help="Providers' secret watermark keys: list, export for offline reading, retire.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
KeyFileOption = Annotated[Path | None, typer.Option(
    "--key-file", help="An exported watermark key (`deepshield watermark keys export`).")]


@app.command("embed")
def embed_command(
    source: Annotated[Path, typer.Argument(help="The image or video to mark.")],
    target: Annotated[Path, typer.Argument(
        help="Where to write it: .png, .jpg, .webp, .tif or .bmp for images; a video keeps its "
             "container (.mp4, .mov, .mkv, .webm).")],
    payload: Annotated[str, typer.Option(help="The payload: 16 hex digits (64 bits).")],
    key_file: KeyFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a copy of an image or video carrying an invisible 64-bit payload.

    The mark is made with DeepShield's public key (anyone can read it, and remove it) unless
    --key-file gives an exported secret key. Nothing is written on error.
    """
    with reported_errors(as_json):
        settings = load_settings()
        key = watermark_keys.load_key_file(key_file) if key_file is not None else PUBLIC_KEY
        if source.resolve() == target.resolve():
            raise InvalidRequest("the output must be a different file from the input")
        try:
            data = read_media_file(source, settings.limits.max_bytes)
        except DeepShieldError as error:
            raise type(error)(f"{source}: {error.detail}") from error
        marked = embed_watermark(data, payload, target.suffix, settings.limits, key)
        try:
            write_atomically(target, marked)
        except OSError as exc:
            raise InvalidRequest(f"{target}: cannot be written: {exc.strerror or exc}") from None
    if as_json:
        print_json({"file": str(target), "payload": payload.strip().lower(), "key_id": key.key_id})
    else:
        stdout.print(f"Wrote {target} carrying payload {payload.strip().lower()} (key {key.key_id})")


def _detection_view(path: Path, report: WatermarkReport) -> dict[str, Any]:
    return {"file": str(path), "found": report.found, "payload": report.payload_hex,
            "confidence": report.confidence, "key_id": report.key_id,
            "marks": [{"payload": mark.payload_hex, "key_id": mark.key_id, "slot": mark.slot,
                       "confidence": mark.confidence} for mark in report.marks]}


@app.command("detect")
def detect_command(
    paths: Annotated[list[Path], typer.Argument(help="Images or videos, or folders of them.")],
    key_file: Annotated[list[Path] | None, typer.Option(
        "--key-file", help="Also read with this exported watermark key (repeatable).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Look for the watermark. Exit 0 whether or not it is found; 3 if a file cannot be read.

    Reads with this installation's keys (the public key and every provider's active key) and any
    --key-file; every mark found is listed with its key. Not finding it says nothing about where
    an image came from: marks can be removed. Audit-logged.
    """
    results: list[dict[str, Any]] = []
    errors: list[DeepShieldError] = []
    with reported_errors(as_json):
        extra = [watermark_keys.load_key_file(path) for path in key_file or []]
        principal = local_operator()
        ctx = open_context()
        files = list(expand_paths(paths))
        with progress_bar(len(files), "Detecting") as progress:
            for path in files:
                try:
                    data = read_media_file(path, ctx.settings.limits.max_bytes)
                    report = detect_watermark_upload(ctx, data, principal, extra)
                    results.append(_detection_view(path, report))
                except DeepShieldError as error:
                    errors.append(error)
                    results.append({"file": str(path), "found": False, "payload": None,
                                    "confidence": 0.0, "key_id": None, "marks": [],
                                    "error": error_view(error)})
                advance(progress)
    if as_json:
        print_json(results)
    else:
        table = Table("file", "watermark", "payload", "key", "confidence")
        for result in results:
            if "error" in result:
                print_file_error(result['file'], result['error']['detail'])
                continue
            if not result["marks"]:
                table.add_row(result["file"], "not found", "", "", f"{result['confidence']:.2f}")
            for number, mark in enumerate(result["marks"]):
                table.add_row(result["file"] if number == 0 else "", "found", mark["payload"],
                              mark["key_id"], f"{mark['confidence']:.2f}")
        if table.row_count:
            stdout.print(table)
    if errors:
        raise typer.Exit(int(exit_code_for(errors[0])))


# --- deepshield watermark keys ----------------------------------------------------------------


def _key_view(info: watermark_keys.WatermarkKeyInfo) -> dict[str, Any]:
    return {"key_id": info.key_id, "owner": info.owner, "created_at": info.created_at.isoformat(),
            "retired_at": info.retired_at.isoformat() if info.retired_at else None}


@keys_app.command("list")
def list_keys_command(as_json: JsonOption = False) -> None:
    """List every provider's watermark key: id, owner, made, retired. Secrets are never shown."""
    with reported_errors(as_json):
        keys = watermark_keys.list_keys(open_context(), local_operator())
    if as_json:
        print_json([_key_view(info) for info in keys])
        return
    table = Table("key id", "owner", "created", "retired")
    for info in keys:
        table.add_row(info.key_id, info.owner, info.created_at.isoformat(timespec="seconds"),
                      info.retired_at.isoformat(timespec="seconds") if info.retired_at else "")
    stdout.print(table)


@keys_app.command("export")
def export_key_command(
    out: Annotated[Path, typer.Option(help="The key file to write (mode 0600).")],
    key_id: Annotated[str | None, typer.Option(
        help="The key to export (the operator may export any); default: your own, made if needed.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Write a watermark key to a private file, to read (and make) its marks offline with
    `watermark detect --key-file` and `watermark embed --key-file`. Audit-logged.

    Whoever holds the file can read, make and remove that key's marks: keep it like a password.
    """
    with reported_errors(as_json):
        exported = watermark_keys.export_key(open_context(), local_operator(), key_id, create=key_id is None)
        try:
            watermark_keys.write_key_file(out, exported)
        except OSError as exc:
            raise InvalidRequest(f"{out}: cannot be written: {exc.strerror or exc}") from None
    if as_json:
        print_json({**_key_view(exported.info), "file": str(out)})
    else:
        stdout.print(f"Wrote watermark key {exported.info.key_id} to {out} (mode 0600). Keep it secret.")


@keys_app.command("retire")
def retire_key_command(
    key_id: Annotated[str, typer.Argument(help="The key id from `watermark keys list`.")],
    as_json: JsonOption = False,
) -> None:
    """Retire a watermark key: no label is made with it any more, and its marks are no longer read
    here (its labels are then found by their fingerprint). The owner's next label gets a new key."""
    with reported_errors(as_json):
        info = watermark_keys.retire_key(open_context(), local_operator(), key_id)
    if as_json:
        print_json(_key_view(info))
    else:
        stdout.print(f"Retired watermark key {info.key_id}")
