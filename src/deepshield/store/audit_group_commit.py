"""Group commit for the audit events of reads (matches, hashing, detection).

A busy platform sends hundreds of lookups a second, and each must be audit-logged before
its answer goes out. One commit per lookup makes the database's commit rate the API's
ceiling. Here each caller queues its event and waits; whichever caller finds no write in
progress writes everything queued so far in one transaction and wakes the rest. So every
event is committed before ``record`` returns (an answered request is always on the log,
even after ``kill -9``), while a burst of N concurrent requests costs about one commit,
not N. If the write fails, every caller in that batch gets the error.

State changes (bank writes, keys) keep writing their event in their own transaction.
"""

from __future__ import annotations

import threading
from typing import Any

from deepshield.store import audit_repository
from deepshield.store.database import Store


class _Queued:
    __slots__ = ("done", "error", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.done = False
        self.error: BaseException | None = None


class AuditGroupCommit:
    """Thread-safe; one per store per process."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._written = threading.Condition(self._lock)
        self._queue: list[_Queued] = []
        self._writing = False
        self.commits = 0  # transactions written, for tests and statistics
        self.events = 0

    def record(self, actor: str, action: str, target: str = "", **detail: Any) -> None:
        """Write one event; returns once it is committed (raises if the write failed)."""
        item = _Queued(audit_repository.event_row(actor, action, target, detail))
        with self._lock:
            self._queue.append(item)
            while self._writing and not item.done:
                self._written.wait()
            if item.done:
                batch: list[_Queued] = []
            else:  # no write in progress: this caller writes everything queued
                batch, self._queue = self._queue, []
                self._writing = True
        if batch:
            self._write(batch)
        if item.error is not None:
            raise item.error

    def _write(self, batch: list[_Queued]) -> None:
        error: BaseException | None = None
        try:
            with self._store.connection() as connection:
                audit_repository.insert_event_rows(connection, [queued.row for queued in batch])
        except BaseException as exc:  # handed to every waiter in the batch, then re-raised
            error = exc
        with self._lock:
            for queued in batch:
                queued.error = error
                queued.done = True
            self._writing = False
            if error is None:
                self.commits += 1
                self.events += len(batch)
            self._written.notify_all()
