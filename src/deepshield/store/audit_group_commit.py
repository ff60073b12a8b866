"""Group commit for the audit events of reads (matches, hashing, detection).

A busy platform sends hundreds of lookups a second, and each must be audit-logged before
its answer goes out. One commit per lookup makes the database's commit rate the API's
ceiling. Here callers queue their events, and one writer thread writes everything queued
so far in one transaction, then wakes the callers of that batch. Every event is committed
before ``record`` (or ``record_async``) returns, so an answered request is always on the
log, even after ``kill -9``; a burst of N concurrent requests costs about one commit, not N.
If a write fails, every caller in that batch gets the error.

``record_async`` lets an event loop wait without tying up a thread of its pool.
State changes (bank writes, keys) keep writing their event in their own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from deepshield.store import audit_repository
from deepshield.store.database import Store

#: At most this many events go into one transaction.
MAX_BATCH = 1000


class _Queued:
    __slots__ = ("done", "error", "future", "loop", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.error: BaseException | None = None
        self.done: threading.Event | None = None  # a thread waits on this
        self.future: asyncio.Future[None] | None = None  # or a coroutine awaits this
        self.loop: asyncio.AbstractEventLoop | None = None


class AuditGroupCommit:
    """Thread-safe; one per store per process. ``close`` drains the queue."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._queue: list[_Queued] = []
        self._writer: threading.Thread | None = None
        self._writing = False
        self._closed = False
        self.commits = 0  # transactions written, for tests and statistics
        self.events = 0

    def record(self, actor: str, action: str, target: str = "", **detail: Any) -> None:
        """Write one event; returns once it is committed (raises if the write failed)."""
        item = _Queued(audit_repository.event_row(actor, action, target, detail))
        item.done = threading.Event()
        self._enqueue(item)
        item.done.wait()
        if item.error is not None:
            raise item.error

    async def record_async(self, actor: str, action: str, target: str = "", **detail: Any) -> None:
        """``record`` for a coroutine: awaits the commit without blocking its event loop."""
        item = _Queued(audit_repository.event_row(actor, action, target, detail))
        item.loop = asyncio.get_running_loop()
        item.future = item.loop.create_future()
        self._enqueue(item)
        await item.future

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer; later records raise."""
        with self._lock:
            self._closed = True
            self._queued.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join(timeout)

    def _enqueue(self, item: _Queued) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the audit log writer is closed")
            self._queue.append(item)
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name="audit-group-commit",
                                                daemon=True)
                self._writer.start()
            self._queued.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._queued.wait()
                if not self._queue:
                    return  # closed and drained
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                self._writing = True
            error = self._write(batch)
            with self._lock:
                self._writing = False
                if error is None:
                    self.commits += 1
                    self.events += len(batch)
            for item in batch:
                _settle(item, error)

    def _write(self, batch: list[_Queued]) -> BaseException | None:
        try:
            with self._store.connection() as connection:
                audit_repository.insert_event_rows(connection, [queued.row for queued in batch])
        except Exception as exc:  # handed to every caller in the batch
            return exc
        return None


def _settle(item: _Queued, error: BaseException | None) -> None:
    item.error = error
    if item.done is not None:
        item.done.set()
        return
    if item.loop is None or item.future is None:
        return
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        item.loop.call_soon_threadsafe(_settle_future, item.future, error)


def _settle_future(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # the waiting request was cancelled (its client went away)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
