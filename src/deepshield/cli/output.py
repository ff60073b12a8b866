"""How the CLI reports: JSON on stdout with ``--json``, Rich tables otherwise, errors on stderr.

Exit codes (also in docs/CLI.md):
0 success; 1 internal error; 2 usage error; 3 invalid input (bad, corrupt, too large or
low-quality media, malformed hash); 4 not found; 5 conflict; 6 store unavailable.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from deepshield.errors import Category, DeepShieldError

if TYPE_CHECKING:
    from rich.progress import Progress


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    INVALID_INPUT = 3
    NOT_FOUND = 4
    CONFLICT = 5
    UNAVAILABLE = 6


_BY_CATEGORY = {
    Category.INVALID_INPUT: ExitCode.INVALID_INPUT,
    Category.TOO_LARGE: ExitCode.INVALID_INPUT,
    Category.NOT_FOUND: ExitCode.NOT_FOUND,
    Category.CONFLICT: ExitCode.CONFLICT,
    Category.UNAUTHORIZED: ExitCode.INVALID_INPUT,
    Category.FORBIDDEN: ExitCode.INVALID_INPUT,
    Category.UNAVAILABLE: ExitCode.UNAVAILABLE,
}

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def print_file_error(name: object, detail: str) -> None:
    """``error: NAME: DETAIL`` on stderr, both printed as they are (a file name or a message
    holding ``[...]`` is not Rich markup)."""
    stderr.print(f"[red]error:[/] {escape(str(name))}: {escape(detail)}")


def exit_code_for(error: DeepShieldError) -> ExitCode:
    return _BY_CATEGORY.get(error.category, ExitCode.INVALID_INPUT)


def error_view(error: DeepShieldError) -> dict[str, str]:
    return {"code": error.code, "detail": error.detail}


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def fail(error: DeepShieldError, as_json: bool) -> typer.Exit:
    """Report ``error`` and return the ``typer.Exit`` to raise."""
    if as_json:
        print_json({"error": error.code, "detail": error.detail})
    else:
        stderr.print(f"[bold red]error:[/] {escape(error.detail)}", markup=True)
    return typer.Exit(int(exit_code_for(error)))


@contextmanager
def reported_errors(as_json: bool) -> Iterator[None]:
    """Turn a ``DeepShieldError`` into a clear message and its exit code."""
    try:
        yield
    except DeepShieldError as error:
        raise fail(error, as_json) from None


@contextmanager
def progress_bar(total: int, description: str) -> Iterator[Progress | None]:
    """A progress bar on stderr for work over several files. For a single file (or none) nothing
    is drawn and ``None`` stands in for the bar; pass either to ``advance``."""
    if total < 2:
        # No bar to draw, so rich.progress is not even imported: `deepshield hash one.jpg`
        # should start as fast as it can.
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr, transient=True,
    )
    with progress:
        progress.add_task(description, total=total)
        yield progress


def advance(progress: Progress | None) -> None:
    """Count one item done on a bar from ``progress_bar`` (nothing when it stands in as None)."""
    if progress is not None:
        progress.advance(progress.task_ids[0])


def worst_exit(errors: Sequence[DeepShieldError]) -> ExitCode:
    return exit_code_for(errors[0]) if errors else ExitCode.OK


def write_atomically(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` via a temporary file and a rename: never a half-written file."""
    import tempfile  # only writers need it; every command imports this module

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content.encode("utf-8") if isinstance(content, str) else content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
