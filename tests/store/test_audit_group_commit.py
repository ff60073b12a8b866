"""Group-committed audit events: every caller's event is on the log when it returns, and a
burst of concurrent callers shares commits."""

import asyncio
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from deepshield.errors import StoreUnavailable
from deepshield.store import Store, audit_repository
from deepshield.store.audit_group_commit import AuditGroupCommit


@pytest.fixture
def store(database_url):
    opened = Store.open(database_url)
    yield opened
    opened.close()


def _events(store, action):
    with store.transaction() as session:
        return [e for e in audit_repository.recent_events(session, 1000) if e.action == action]


def test_a_recorded_event_is_committed_when_record_returns(store):
    group = AuditGroupCommit(store)
    group.record("key:abc", "match", "", matched_entry_ids=[3, 1])
    (event,) = _events(store, "match")
    assert (event.actor, event.target) == ("key:abc", "")
    assert event.detail == '{"matched_entry_ids": [3, 1]}'
    assert (group.commits, group.events) == (1, 1)


def _hold_audit_table(store):
    """A second connection that blocks writers to audit_events until it is closed."""
    connection = store.engine.connect()
    if store.backend == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.begin()
        connection.execute(text("LOCK TABLE audit_events IN EXCLUSIVE MODE"))
    return connection


def test_callers_that_arrive_during_a_write_share_the_next_commit(store):
    group = AuditGroupCommit(store)
    blocker = _hold_audit_table(store)
    threads = [threading.Thread(target=group.record, args=(f"key:{n}", "match")) for n in range(8)]
    threads[0].start()
    deadline = time.monotonic() + 10
    while not group._writing:  # the first caller is writing, stuck behind the lock
        assert time.monotonic() < deadline
        time.sleep(0.005)
    for thread in threads[1:]:
        thread.start()
    while len(group._queue) < 7:  # the other seven wait for the next write
        assert time.monotonic() < deadline
        time.sleep(0.005)
    blocker.rollback()
    blocker.close()
    for thread in threads:
        thread.join(timeout=20)
    assert {e.actor for e in _events(store, "match")} == {f"key:{n}" for n in range(8)}
    assert (group.commits, group.events) == (2, 8)


def test_every_caller_in_a_failed_write_gets_the_error_and_the_writer_is_released(store):
    group = AuditGroupCommit(store)
    with store.connection() as connection:
        connection.execute(text("DROP TABLE audit_events"))
    errors: list[BaseException] = []

    def record(n: int) -> None:
        try:
            group.record(f"key:{n}", "match")
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    # The missing table is an operational error on SQLite (the store maps it to StoreUnavailable)
    # and a programming error on PostgreSQL (passed on as it is).
    expected = StoreUnavailable if store.backend == "sqlite" else ProgrammingError
    assert [type(error) for error in errors] == [expected] * 4, errors
    assert not group._writing and not group._queue
    assert (group.commits, group.events) == (0, 0)


def test_record_async_commits_before_it_returns_and_shares_commits(store):
    group = AuditGroupCommit(store)

    async def burst() -> None:
        await asyncio.gather(*(group.record_async(f"key:{n}", "match", n=n) for n in range(20)))
        # Everything awaited is on the log now.
        assert {e.actor for e in _events(store, "match")} == {f"key:{n}" for n in range(20)}

    asyncio.run(burst())
    assert group.events == 20
    assert group.commits < 20  # queued together while the first write ran


def test_close_drains_the_queue_and_refuses_later_events(store):
    group = AuditGroupCommit(store)
    group.record("key:a", "match")
    group.close()
    with pytest.raises(RuntimeError, match="closed"):
        group.record("key:b", "match")
    assert [e.actor for e in _events(store, "match")] == ["key:a"]
