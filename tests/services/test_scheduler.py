"""The server's background scheduler: runs its rounds repeatedly and survives a failing one."""

from __future__ import annotations

import threading

from deepshield.services.access import Principal, Role
from deepshield.services.scheduler import Scheduler


def test_rounds_run_repeatedly_and_a_failing_round_does_not_stop_the_others() -> None:
    ran = threading.Event()
    calls: list[str] = []

    def failing(_ctx: object) -> None:
        calls.append("failing")
        raise RuntimeError("the database went away for a moment")

    def counting(_ctx: object) -> None:
        calls.append("counting")
        if calls.count("counting") >= 3:
            ran.set()

    scheduler = Scheduler(ctx=None, rounds=[failing, counting], interval_s=0.01)  # type: ignore[arg-type]
    scheduler.start()
    try:
        assert ran.wait(5), "the scheduler stopped after a failing round"
    finally:
        scheduler.stop()
    assert calls.count("failing") >= 3
    assert scheduler.rounds_run >= 3
    rounds_after_stop = scheduler.rounds_run
    threading.Event().wait(0.05)
    assert scheduler.rounds_run == rounds_after_stop, "rounds ran after stop"


def test_the_server_rounds_erase_expired_public_drafts_at_most_once_a_minute(cheap_kdf_settings) -> None:
    from datetime import UTC, datetime, timedelta

    from deepshield.services.context import ServiceContext
    from deepshield.services.scheduler import DRAFT_EXPIRY_INTERVAL_S, server_rounds
    from deepshield.services.takedown import intake as case_intake
    from deepshield.services.takedown import review as case_review

    ctx = ServiceContext.open(cheap_kdf_settings)
    now = [1000.0]
    stale = datetime.now(UTC) - timedelta(hours=ctx.settings.cases.draft_expiry_hours + 1)

    def drafts() -> int:
        return len(case_review.list_cases(ctx, Principal("key:admin", Role.ADMIN), state="incomplete"))

    try:
        scheduler = Scheduler(ctx, server_rounds(clock=lambda: now[0]))
        case_intake.file_request(ctx, {}, None, address="192.0.2.1", now=stale)
        scheduler.run_once()
        assert drafts() == 0, "the round left an expired public draft"
        case_intake.file_request(ctx, {}, None, address="192.0.2.2", now=stale)
        now[0] += DRAFT_EXPIRY_INTERVAL_S / 2
        scheduler.run_once()
        assert drafts() == 1, "expired drafts were looked for again within the minute"
        now[0] += DRAFT_EXPIRY_INTERVAL_S
        scheduler.run_once()
        assert drafts() == 0
    finally:
        ctx.close()
