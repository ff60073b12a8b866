"""read_media_file and expand_paths: reading uploads from disk without surprises."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepshield.media import (
    EmptyMedia,
    MediaError,
    MediaTooLarge,
    expand_paths,
    read_media_file,
)


def test_read_media_file_returns_the_exact_bytes(tmp_path):
    path = tmp_path / "photo.jpg"
    content = bytes(range(256)) * 10
    path.write_bytes(content)
    assert read_media_file(path, max_bytes=len(content)) == content


def test_read_media_file_refuses_a_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file") as caught:
        read_media_file(tmp_path / "absent.png", max_bytes=1000)
    assert type(caught.value) is MediaError


def test_read_media_file_refuses_a_directory(tmp_path):
    with pytest.raises(MediaError, match="not a regular file"):
        read_media_file(tmp_path, max_bytes=1000)


def test_read_media_file_refuses_an_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(EmptyMedia, match="empty"):
        read_media_file(path, max_bytes=1000)


def test_read_media_file_refuses_a_file_over_the_limit_and_gives_both_sizes(tmp_path):
    path = tmp_path / "big.mp4"
    path.write_bytes(b"\x00" * 2_001)
    with pytest.raises(MediaTooLarge) as caught:
        read_media_file(path, max_bytes=2_000)
    assert "2,001 bytes" in caught.value.detail
    assert "2,000 bytes" in caught.value.detail


def test_read_media_file_accepts_a_file_exactly_at_the_limit(tmp_path):
    path = tmp_path / "exact.bin"
    path.write_bytes(b"\x01" * 2_000)
    assert len(read_media_file(path, max_bytes=2_000)) == 2_000


def test_read_media_file_follows_a_symlink_to_a_file(tmp_path):
    target = tmp_path / "real.png"
    target.write_bytes(b"pixels")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    assert read_media_file(link, max_bytes=100) == b"pixels"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_expand_paths_walks_directories_sorted_and_skips_dot_names(tmp_path):
    root = tmp_path / "uploads"
    for name in [
        "b.jpg",
        "a.png",
        "sub/z.mp4",
        "sub/deeper/c.webp",
        "A-upper.gif",
        ".hidden.jpg",
        ".cache/inside.jpg",
        "sub/.DS_Store",
        "sub/.thumbs/t.jpg",
    ]:
        _touch(root / name)
    (root / "empty-folder").mkdir()
    found = list(expand_paths([root]))
    relative = [path.relative_to(root).as_posix() for path in found]
    assert relative == ["A-upper.gif", "a.png", "b.jpg", "sub/deeper/c.webp", "sub/z.mp4"]
    assert all(path.is_file() for path in found)


def test_expand_paths_yields_named_files_as_given_even_when_missing_or_hidden(tmp_path):
    hidden = _touch(tmp_path / ".named-on-purpose.jpg")
    missing = tmp_path / "not-there.png"
    assert list(expand_paths([missing, hidden])) == [missing, hidden]


def test_expand_paths_keeps_argument_order_and_repeats(tmp_path):
    first = _touch(tmp_path / "z-dir" / "1.jpg")
    second = _touch(tmp_path / "a.jpg")
    assert list(expand_paths([first.parent, second, first.parent])) == [first, second, first]


def test_expand_paths_of_a_dot_named_directory_given_by_name_lists_its_files(tmp_path):
    # Only names *below* the directory are checked for dots, not the directory itself.
    folder = tmp_path / ".exports"
    inside = _touch(folder / "photo.jpg")
    assert list(expand_paths([folder])) == [inside]


def test_expand_paths_is_lazy(tmp_path):
    _touch(tmp_path / "a.jpg")
    iterator = expand_paths([tmp_path])
    assert iter(iterator) is iterator
