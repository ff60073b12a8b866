"""A victim's login costs the same KDF work whether or not the case exists.

Every failure answers ``Unauthorized(NOT_RECOGNISED)``; these tests check the other half of
"a guesser learns nothing": the work done. The KDF (``case_records.pins._scrypt``) is wrapped to count
its runs and their cost parameters, so nothing here depends on timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from case_forms import request_form
from deepshield.cases import pins
from deepshield.errors import Unauthorized
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import victim_access
from deepshield.settings import CaseSettings, Settings

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KDF_LOG2_N = 11  # cheap for tests, and not the library default, so the setting is seen to be used


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url,
                    cases=CaseSettings(pin_kdf_log2_n=KDF_LOG2_N))


@pytest.fixture
def kdf_runs(monkeypatch) -> Iterator[list[tuple[int, int, int]]]:
    """Each run of the PIN KDF, as its (log2 n, r, p)."""
    runs: list[tuple[int, int, int]] = []
    real = pins._scrypt

    def counted(pin: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
        runs.append((log2_n, r, p))
        return real(pin, salt, log2_n, r, p)

    monkeypatch.setattr(pins, "_scrypt", counted)
    yield runs


def _work_of(kdf_runs: list[tuple[int, int, int]], attempt) -> list[tuple[int, int, int]]:
    """The KDF runs that one login attempt made; the attempt must fail as NOT_RECOGNISED."""
    kdf_runs.clear()
    with pytest.raises(Unauthorized) as failure:
        attempt()
    assert failure.value.detail == case_records.NOT_RECOGNISED
    return list(kdf_runs)


def test_an_unknown_case_number_costs_the_same_kdf_work_as_a_wrong_pin(ctx, kdf_runs):
    filed = case_intake.file_request(ctx, request_form(ctx, seed=31), None, now=T0)
    number, pin = filed.case.case_number, filed.pin
    wrong = f"{(int(pin) + 1) % 10 ** 8:08d}"
    # An unknown number of the right shape, one of no shape at all, and a PIN no one could hold.
    unknown = "DS-2222-3333-4444" if number != "DS-2222-3333-4444" else "DS-5555-6666-7777"
    one_run = [(KDF_LOG2_N, 8, 1)]

    at = T0 + timedelta(minutes=1)
    assert _work_of(kdf_runs, lambda: victim_access.victim_principal(ctx, number, wrong, now=at)) == one_run
    assert _work_of(kdf_runs, lambda: victim_access.victim_principal(ctx, unknown, pin, now=at)) == one_run
    assert _work_of(kdf_runs, lambda: victim_access.victim_principal(ctx, unknown, wrong, now=at)) == one_run
    assert _work_of(kdf_runs, lambda: victim_access.victim_principal(ctx, "garbage", pin, now=at)) == one_run
    assert _work_of(kdf_runs, lambda: victim_access.victim_principal(ctx, number, "x" * 500,
                                                                     now=at)) == one_run
    # The right number and PIN: the same single run, and it lets her in.
    kdf_runs.clear()
    assert victim_access.victim_principal(ctx, number, pin, now=at).case_number == number
    assert kdf_runs == one_run


def test_a_locked_case_still_runs_the_kdf_once_per_attempt(ctx, kdf_runs):
    filed = case_intake.file_request(ctx, request_form(ctx, seed=31), None, now=T0)
    number, pin = filed.case.case_number, filed.pin
    wrong = f"{(int(pin) + 1) % 10 ** 8:08d}"
    for attempt in range(ctx.settings.cases.pin_max_failures):
        at = T0 + timedelta(seconds=attempt)
        assert _work_of(kdf_runs, lambda at=at: victim_access.victim_principal(ctx, number, wrong,
                                                                               now=at)) == [
            (KDF_LOG2_N, 8, 1)]
    # Locked now: the right PIN is refused after the same work as a wrong one or an unknown case.
    during = T0 + timedelta(minutes=1)
    assert _work_of(kdf_runs, lambda: victim_access.victim_principal(ctx, number, pin, now=during)) == [
        (KDF_LOG2_N, 8, 1)]
    assert _work_of(kdf_runs, lambda: victim_access.victim_principal(ctx, number, wrong, now=during)) == [
        (KDF_LOG2_N, 8, 1)]


def test_the_dummy_hash_for_unknown_numbers_uses_the_configured_cost(kdf_runs):
    """The stand-in hash costs what the settings' real hashes cost (not the minimum)."""
    for log2_n in (10, KDF_LOG2_N, 15):
        kdf_runs.clear()
        assert not pins.verify_pin("12345678", pins.dummy_hash(log2_n))
        assert kdf_runs == [(log2_n, 8, 1)]
        kdf_runs.clear()
        assert pins.verify_pin("12345678", pins.hash_pin("12345678", log2_n))
        assert kdf_runs == [(log2_n, 8, 1), (log2_n, 8, 1)]  # one to hash, one to check
