"""Read media files from disk with a size cap, so a huge file is refused before it is read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from deepshield.media.errors import EmptyMedia, MediaError, MediaTooLarge


def read_media_file(path: Path, max_bytes: int) -> bytes:
    """Return the bytes of ``path``; refuse directories, unreadable, empty and oversized files.

    Messages do not repeat the path; callers name the file.
    """
    if not path.exists():
        raise MediaError("no such file")
    if not path.is_file():
        raise MediaError("not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise EmptyMedia("the file is empty (0 bytes)")
    if size > max_bytes:
        raise MediaTooLarge(f"the file is {size:,} bytes; the limit is {max_bytes:,} bytes")
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise MediaError(f"cannot be read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise MediaTooLarge(f"the file grew past the limit of {max_bytes:,} bytes while it was read")
    return data


def expand_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield files named directly, and every regular file below named directories, sorted.

    Hidden files and folders (dot-names) below a directory are skipped; a path given
    by name is always yielded, so that a missing file is reported, not ignored.
    """
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                relative = child.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if child.is_file():
                    yield child
        else:
            yield path
