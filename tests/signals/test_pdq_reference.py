"""Our PDQ against hashes from Meta's C++ reference on ThreatExchange's test images.

Needs the team's shared data (``DEEPSHIELD_SHARED_DATA`` or ``../shared/data``); it is
not part of the repository because of its licences, so these tests skip without it (and fail
without it on CI, where ``DEEPSHIELD_REQUIRE_REFERENCE=1``: tests/essentials.py).
The reference hashes are the ``csv`` block of ``SOURCES.md`` (``pdq_hash_hex,path``
relative to ``photos/pdq_threatexchange/``). The reference hashes the stored pixel grid,
so EXIF orientation is not applied here. Different JPEG decoders give slightly different
pixels, so bit-equality is not expected: the ThreatExchange PDQ README accepts a
distance of at most 10 for hashes of quality 80 or more (measured here: at most 8).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from deepshield.media import MediaLimits, decode_image
from deepshield.signals.pdq import DIHEDRAL_VARIANTS, pdq_dihedral_from_pixels, pdq_distance, pdq_from_pixels

from .shared_data import shared_data_dir

REFERENCE_TOLERANCE = 10


def _reference_rows(data_dir: Path | None) -> list[tuple[str, str]]:
    if data_dir is None:
        return []
    text = (data_dir / "SOURCES.md").read_text(encoding="utf-8")
    section = text[text.index("photos/pdq_threatexchange/") :]
    block = section.split("```csv", 1)[1].split("```", 1)[0]
    reader = csv.DictReader(io.StringIO(block.strip()))
    return [(row["pdq_hash_hex"], row["path"]) for row in reader]


ROWS = [
    pytest.param(hex_value, relative, id=relative)
    for hex_value, relative in _reference_rows(shared_data_dir())
] or [pytest.param("", "", id="no-shared-data")]  # the shared_data fixture skips it, or fails it on CI


def _pixels(shared_data: Path, relative: str):
    path = shared_data / "photos" / "pdq_threatexchange" / relative
    return decode_image(path.read_bytes(), MediaLimits(), apply_orientation=False).pixels


def test_reference_csv_block_lists_the_twenty_threatexchange_hashes(shared_data):
    rows = _reference_rows(shared_data)
    assert len(rows) == 20
    assert all(len(hex_value) == 64 for hex_value, _ in rows)


@pytest.mark.parametrize(("reference_hex", "relative"), ROWS)
def test_pdq_is_within_10_bits_of_the_cpp_reference_for_quality_80_and_up(
    shared_data, reference_hex, relative
):
    ours = pdq_from_pixels(_pixels(shared_data, relative))
    distance = pdq_distance(ours.hex, reference_hex)
    if ours.quality >= 80:
        assert distance <= REFERENCE_TOLERANCE
    else:
        # Near-featureless images (q0003, q0004) are unstable by nature; still a match.
        assert distance <= 31


def test_dihedral_hashes_of_the_bridge_match_the_reference_hashes_of_its_transformed_files(shared_data):
    # bridge-1-original, bridge-2-rotate-90, ... bridge-8-flip-minus-1: the variants' order.
    rows = sorted((row for row in _reference_rows(shared_data) if "/dih/" in row[1]), key=lambda row: row[1])
    assert len(rows) == len(DIHEDRAL_VARIANTS) == 8
    variants = pdq_dihedral_from_pixels(_pixels(shared_data, rows[0][1]))
    for (name, variant), (reference_hex, relative) in zip(variants, rows, strict=True):
        assert pdq_distance(variant.hex, reference_hex) <= REFERENCE_TOLERANCE, (name, relative)
