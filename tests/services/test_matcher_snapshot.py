"""A restarted matcher maps its saved PDQ index instead of reading every row, and stays exact."""

import numpy as np
import pytest

from deepshield.services.context import ServiceContext
from deepshield.services.spread import banks
from deepshield.services.spread import live_index as matcher_module
from deepshield.services.spread.banks import Origin, SignalInput
from deepshield.services.spread.matching import match_query, parse_query_signals
from deepshield.store import bank_repository
from principals import operator

ACTOR = operator("test:helpline")


def _hashes(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(count)]


def _found(ctx, value: str) -> list[int]:
    return [m.entry_id for m in match_query(ctx, parse_query_signals([("pdq", value)]), ACTOR)]


@pytest.fixture
def small_snapshots(monkeypatch):
    monkeypatch.setattr(matcher_module, "SNAPSHOT_MIN_HASHES", 1)


def test_a_restart_maps_the_snapshot_and_replays_what_changed_since(ctx, settings, small_snapshots,
                                                                   monkeypatch):
    banks.create_bank(ctx, "b", "", ACTOR)
    values = _hashes(30, seed=1)
    entries = banks.add_signals(ctx, "b", [SignalInput("pdq", v) for v in values], origin=Origin.HELPLINE,
                                case_ref=None, principal=ACTOR)
    ctx.matcher.refresh()
    assert (settings.home / "index" / "pdq" / "index.json").exists()
    # After the snapshot: one withdrawn, one added, one md5.
    banks.withdraw_entry(ctx, "b", entries[3].id, ACTOR)
    [added] = banks.add_signals(ctx, "b", [SignalInput("pdq", _hashes(1, seed=2)[0])],
                                origin=Origin.HELPLINE, case_ref=None, principal=ACTOR)
    banks.add_signals(ctx, "b", [SignalInput("md5", "ab" * 16)], origin=Origin.HELPLINE, case_ref=None,
                      principal=ACTOR)

    def no_full_read(*args, **kwargs):
        raise AssertionError("the restart read every PDQ row instead of the snapshot")

    monkeypatch.setattr(bank_repository, "iter_active_values", no_full_read)
    restarted = ServiceContext.open(settings)
    try:
        assert _found(restarted, values[0]) == [entries[0].id]
        assert _found(restarted, values[3]) == []
        assert _found(restarted, _hashes(1, seed=2)[0]) == [added.id]
        assert restarted.matcher.stats()["pdq"] == 30 and restarted.matcher.stats()["md5"] == 1
    finally:
        restarted.close()


def test_a_damaged_snapshot_is_ignored_and_the_index_is_read_from_the_store(ctx, settings, small_snapshots):
    banks.create_bank(ctx, "b", "", ACTOR)
    values = _hashes(10, seed=3)
    banks.add_signals(ctx, "b", [SignalInput("pdq", v) for v in values], origin=Origin.HELPLINE,
                      case_ref=None, principal=ACTOR)
    ctx.matcher.refresh()
    snapshot = settings.home / "index" / "pdq"
    (snapshot / "codes.npy").write_bytes(b"not numpy")
    restarted = ServiceContext.open(settings)
    try:
        assert len(_found(restarted, values[5])) == 1
        assert restarted.matcher.stats()["pdq"] == 10
    finally:
        restarted.close()


def test_a_snapshot_of_another_database_is_never_used(ctx, settings, small_snapshots, tmp_path):
    banks.create_bank(ctx, "b", "", ACTOR)
    values = _hashes(10, seed=4)
    banks.add_signals(ctx, "b", [SignalInput("pdq", v) for v in values], origin=Origin.HELPLINE,
                      case_ref=None, principal=ACTOR)
    ctx.matcher.refresh()
    other = settings.with_overrides(database_url=f"sqlite:///{tmp_path / 'other.db'}")
    fresh = ServiceContext.open(other)  # same home, so the same snapshot folder
    try:
        assert _found(fresh, values[0]) == []
        assert fresh.matcher.stats()["pdq"] == 0
    finally:
        fresh.close()
