"""The background work of a running server: case clocks, due withdrawals, expired public
drafts and the outbox.

Every ``interval_s`` a daemon thread runs ``case_review.tick`` (escalate clocks before a breach,
mark breaches, apply withdrawals whose cool-off ended), ``case_intake.expire_public_drafts``
(erase public requests nobody completed in time; at most once a minute per process) and
``notifications.deliver_due``. All are idempotent and safe to run in several processes at
once (``serve --workers N`` starts one scheduler per worker), so no leader election is
needed. A failing round is logged and retried on the next; it never stops the server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from deepshield.services.context import ServiceContext
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import outbox as notifications
from deepshield.services.takedown import review as case_review

log = logging.getLogger("deepshield.scheduler")

#: A withdrawal must stop matching within 5 s of taking effect: tick well inside that.
DEFAULT_INTERVAL_S = 2.0
#: Expired drafts are looked for at most this often: their deadline is in hours, not seconds.
DRAFT_EXPIRY_INTERVAL_S = 60.0


class Scheduler:
    """Runs ``rounds`` (callables taking the context) every ``interval_s`` until ``stop``."""

    def __init__(self, ctx: ServiceContext, rounds: list[Callable[[ServiceContext], object]],
                 interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._ctx = ctx
        self._rounds = rounds
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds_run = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="deepshield-scheduler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_once(self) -> None:
        for round_ in self._rounds:
            try:
                round_(self._ctx)
            except Exception:  # a bad round must not kill the thread; the next round retries
                log.exception("scheduled %s failed", getattr(round_, "__name__", round_))
        self.rounds_run += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.run_once()


def server_rounds(draft_expiry_interval_s: float = DRAFT_EXPIRY_INTERVAL_S,
                  clock: Callable[[], float] = time.monotonic) -> list[Callable[[ServiceContext], object]]:
    """What ``serve`` runs in the background: case clocks and withdrawals, expired public
    drafts (every ``draft_expiry_interval_s``), then the outbox."""
    def case_clocks_and_withdrawals(ctx: ServiceContext) -> object:
        return case_review.tick(ctx)

    last_expiry: list[float] = []

    def expired_public_drafts(ctx: ServiceContext) -> object:
        now = clock()
        if last_expiry and now - last_expiry[0] < draft_expiry_interval_s:
            return 0
        last_expiry[:] = [now]
        return case_intake.expire_public_drafts(ctx)

    def outbox(ctx: ServiceContext) -> object:
        return notifications.deliver_due(ctx)

    return [case_clocks_and_withdrawals, expired_public_drafts, outbox]
