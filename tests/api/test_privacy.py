"""A victim's image never touches the disk, and the store keeps hashes, never image bytes.

Every route that takes an upload is checked with a file past Starlette's 1 MiB spooling
threshold: images and videos through hashing, matching, HMA's ``/h/hash``, watermark detection
and the public ``/v1/verify``, and a PDF through ``/v1/reports/check``. While a route runs,
every temporary-file maker fails loudly, temporary files go to a folder of the test's own
(``tempfile.tempdir`` and ``TMPDIR``, which native code reads too), and afterwards that folder
and ``$DEEPSHIELD_HOME`` must be as they were, and no new file in the system's temporary folder
may hold the upload's bytes.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlalchemy import select
from sqlalchemy.engine import make_url

from deepshield.services.access import Role
from deepshield.services.label.labelling import label_media
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.store.models import Base
from factories import encode_image, encode_synthetic_video, photo_pixels
from principals import SETUP

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


@pytest.fixture(scope="module")
def big_noise_mp4() -> bytes:
    """An H.264 MP4 of 40 frames of noise (320×240, 10 fps): over 1.5 MB of unique bytes."""
    rng = np.random.default_rng(2025)

    def noise(count: int, width: int, height: int) -> Iterator[np.ndarray]:
        for _ in range(count):
            yield rng.integers(0, 256, (height, width, 3), dtype=np.uint8)

    data = encode_synthetic_video("mp4", "libx264", width=320, height=240, fps=10, frame_count=40,
                                  frames=noise)
    assert len(data) > int(1.5 * SPOOL_THRESHOLD)
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


@pytest.fixture
def no_disk(settings, tmp_path, monkeypatch) -> Callable[[bytes], object]:
    """``with no_disk(upload):`` fails the test if ``upload`` reaches the disk inside the block."""

    @contextmanager
    def guard(upload: bytes) -> Iterator[None]:
        system_tmp = Path(tempfile.gettempdir())
        system_before = set(os.listdir(system_tmp))
        private_tmp = tmp_path / "tmp"
        private_tmp.mkdir(exist_ok=True)
        watched = (private_tmp, settings.home)
        with monkeypatch.context() as patch:
            # Anything in this process that asks where temporary files go is sent here, to be seen.
            patch.setattr(tempfile, "tempdir", str(private_tmp))
            patch.setenv("TMPDIR", str(private_tmp))
            before = _files_under(*watched)
            attempts = _forbid_disk_buffers(patch)
            yield
            assert attempts == []
            assert _files_under(*watched) == before
        marker = _distinctive_slice(upload)
        # Other processes may write to the shared temporary folder: only the upload's bytes count.
        for name in set(os.listdir(system_tmp)) - system_before:
            path = system_tmp / name
            if path.is_file() and path.stat().st_size < 64 * 1024 * 1024:
                assert marker not in path.read_bytes(), f"the upload's bytes were written to {path}"

    return guard


def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def test_large_uploads_are_hashed_and_matched_without_touching_disk(api, big_noise_png, no_disk):
    api.create_bank(BANK)
    with no_disk(big_noise_png):
        hashed = _ok(api.upload("/v1/hash", big_noise_png, Role.PLATFORM, filename="victim.png"))
        assert hashed["width"] == 1200
        _ok(api.upload("/v1/match", big_noise_png, Role.PLATFORM, filename="victim.png"))
        _ok(api.upload(f"/v1/banks/{BANK}/entries", big_noise_png, Role.HELPLINE, filename="victim.png"),
            201)


def test_large_videos_are_hashed_matched_and_checked_without_touching_disk(api, big_noise_mp4, no_disk):
    api.create_bank(BANK)
    with no_disk(big_noise_mp4):
        hashed = _ok(api.upload("/v1/hash", big_noise_mp4, Role.PLATFORM, filename="victim.mp4"))
        assert hashed["vpdq"], hashed
        added = _ok(api.upload(f"/v1/banks/{BANK}/entries", big_noise_mp4, Role.HELPLINE,
                               filename="victim.mp4"), 201)
        assert "vpdq" in {entry["signal_type"] for entry in added["entries"]}
        assert api.match_upload(big_noise_mp4), "the banked video should match itself"
        hma = _ok(api.client.post("/h/hash", files={"video": ("v.mp4", big_noise_mp4, "video/mp4")},
                                  headers=api.headers(Role.PLATFORM)))
        assert set(hma) == {"video_md5"}
        detected = _ok(api.upload("/v1/watermark/detect", big_noise_mp4, Role.PLATFORM, filename="v.mp4"))
        assert detected["found"] is False
        verified = _ok(api.client.post("/v1/verify", files={"file": ("v.mp4", big_noise_mp4, "video/mp4")},
                                       headers=api.headers(Role.PLATFORM)))
        assert verified["verdict"] == "unknown"


def test_hma_hash_and_watermark_detection_of_a_large_image_never_touch_disk(api, big_noise_png, no_disk):
    with no_disk(big_noise_png):
        hma = _ok(api.client.post("/h/hash", files={"photo": ("p.png", big_noise_png, "image/png")},
                                  headers=api.headers(Role.PLATFORM)))
        assert set(hma) == {"pdq"}
        detected = _ok(api.upload("/v1/watermark/detect", big_noise_png, Role.PLATFORM, filename="p.png"))
        assert detected["found"] is False


def test_public_verification_of_a_large_labelled_image_never_touches_disk(api, big_noise_png, no_disk):
    init_signing_keys(api.ctx, force=False, principal=SETUP)  # writes keys: before the guard
    labelled = label_media(api.ctx, big_noise_png, generator="GenPrivacy", model=None,
                           principal=SETUP).data
    assert len(labelled) > 2 * SPOOL_THRESHOLD
    with no_disk(labelled):
        report = _ok(api.client.post("/v1/verify", files={"file": ("l.png", labelled, "image/png")}))
    assert report["verdict"] == "verified", report


def test_checking_a_large_evidence_pack_never_touches_disk(api, no_disk):
    init_signing_keys(api.ctx, force=False, principal=SETUP)
    photo = encode_image(photo_pixels(61), "JPEG", quality=92)
    pack = api.upload("/v1/reports/file", photo, Role.HELPLINE)
    assert pack.status_code == 200, pack.text
    # A signed pack is small: an incremental update adds 2 MB of noise after the signature.
    writer = IncrementalPdfFileWriter(io.BytesIO(pack.content), strict=False)
    noise = np.random.default_rng(2026).bytes(2 * SPOOL_THRESHOLD)
    writer.add_object(generic.StreamObject(stream_data=noise))
    padded = io.BytesIO()
    writer.write(padded)
    big_pdf = padded.getvalue()
    assert len(big_pdf) > 2 * SPOOL_THRESHOLD and _distinctive_slice(big_pdf) in noise
    with no_disk(big_pdf):
        checked = _ok(api.client.post("/v1/reports/check",
                                      files={"file": ("pack.pdf", big_pdf, "application/pdf")}))
    assert checked["valid"] is False and checked["problems"]  # bytes were added after signing


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
