"""Group commit for the audit events of reads (matches, hashing, detection).

A busy platform sends hundreds of lookups a second, and each must be audit-logged before
its answer goes out. One commit per lookup makes the database's commit rate the API's
ceiling. Here callers queue their events, and one writer thread writes everything queued
so far in one transaction, then wakes the callers of that batch. Every event is committed
before ``record`` (or ``record_async``, ``read_and_record_async``) returns, so an answered
request is always on the log, even after ``kill -9``; a burst of N concurrent requests costs
about one commit, not N. If a write fails, every caller in that batch gets the error.

What a batch costs, since that is most of what a lookup costs beyond its search (issue 17):

* The events go to ``audit_read_events`` (``audit_chain.append_reads``): three driver
  statements per batch (advance the chain head, insert the rows, set the head's hash) on a
  connection the writer keeps while it is busy, with no SQLAlchemy statement or pool checkout
  per batch. Each read is still a link of the one chain, checked by ``audit verify``.
* ``read_and_record_async`` runs the caller's store read (a match's hit check) on the writer's
  connection just before the batch is written: one trip to a thread per lookup, not two.
* The callers of a batch that wait on one event loop are woken by one callback on that loop.

``record_async`` and ``read_and_record_async`` let an event loop wait without tying up a thread
of its pool. State changes (bank writes, keys) keep writing their event in their own
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError

from deepshield.errors import StoreUnavailable
from deepshield.store import audit_chain, audit_repository
from deepshield.store.database import Store

#: At most this many events go into one transaction.
MAX_BATCH = 1000
#: The writer gives its connection back to the pool after this long without work. While it
#: is busy it keeps one (a checkout per batch cost as much as the batch's statements); once
#: idle, the pool's own check (``pool_pre_ping`` on PostgreSQL) vets the next one, so a
#: database restarted in a quiet spell costs no request an error.
IDLE_RELEASE_S = 2.0

Result = TypeVar("Result")


class _Queued:
    __slots__ = ("action", "actor", "describe", "done", "error", "future", "loop", "read",
                 "result", "row", "target")

    def __init__(self, row: dict[str, Any] | None) -> None:
        self.row = row  # the event, or None until ``read`` and ``describe`` have made it
        self.error: BaseException | None = None
        self.result: Any = None
        self.done: threading.Event | None = None  # a thread waits on this
        self.future: asyncio.Future[Any] | None = None  # or a coroutine awaits this
        self.loop: asyncio.AbstractEventLoop | None = None
        self.read: Callable[[Connection], Any] | None = None
        self.describe: Callable[[Any], dict[str, Any]] | None = None
        self.actor = self.action = self.target = ""


class AuditGroupCommit:
    """Thread-safe; one per store per process. ``close`` drains the queue."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._queue: list[_Queued] = []
        self._writer: threading.Thread | None = None
        self._writing = False
        self._waiting = False  # the writer sleeps on ``_queued``: only then is a notify needed
        self._closed = False
        self._connection: Connection | None = None  # the writer's, while it is busy
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
        await self._await(item)

    async def read_and_record_async(self, actor: str, action: str, target: str,
                                    read: Callable[[Connection], Result],
                                    describe: Callable[[Result], dict[str, Any]]) -> Result:
        """Run ``read`` on the writer's connection, then log the event whose detail is
        ``describe(result)`` in the same batch; returns ``read``'s result once that event is
        committed.

        For a request whose answer needs the store: a match confirms its hits are still active
        and logs the entries it answered with, in one trip to the writer thread. ``read`` runs
        on that thread, outside any lock, in the batch's transaction before its writes; it must
        only read. If it raises, its caller gets the error and no event is written for it (the
        request was not answered); a database error fails the whole batch."""
        item = _Queued(None)
        item.actor, item.action, item.target = actor, action, target
        item.read, item.describe = read, cast(Callable[[Any], dict[str, Any]], describe)
        return cast(Result, await self._await(item))

    async def _await(self, item: _Queued) -> Any:
        item.loop = asyncio.get_running_loop()
        item.future = item.loop.create_future()
        self._enqueue(item)
        return await item.future

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the writer; later records raise."""
        with self._lock:
            self._closed = True
            self._queued.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join(timeout)
        else:
            self._release_connection()

    def _enqueue(self, item: _Queued) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the audit log writer is closed")
            self._queue.append(item)
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name="audit-group-commit",
                                                daemon=True)
                self._writer.start()
            elif self._waiting:
                self._queued.notify()

    def _run(self) -> None:
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    return  # closed and drained
                error = self._write(batch)
                with self._lock:
                    self._writing = False
                    if error is None:
                        self.commits += 1
                        self.events += sum(1 for item in batch if item.error is None)
                _settle(batch, error)
        finally:
            self._release_connection()

    def _next_batch(self) -> list[_Queued] | None:
        """The next batch (waiting for one), or None once closed and drained."""
        while True:
            with self._lock:
                if self._queue:
                    batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                    self._writing = True
                    return batch
                if self._closed:
                    return None
                self._waiting = True
                woken = self._queued.wait(IDLE_RELEASE_S if self._connection is not None else None)
                self._waiting = False
                idle = not woken and not self._queue and self._connection is not None
            if idle:  # outside the lock: a pool check-in may talk to the database
                self._release_connection()

    def _release_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # it goes back to the pool, or away
                connection.close()

    def _write(self, batch: list[_Queued]) -> BaseException | None:
        """Run the batch's reads, then chain and commit its events; the error for everyone in
        the batch, or None (a read that raised something other than a database error has
        already failed its own caller)."""
        connection = self._connection
        try:
            if connection is None:
                connection = self._connection = self._store.engine.connect()
            rows = []
            for item in batch:
                if item.read is not None:
                    _run_read(item, connection)
                    if item.error is not None:
                        continue
                if item.row is not None:
                    rows.append(item.row)
            dbapi_connection = connection.connection.dbapi_connection
            assert dbapi_connection is not None
            cursor = dbapi_connection.cursor()
            try:
                audit_chain.append_reads(cursor, connection.dialect, rows)
            finally:
                cursor.close()
            # The driver's own commit: the statements above bypass SQLAlchemy, and so do the
            # match's reads (``live_index.active_entry_banks``). A read that went through
            # SQLAlchemy began its transaction there, so SQLAlchemy commits it.
            if connection.in_transaction():
                connection.commit()
            else:
                dbapi_connection.commit()
        except Exception as exc:  # handed to every caller in the batch
            self._discard_connection()
            return _store_error(exc, connection)
        return None

    def _discard_connection(self) -> None:
        """After a failed batch: roll back and drop the connection (it may be the broken part);
        the next batch opens another."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            connection.invalidate()
        with contextlib.suppress(Exception):
            connection.close()


