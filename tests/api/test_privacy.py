"""A victim's image never touches the disk, and the store keeps hashes, never image bytes."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from deepshield.services.access import Role
from deepshield.store.models import Base
from factories import encode_image

BANK = "private"
# Starlette's form parser spools files over 1 MiB to disk; these uploads are well past that.
SPOOL_THRESHOLD = 1024 * 1024


@pytest.fixture(scope="module")
def big_noise_png() -> bytes:
    """A 1200×1200 PNG of noise: incompressible, so over 4 MB and full of unique byte runs."""
    pixels = np.random.default_rng(2024).integers(0, 256, (1200, 1200, 3), dtype=np.uint8)
    data = encode_image(pixels, "PNG", compress_level=1)
    assert len(data) > 2 * SPOOL_THRESHOLD
    return data


def _distinctive_slice(data: bytes) -> bytes:
    """48 bytes from the middle of ``data``, at an offset that keeps base64 alignment."""
    start = (len(data) // 2) // 3 * 3
    return data[start:start + 48]


def _files_under(*folders: Path) -> set[Path]:
    found: set[Path] = set()
    for folder in folders:
        if folder.exists():
            found.update(path for path in folder.rglob("*"))
    return found


def _forbid_disk_buffers(monkeypatch) -> list[str]:
    """Make every temporary-file maker fail loudly, and note each attempt."""
    attempts: list[str] = []

    def refuse(name: str):
        def refused(*args, **kwargs):
            attempts.append(name)
            raise AssertionError(f"an upload was buffered to disk through {name}")
        return refused

    for name in ("SpooledTemporaryFile", "NamedTemporaryFile", "TemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, refuse(f"tempfile.{name}"))
    import starlette.formparsers

    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile",
                        refuse("starlette.formparsers.SpooledTemporaryFile"))
    return attempts


def test_large_uploads_are_hashed_and_matched_without_touching_disk(
        api, settings, big_noise_png, tmp_path, monkeypatch):
    system_tmp = Path(tempfile.gettempdir())
    system_before = set(os.listdir(system_tmp))
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    # Anything in this process that asks where temporary files go is sent here, to be seen.
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    watched = (private_tmp, settings.home)
    before = _files_under(*watched)
    attempts = _forbid_disk_buffers(monkeypatch)

    hashed = api.upload("/v1/hash", big_noise_png, Role.PLATFORM, filename="victim.png")
    assert hashed.status_code == 200, hashed.text
    assert hashed.json()["width"] == 1200
    matched = api.upload("/v1/match", big_noise_png, Role.PLATFORM, filename="victim.png")
    assert matched.status_code == 200, matched.text
    api.create_bank(BANK)
    added = api.upload(f"/v1/banks/{BANK}/entries", big_noise_png, Role.HELPLINE, filename="victim.png")
    assert added.status_code == 201, added.text

    assert attempts == []
    assert _files_under(*watched) == before
    marker = _distinctive_slice(big_noise_png)
    # Other processes may write to the shared temporary folder: only the upload's bytes count.
    for name in set(os.listdir(system_tmp)) - system_before:
        path = system_tmp / name
        if path.is_file() and path.stat().st_size < 64 * 1024 * 1024:
            assert marker not in path.read_bytes(), f"the upload's bytes were written to {path}"


def test_the_store_keeps_hashes_but_never_the_image_bytes(api, settings, big_noise_png):
    api.create_bank(BANK)
    added = api.upload(f"/v1/banks/{BANK}/entries", big_noise_png, Role.HELPLINE, case_ref="HL-9")
    assert added.status_code == 201, added.text
    assert {entry["signal_type"] for entry in added.json()["entries"]} == {"pdq", "md5", "sha256"}
    assert api.match_upload(big_noise_png), "the stored hashes should match the image again"

    marker = _distinctive_slice(big_noise_png)
    encodings = {"raw": marker, "hex": marker.hex().encode(), "base64": base64.b64encode(marker)}

    # Every row of every table, as the database returns it.
    with api.ctx.store.transaction() as session:
        rows = [repr(row) for table in Base.metadata.sorted_tables
                for row in session.execute(select(table)).all()]
    dump = "\n".join(rows).encode("utf-8", "backslashreplace")
    for name, needle in encodings.items():
        assert needle.lower() not in dump.lower(), f"the store holds the image's bytes ({name})"

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database)
        files = [path for path in database.parent.iterdir() if path.name.startswith(database.name)]
        assert database in files
        # The database file and its WAL/shared-memory companions, where recent writes live.
        for path in files:
            content = path.read_bytes()
            for name, needle in encodings.items():
                assert needle not in content, f"{path.name} holds the image's bytes ({name})"
