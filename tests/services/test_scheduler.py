"""The server's background scheduler: runs its rounds repeatedly and survives a failing one."""

from __future__ import annotations

import threading

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