def _run_read(item: _Queued, connection: Connection) -> None:
    assert item.read is not None and item.describe is not None
    try:
        item.result = item.read(connection)
        detail = item.describe(item.result)
    except Exception as exc:
        if isinstance(exc, (DBAPIError, connection.dialect.loaded_dbapi.Error)):
            raise  # the transaction is unusable (PostgreSQL aborts it): the batch fails
        item.error = exc  # this caller's failure alone; no event, as it gets no answer
        return
    item.row = audit_repository.event_row(item.actor, item.action, item.target, detail)


def _store_error(exc: Exception, connection: Connection | None) -> BaseException:
    """``exc`` as ``Store.connection`` reports it: driver errors from the raw statements wrapped
    as SQLAlchemy's, and an operational one (the database unreachable, locked too long) as
    ``StoreUnavailable``, a 503."""
    if connection is not None and not isinstance(exc, DBAPIError):
        dbapi = connection.dialect.loaded_dbapi
        if isinstance(exc, dbapi.Error):
            wrapped = DBAPIError.instance(None, None, exc, dbapi.Error, dialect=connection.dialect)
            if isinstance(wrapped, DBAPIError):
                exc = wrapped
    if isinstance(exc, OperationalError):
        return StoreUnavailable(f"the database failed: {exc.orig}")
    return exc


def _settle(batch: list[_Queued], error: BaseException | None) -> None:
    """Wake the batch's callers: threads one by one, and the coroutines of each event loop with
    one callback on that loop (one wake-up of the loop for the whole batch)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Queued]] = {}
    for item in batch:
        if error is not None:
            item.error = error
        if item.done is not None:
            item.done.set()
        elif item.loop is not None and item.future is not None:
            by_loop.setdefault(item.loop, []).append(item)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_futures, items)


def _settle_futures(items: list[_Queued]) -> None:
    for item in items:
        future = item.future
        if future is None or future.done():  # the waiting request was cancelled (client gone)
            continue
        if item.error is None:
            future.set_result(item.result)
        else:
            future.set_exception(item.error)
