"""A hashes file's repost hash set is read in every version a bank still takes (issue 17)."""

from __future__ import annotations

import pytest

from deepshield.errors import InvalidRequest
from deepshield.services.spread.bank_files import signals_from_hash_records
from deepshield.signals.repost import HASH_SET_VERSION, READABLE_HASH_SET_VERSIONS

PLAIN = "f" * 32 + "0" * 32
CROP = "0f" * 32


def _record(version: str) -> dict:
    return {"file": "a.jpg", "pdq": PLAIN, "quality": 100, "md5": None, "sha256": None,
            "hash_set": {"version": version, "pdq": [{"variant": "crop95", "pdq": CROP, "quality": 90}]}}


@pytest.mark.parametrize("version", READABLE_HASH_SET_VERSIONS)
def test_a_set_of_an_earlier_version_still_adds_its_crops(version):
    signals, _warnings = signals_from_hash_records([_record(version)])
    crops = [(signal.signal_type, signal.value) for signal in signals if signal.value == CROP]
    assert crops == [("pdq", CROP)]


def test_a_set_of_an_unknown_version_is_refused_naming_the_known_ones():
    assert HASH_SET_VERSION in READABLE_HASH_SET_VERSIONS
    with pytest.raises(InvalidRequest, match="deepshield-hash-set/1, deepshield-hash-set/2"):
        signals_from_hash_records([_record("deepshield-hash-set/9")])
