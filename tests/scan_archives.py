"""Archives for the scan tests: photos, copies of banked photos, and bad files, made here."""

from __future__ import annotations

import json
from pathlib import Path

from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.spread import banks
from factories import encode_image, photo_pixels

OPERATOR = Principal("test:operator", Role.ADMIN)
BANKED_SEEDS = (1, 2, 3)


def bank_photos(ctx: ServiceContext) -> None:
    """Photos ``BANKED_SEEDS`` in a bank named "victims"."""
    banks.create_bank(ctx, "victims", "", OPERATOR)
    for seed in BANKED_SEEDS:
        banks.add_media(ctx, "victims", encode_image(photo_pixels(seed)), "victim_device", "C-1", OPERATOR)


def build_archive(folder: Path, photos: int, *, width: int = 640, height: int = 480) -> Path:
    """``photos`` unrelated photos (seeds from 1000), re-encoded copies of the banked ones, a
    truncated JPEG, a text file and an empty file, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(photos):
        (folder / f"photo-{number:04d}.jpg").write_bytes(
            encode_image(photo_pixels(1000 + number, width, height), quality=85))
    for seed in BANKED_SEEDS:
        (folder / f"copy-{seed}.jpg").write_bytes(encode_image(photo_pixels(seed), quality=70))
    (folder / "truncated.jpg").write_bytes(encode_image(photo_pixels(5))[:2000])
    (folder / "notes.txt").write_text("not media\n")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def result_rows(path: Path) -> list[str]:
    """The rows of a JSON Lines result, each as canonical JSON, sorted: results compared as sets
    (a Ray scan writes rows in the order its tasks finish)."""
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in path.read_text().splitlines())
