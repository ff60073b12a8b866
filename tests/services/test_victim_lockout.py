"""The PIN lockout as shipped: 5 failures lock a case for 15 minutes (docs/CASES.md).

Only the KDF's cost is lowered here; the lockout policy is the default one, read from
``CaseSettings()``, and time is the injected ``now`` of the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from case_forms import request_form
from deepshield.errors import Unauthorized
from deepshield.services.access import Role
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import victim_access
from deepshield.settings import CaseSettings, Settings, load_settings
from deepshield.store.models import AuditEvent, Case

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_the_lockout_defaults_are_5_failures_and_15_minutes():
    assert (CaseSettings().pin_max_failures, CaseSettings().pin_lockout_minutes) == (5, 15.0)
    assert (Settings().cases.pin_max_failures, Settings().cases.pin_lockout_minutes) == (5, 15.0)
    loaded = load_settings({}).cases  # no DEEPSHIELD_PIN_* variable set
    assert (loaded.pin_max_failures, loaded.pin_lockout_minutes) == (5, 15.0)
    configured = load_settings({"DEEPSHIELD_PIN_MAX_FAILURES": "3",
                                "DEEPSHIELD_PIN_LOCKOUT_MINUTES": "60"}).cases
    assert (configured.pin_max_failures, configured.pin_lockout_minutes) == (3, 60.0)


@pytest.fixture
def ctx(cheap_kdf_settings: Settings) -> Iterator[ServiceContext]:
    # The default lockout policy; only the KDF is made cheap.
    context = ServiceContext.open(cheap_kdf_settings)
    yield context
    context.close()


def _row(ctx: Any, number: str) -> Case:
    with ctx.store.transaction() as session:
        return session.scalar(select(Case).where(Case.case_number == number))


def _refused(ctx: Any, number: str, pin: str, at: datetime) -> None:
    with pytest.raises(Unauthorized) as failure:
        victim_access.victim_principal(ctx, number, pin, now=at)
    assert failure.value.detail == case_records.NOT_RECOGNISED


def test_the_fifth_failure_locks_the_case_for_15_minutes_even_against_the_right_pin(ctx):
    assert (ctx.settings.cases.pin_max_failures, ctx.settings.cases.pin_lockout_minutes) == (5, 15.0)
    filed = case_intake.file_request(ctx, request_form(ctx, seed=33), None, now=T0)
    number, pin = filed.case.case_number, filed.pin
    wrong = f"{(int(pin) + 1) % 10 ** 8:08d}"

    for attempt in range(4):
        _refused(ctx, number, wrong, T0 + timedelta(minutes=attempt))
    row = _row(ctx, number)
    assert row.pin_failures == 4 and row.locked_until is None  # four failures do not lock

    locked_at = T0 + timedelta(minutes=4)
    _refused(ctx, number, wrong, locked_at)  # the fifth
    row = _row(ctx, number)
    assert row.locked_until == locked_at + timedelta(minutes=15)

    # During the lockout the right PIN is refused, as alike as any failure, to the last second.
    for during in (locked_at + timedelta(seconds=1), locked_at + timedelta(minutes=14, seconds=59)):
        _refused(ctx, number, pin, during)
    assert _row(ctx, number).locked_until == locked_at + timedelta(minutes=15)  # not extended

    # 15 minutes after the fifth failure, the right PIN works again and clears the record.
    victim = victim_access.victim_principal(ctx, number, pin, now=locked_at + timedelta(minutes=15))
    assert victim.role is Role.VICTIM and victim.case_number == number
    row = _row(ctx, number)
    assert row.pin_failures == 0 and row.locked_until is None
    with ctx.store.transaction() as session:
        locks = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "victim.locked", AuditEvent.target == f"case:{row.id}")).all()
    assert len(locks) == 1 and locks[0].automated


def test_a_success_before_the_fifth_failure_starts_the_count_again(ctx):
    filed = case_intake.file_request(ctx, request_form(ctx, seed=33), None, now=T0)
    number, pin = filed.case.case_number, filed.pin
    wrong = f"{(int(pin) + 1) % 10 ** 8:08d}"
    for attempt in range(4):
        _refused(ctx, number, wrong, T0 + timedelta(seconds=attempt))
    victim_access.victim_principal(ctx, number, pin, now=T0 + timedelta(seconds=10))
    for attempt in range(4):
        _refused(ctx, number, wrong, T0 + timedelta(seconds=20 + attempt))
    assert _row(ctx, number).locked_until is None
    assert victim_access.victim_principal(ctx, number, pin,
                                          now=T0 + timedelta(seconds=30)).case_number == number
