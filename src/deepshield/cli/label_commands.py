"""``deepshield label``: watermark, sign (C2PA) and register generated images and videos."""

from __future__ import annotations

import contextlib
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
from deepshield.labels import VisibleLabelSpec
from deepshield.media import read_media_file
from deepshield.services.label.labelling import (
    LABEL_SUFFIXES,
    LabelResult,
    label_media,
    labelling_key,
    signing_identity,
)


def _visible_spec(visible: bool, style: str, corner: str, size: float,
                  contrast: float) -> VisibleLabelSpec | None:
    if not visible:
        return None
    try:
        return VisibleLabelSpec(style=style, corner=corner, size=size, contrast=contrast)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidRequest(f"visible label: {exc}") from None


def _pairs(source: Path, target: Path) -> list[tuple[Path, Path]]:
    """(input, output) files: one file, or every labellable file of a folder into a folder."""
    if source.is_dir():
        if target.exists() and not target.is_dir():
            raise InvalidRequest(f"{target} is a file; to label a folder, give an output folder")
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in LABEL_SUFFIXES)
        if not files:
            raise InvalidRequest(f"{source} holds no {', '.join(sorted(LABEL_SUFFIXES))} files")
        return [(path, target / path.relative_to(source)) for path in files]
    if not source.exists():
        raise InvalidRequest(f"{source} does not exist")
    if target.is_dir():
        target = target / source.name
    if target.suffix.lower() != source.suffix.lower():
        raise InvalidRequest(f"the output keeps the input's format: write {source.suffix} to "
                             f"{source.suffix}, not {target.suffix or 'no extension'}")
    if source.resolve() == target.resolve():
        raise InvalidRequest("the output must be a different file from the input")
    return [(source, target)]


def _view(path: Path, result: LabelResult) -> dict[str, Any]:
    return {"file": str(path), "label_id": result.label_id, "manifest_id": result.manifest_id,
            "mime_type": result.mime_type, "pdq": result.pdq_hex, "generator": result.generator,
            "model": result.model, "created_at": result.created_at,
            "visible_label": result.visible_label, "registered_at": result.registered_at,
            "watermark_key_id": result.watermark_key_id}


def label_command(
    source: Annotated[Path, typer.Argument(help="A JPEG, PNG, WebP or MP4 file, or a folder of them.")],
    target: Annotated[Path, typer.Argument(help="The output file (same format), or a folder.")],
    generator: Annotated[str, typer.Option(help="The AI system that generated the content.")],
    model: Annotated[str | None, typer.Option(help="The model name and version.")] = None,
    visible: Annotated[bool, typer.Option(help="Also add a visible label (EU 'AI' mark by default; "
                                                "on video, during the first seconds).")] = False,
    visible_style: Annotated[str, typer.Option(help="eu ('AI' badge) or cn (China's explicit "
                                                    "'AI生成' label).")] = "eu",
    visible_corner: Annotated[str, typer.Option(help="top-left, top-right, bottom-left or "
                                                     "bottom-right.")] = "bottom-right",
    visible_size: Annotated[float, typer.Option(help="Badge height as a share of the shorter "
                                                     "side.")] = 0.08,
    visible_contrast: Annotated[float, typer.Option(help="How strongly the badge stands out, "
                                                         "0-1.")] = 1.0,
    public_mark: Annotated[bool, typer.Option(help="Mark with DeepShield's public key: anyone can read "
                                                   "the label offline, and anyone can remove it. By "
                                                   "default your own secret key marks it, which only "
                                                   "the manifest repository reads.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Label AI output: invisible watermark + signed C2PA manifest + registered fingerprint.

    Needs a signing certificate: run `deepshield keys init` once for a development one.
    The watermark is made with your own secret key (made on first use; docs/WATERMARK_KEYS.md),
    or with the public key given --public-mark. Nothing is written for a file that fails; the
    others go on.
    """
    results: list[dict[str, Any]] = []
    errors: list[DeepShieldError] = []
    with reported_errors(as_json):
        principal = local_operator()
        spec = _visible_spec(visible, visible_style, visible_corner, visible_size, visible_contrast)
        pairs = _pairs(source, target)
        ctx = open_context()
        identity = signing_identity(ctx.settings)
        key = None  # the mark's key, looked up once the first file is labelled (none for a refused one)
        with progress_bar(len(pairs), "Labelling") as progress:
            for path, out in pairs:
                try:
                    data = read_media_file(path, ctx.settings.limits.max_bytes)
                    result = label_media(ctx, data, generator=generator, model=model,
                                         principal=principal, title=path.name, visible=spec,
                                         identity=identity, watermark_key=key, public_mark=public_mark)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    write_atomically(out, result.data)
                    results.append(_view(out, result))
                    if key is None:
                        with contextlib.suppress(DeepShieldError):  # else the next file looks it up itself
                            key = labelling_key(ctx, principal, public_mark=public_mark)
                except DeepShieldError as error:
                    errors.append(error)
                    results.append({"file": str(path), "error": error_view(error)})
                except OSError as exc:
                    error = InvalidRequest(f"{out}: cannot be written: {exc.strerror or exc}")
                    errors.append(error)
                    results.append({"file": str(path), "error": error_view(error)})
                advance(progress)
    if as_json:
        print_json(results if source.is_dir() else results[0])
    else:
        table = Table("file", "label id", "manifest", "watermark key")
        for row in results:
            if "error" in row:
                print_file_error(row['file'], row['error']['detail'])
                continue
            table.add_row(row["file"], row["label_id"], row["manifest_id"], row["watermark_key_id"])
        if table.row_count:
            stdout.print(table)
    if errors:
        raise typer.Exit(int(exit_code_for(errors[0])))
