"""Group-committed audit events: every caller's event is on the log when it returns, and a
burst of concurrent callers shares commits."""

import asyncio
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from deepshield.errors import StoreUnavailable
from deepshield.store import Store, audit_group_commit, audit_repository
from deepshield.store.audit_chain import verify_snapshot
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
    """A second connection that blocks writers of read events until it is closed."""
    connection = store.engine.connect()
    if store.backend == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.begin()
        connection.execute(text("LOCK TABLE audit_read_events IN EXCLUSIVE MODE"))
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
        connection.execute(text("DROP TABLE audit_read_events"))
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


def _read_events(store, action):
    with store.transaction() as session:
        return [e for e in audit_repository.recent_events(session, 1000) if e.action == action]


def _queued_behind_a_lock(store, group, coroutines):
    """Run ``coroutines`` (made from ``group``) so that all but the first queue while the first
    one's batch waits for a lock: they share the next batch. Their outcomes, in order."""
    async def run():
        blocker = _hold_audit_table(store)
        tasks = [asyncio.ensure_future(coroutines[0])]
        deadline = time.monotonic() + 10
        while not group._writing:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
        tasks += [asyncio.ensure_future(c) for c in coroutines[1:]]
        while len(group._queue) < len(coroutines) - 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.005)
        await asyncio.to_thread(blocker.rollback)
        blocker.close()
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(run())


def test_a_read_runs_on_the_writer_and_its_answer_is_logged_before_it_returns(store):
    group = AuditGroupCommit(store)
    seen = []

    def read(connection):
        seen.append((threading.current_thread().name, connection is group._connection))
        return connection.execute(text("SELECT 41 + 1")).scalar()

    async def lookup():
        answer = await group.read_and_record_async("key:r", "match", "", read,
                                                   lambda value: {"answer": value})
        # On the log by now, with what the read found.
        (event,) = _read_events(store, "match")
        assert event.detail == '{"answer": 42}'
        return answer

    assert asyncio.run(lookup()) == 42
    assert seen == [("audit-group-commit", True)]
    assert (group.commits, group.events) == (1, 1)


def test_a_read_that_fails_fails_its_caller_alone_and_logs_nothing_for_it(store):
    group = AuditGroupCommit(store)

    def broken(_connection):
        raise ValueError("not this one")

    results = _queued_behind_a_lock(store, group, [
        group.record_async("key:first", "match"),
        group.read_and_record_async("key:ok", "match", "", lambda c: 1, lambda v: {"v": v}),
        group.read_and_record_async("key:broken", "match", "", broken, lambda v: {"v": v}),
        group.record_async("key:last", "match"),
    ])
    assert results[0] is None and results[1] == 1 and results[3] is None
    assert isinstance(results[2], ValueError)
    assert {e.actor for e in _read_events(store, "match")} == {"key:first", "key:ok", "key:last"}
    assert (group.commits, group.events) == (2, 3)


def test_a_read_that_hits_a_database_error_fails_its_whole_batch_and_the_writer_recovers(store):
    group = AuditGroupCommit(store)

    def missing_table(connection):
        return connection.execute(text("SELECT * FROM no_such_table")).all()

    results = _queued_behind_a_lock(store, group, [
        group.record_async("key:first", "match"),
        group.record_async("key:same-batch", "match"),
        group.read_and_record_async("key:bad", "match", "", missing_table, lambda v: {}),
    ])
    expected = StoreUnavailable if store.backend == "sqlite" else ProgrammingError
    assert results[0] is None
    assert [type(r) for r in results[1:]] == [expected, expected], results
    assert group._connection is None  # dropped: the next batch opens another
    group.record("key:after", "match")
    assert {e.actor for e in _read_events(store, "match")} == {"key:first", "key:after"}
    assert verify_snapshot(store.engine).ok  # the failed batch left nothing behind, no gap


def test_an_idle_writer_gives_its_connection_back(store, monkeypatch):
    monkeypatch.setattr(audit_group_commit, "IDLE_RELEASE_S", 0.05)
    group = AuditGroupCommit(store)
    group.record("key:a", "match")
    assert group._connection is not None  # kept while busy
    deadline = time.monotonic() + 10
    while group._connection is not None:
        assert time.monotonic() < deadline, "the idle writer kept its connection"
        time.sleep(0.01)
    group.record("key:b", "match")  # and takes one again when work comes
    group.close()
    assert group._connection is None
    assert [e.actor for e in _read_events(store, "match")] == ["key:b", "key:a"]
