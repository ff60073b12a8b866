"""The audit log's hash chain: one gap-free chain from every thread and process, append-only
by trigger, and every kind of tampering found and named once the triggers are gone."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from deepshield.errors import Forbidden, InvalidRequest
from deepshield.services import audit as audit_service
from deepshield.services.access import Principal, Role
from deepshield.store import Store, audit_chain, audit_repository
from deepshield.store.audit_chain import GENESIS_HASH, event_hash, verify_snapshot
from deepshield.store.audit_group_commit import AuditGroupCommit
from deepshield.store.database import _alembic_config, make_engine
from deepshield.store.models import Bank, utcnow

ADMIN = Principal("test:admin", Role.ADMIN)


def record(store: Store, count: int, actor: str = "test", action: str = "test.event") -> None:
    """``count`` events, each in its own transaction, the way use cases write them."""
    for n in range(count):
        with store.transaction() as session:
            audit_repository.record_event(session, actor, action, f"thing:{n}", n=n)


def rows(store: Store) -> list[sa.Row]:
    """The whole chain: the events of both tables (reads in audit_read_events), in seq order."""
    columns = "seq, actor, action, target, detail, prev_hash, entry_hash"
    with store.engine.connect() as connection:
        return list(connection.execute(text(
            f"SELECT {columns} FROM audit_events UNION ALL SELECT {columns} FROM audit_read_events "
            "ORDER BY seq")))


def record_reads(store: Store, count: int, actor: str = "key:reader") -> None:
    """``count`` read events (``match``) at once through the group commit, as lookups write them:
    the first alone, the rest in the batches that queued meanwhile."""
    group = AuditGroupCommit(store)

    async def lookups() -> None:
        await asyncio.gather(*(group.record_async(actor, "match", "", matched_entry_ids=[n])
                               for n in range(count)))

    asyncio.run(lookups())
    group.close()


def verify(store: Store) -> audit_chain.ChainReport:
    return verify_snapshot(store.engine)


def drop_triggers(store: Store) -> None:
    """What an attacker with write access to the database does first."""
    with store.engine.begin() as connection:
        for table in ("audit_events", "audit_read_events"):
            if store.backend == "postgresql":
                connection.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
            else:
                connection.execute(text(f"DROP TRIGGER {table}_append_only_update"))
                connection.execute(text(f"DROP TRIGGER {table}_append_only_delete"))


def tamper(store: Store, *statements: str, **params: object) -> None:
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)


def rechain(store: Store, from_seq: int) -> None:
    """Recompute the hashes of every event from ``from_seq`` on (in both tables: reads are in
    audit_read_events), as a careful forger would."""
    tables = (audit_chain.AuditEvent.__table__, audit_chain.AuditReadEvent.__table__)
    with store.engine.begin() as connection:
        previous = GENESIS_HASH
        for table in tables:
            found = connection.execute(sa.select(table.c.entry_hash).where(table.c.seq == from_seq - 1))
            previous = found.scalar() or previous
        events = sorted(((event, table) for table in tables for event in connection.execute(
            sa.select(table).where(table.c.seq >= from_seq))), key=lambda pair: pair[0].seq)
        for event, table in events:
            entry = event_hash(previous, event.seq, event.at, event.actor, event.action,
                               event.target, event.detail, event.automated)
            connection.execute(sa.update(table).where(table.c.seq == event.seq)
                               .values(prev_hash=previous, entry_hash=entry))
            previous = entry


def test_a_fresh_chain_verifies_and_grows_event_by_event(ctx):
    report = verify(ctx.store)
    assert report.ok and report.problems == []
    assert (report.events, report.head_seq, report.head_hash) == (0, 0, GENESIS_HASH)
    record(ctx.store, 5)
    report = verify(ctx.store)
    assert report.ok, report.problems
    assert (report.events, report.head_seq) == (5, 5)
    chain = rows(ctx.store)
    assert [row.seq for row in chain] == [1, 2, 3, 4, 5]
    assert chain[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in itertools.pairwise(chain))
    assert report.head_hash == chain[-1].entry_hash


def test_events_from_many_threads_at_once_form_one_gap_free_chain(ctx):
    group = AuditGroupCommit(ctx.store)
    start = threading.Barrier(12)
    failures: list[BaseException] = []

    def in_transactions(worker: int) -> None:
        try:
            start.wait()
            record(ctx.store, 10, actor=f"tx:{worker}")
        except BaseException as exc:
            failures.append(exc)

    def grouped(worker: int) -> None:
        try:
            start.wait()
            for n in range(10):
                group.record(f"group:{worker}", "match", "", n=n)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=in_transactions, args=(w,)) for w in range(8)]
    threads += [threading.Thread(target=grouped, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    group.close()
    assert not failures, failures
    report = verify(ctx.store)
    assert report.ok, report.problems
    assert (report.events, report.head_seq) == (120, 120)
    chain = rows(ctx.store)
    assert [row.seq for row in chain] == list(range(1, 121))
    assert {row.actor for row in chain} == {f"tx:{w}" for w in range(8)} | {f"group:{w}" for w in range(4)}


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from deepshield.store import Store, audit_repository
    from deepshield.store.audit_group_commit import AuditGroupCommit
    url, me, peer, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    store = Store.open(url)
    group = AuditGroupCommit(store)
    print("ready", flush=True)

    def wait_for(path):
        deadline = time.monotonic() + 30
        while not path.exists():
            assert time.monotonic() < deadline, f"{path} never appeared"
            time.sleep(0.002)

    wait_for(folder / "go")
    for n in range(25):
        with store.transaction() as session:
            audit_repository.record_event(session, f"process:{me}", "test.event", f"thing:{n}", n=n)
        group.record(f"process:{me}", "match", "", n=n)
        if n == 0:
            # Each goes on only once the other has written: the two really write at once.
            (folder / f"started-{me}").touch()
            wait_for(folder / f"started-{peer}")
    group.close()
    store.close()
""")


def test_events_from_two_processes_writing_at_once_form_one_chain(ctx, database_url, tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER, database_url, str(n), str(1 - n),
                                 str(tmp_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for n in range(2)]
    for writer in writers:  # both have imported and connected: now they start together
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready", \
            writer.stderr.read() if writer.stderr else ""
    (tmp_path / "go").touch()
    for writer in writers:
        _, errors = writer.communicate(timeout=60)
        assert writer.returncode == 0, errors
    report = verify(ctx.store)
    assert report.ok, report.problems
    assert (report.events, report.head_seq) == (100, 100)
    chain = rows(ctx.store)
    assert [row.seq for row in chain] == list(range(1, 101))
    by_process = {f"process:{n}": [row.seq for row in chain if row.actor == f"process:{n}"]
                  for n in range(2)}
    assert all(len(seqs) == 50 for seqs in by_process.values())
    # Interleaved, not one process after the other: they really wrote at once.
    assert min(by_process["process:1"]) < max(by_process["process:0"])
    assert min(by_process["process:0"]) < max(by_process["process:1"])


def test_verifying_while_others_append_never_reports_a_false_break(ctx):
    stop = threading.Event()

    def append() -> None:
        while not stop.is_set():
            record(ctx.store, 1, actor="writer")

    writer = threading.Thread(target=append)
    writer.start()
    try:
        reports = []
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            reports.append(verify(ctx.store))
    finally:
        stop.set()
        writer.join(20)
    assert all(report.ok for report in reports), [r.problems for r in reports if not r.ok]
    assert len({report.events for report in reports}) > 1  # it did see the log grow
    assert verify(ctx.store).ok


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET actor = 'someone else' WHERE seq = 2",
    "UPDATE audit_events SET entry_hash = prev_hash",
    "DELETE FROM audit_events WHERE seq = 3",
    "DELETE FROM audit_events",
    "UPDATE audit_read_events SET detail = '{}' WHERE seq = 4",
    "UPDATE audit_read_events SET entry_hash = prev_hash",
    "DELETE FROM audit_read_events WHERE seq = 5",
    "DELETE FROM audit_read_events",
])
def test_the_triggers_refuse_every_update_and_delete(ctx, statement):
    record(ctx.store, 3)
    record_reads(ctx.store, 2)
    before = rows(ctx.store)
    with pytest.raises(DBAPIError, match="append-only"):
        tamper(ctx.store, statement)
    assert rows(ctx.store) == before
    assert verify(ctx.store).ok


@pytest.fixture
def exposed(ctx):
    """Ten events in a log whose triggers an attacker has dropped."""
    record(ctx.store, 10)
    assert verify(ctx.store).ok
    drop_triggers(ctx.store)
    return ctx.store


def assert_broken(report: audit_chain.ChainReport, first_bad_seq: int, *phrases: str) -> None:
    assert not report.ok
    assert report.first_bad_seq == first_bad_seq, report
    text_of_problems = " | ".join(report.problems)
    for phrase in phrases:
        assert phrase in text_of_problems, text_of_problems


def test_an_edited_detail_is_found_and_named(exposed):
    tamper(exposed, "UPDATE audit_events SET detail = :d WHERE seq = 4", d=json.dumps({"n": 99}))
    report = verify(exposed)
    assert_broken(report, 4, "event 4 (test.event) was altered after it was written")
    assert len(report.problems) == 1  # the events after it still follow it


def test_an_edited_actor_is_found_and_named(exposed):
    tamper(exposed, "UPDATE audit_events SET actor = 'someone else' WHERE seq = 6")
    assert_broken(verify(exposed), 6, "event 6 (test.event) was altered")


def test_a_deleted_middle_event_is_found_and_named(exposed):
    tamper(exposed, "DELETE FROM audit_events WHERE seq = 5")
    assert_broken(verify(exposed), 5, "event 5 is missing (the next one found is 6)",
                  "event 6 does not follow the event before it")


def test_a_deleted_tail_is_found_by_the_head(exposed):
    tamper(exposed, "DELETE FROM audit_events WHERE seq >= 9")
    report = verify(exposed)
    assert_broken(report, 9, "the chain ends at event 8 but its head says 10")
    assert report.events == 8


def test_a_forged_event_inserted_in_the_middle_is_found(exposed):
    # The forger renumbers the later events to make room and chains the forgery correctly
    # to the event before it, but cannot make the events after it follow it.
    tamper(exposed, "UPDATE audit_events SET seq = -seq WHERE seq >= 5",
           "UPDATE audit_events SET seq = 1 - seq WHERE seq < 0")
    with exposed.engine.begin() as connection:
        previous = connection.execute(text("SELECT entry_hash FROM audit_events WHERE seq = 4")).scalar()
        at = utcnow()
        detail = json.dumps({"entry_ids": [1]})
        connection.execute(audit_chain.AuditEvent.__table__.insert().values(
            at=at, actor="key:forged", action="bank.withdraw", target="entry:1", detail=detail,
            automated=False, seq=5, prev_hash=previous,
            entry_hash=event_hash(previous, 5, at, "key:forged", "bank.withdraw", "entry:1", detail,
                                  False)))
    assert_broken(verify(exposed), 6, "event 6 does not follow the event before it",
                  "event 6 (test.event) was altered", "the chain ends at event 11 but its head says 10")


def test_a_forged_event_appended_past_the_head_is_found(exposed):
    with exposed.engine.begin() as connection:
        previous = connection.execute(text("SELECT entry_hash FROM audit_events WHERE seq = 10")).scalar()
        at = utcnow()
        connection.execute(audit_chain.AuditEvent.__table__.insert().values(
            at=at, actor="key:forged", action="bank.add", target="bank:x", detail="{}",
            automated=False, seq=11, prev_hash=previous,
            entry_hash=event_hash(previous, 11, at, "key:forged", "bank.add", "bank:x", "{}", False)))
    assert_broken(verify(exposed), 11, "the chain ends at event 11 but its head says 10",
                  "added outside the chain")


def test_two_swapped_events_are_found(exposed):
    tamper(exposed, "UPDATE audit_events SET seq = -seq WHERE seq IN (3, 4)",
           "UPDATE audit_events SET seq = 4 WHERE seq = -3",
           "UPDATE audit_events SET seq = 3 WHERE seq = -4")
    assert_broken(verify(exposed), 3, "event 3 does not follow the event before it",
                  "event 3 (test.event) was altered", "event 4 does not follow")


def test_a_chain_rebuilt_from_the_middle_is_found_by_its_head(exposed):
    tamper(exposed, "UPDATE audit_events SET actor = 'someone else' WHERE seq = 5")
    rechain(exposed, 5)  # every event checks out again; only the head disagrees
    report = verify(exposed)
    assert_broken(report, 10, "the hash of the last event (10) is not the one its head recorded")
    assert len(report.problems) == 1


def test_a_head_kept_elsewhere_catches_a_rebuild_that_also_fixed_the_head(exposed):
    kept_head = verify(exposed).head_hash  # e.g. printed in last month's transparency report
    tamper(exposed, "UPDATE audit_events SET actor = 'someone else' WHERE seq = 5")
    rechain(exposed, 5)
    with exposed.engine.begin() as connection:
        last = connection.execute(text("SELECT entry_hash FROM audit_events WHERE seq = 10")).scalar()
        connection.execute(text("UPDATE audit_chain_head SET entry_hash = :h"), {"h": last})
    report = verify(exposed)
    assert report.ok  # a complete rebuild is self-consistent...
    assert report.head_hash != kept_head  # ...but no longer matches the copy kept outside


def test_a_rolled_back_transaction_leaves_no_event_and_no_gap(ctx):
    record(ctx.store, 2)
    with pytest.raises(RuntimeError), ctx.store.transaction() as session:
        audit_repository.record_event(session, "test", "never.written")
        raise RuntimeError("the use case failed")
    # This one fails at commit, after the chain was appended to: the head rolls back too.
    with ctx.store.transaction() as session:
        session.add(Bank(name="taken", description=""))
    with pytest.raises(sa.exc.IntegrityError), ctx.store.transaction() as session:
        audit_repository.record_event(session, "test", "never.written.either")
        session.add(Bank(name="taken", description=""))
    record(ctx.store, 1, action="after")
    chain = rows(ctx.store)
    assert [(row.seq, row.action) for row in chain] == [(1, "test.event"), (2, "test.event"), (3, "after")]
    report = verify(ctx.store)
    assert report.ok and report.head_seq == 3


def test_migration_0004_chains_the_events_a_0003_database_already_holds(empty_database_url):
    engine = make_engine(empty_database_url)
    config = _alembic_config(engine)
    command.upgrade(config, "0003")
    old_events = sa.table("audit_events", sa.column("at", sa.DateTime(timezone=True)),
                          sa.column("actor"), sa.column("action"), sa.column("target"),
                          sa.column("detail"))
    with engine.begin() as connection:
        for n in range(3):
            # Written as 0003 wrote them: naive UTC text on SQLite, timestamptz on PostgreSQL.
            connection.execute(old_events.insert().values(
                at=utcnow() if engine.dialect.name == "postgresql" else utcnow().replace(tzinfo=None),
                actor=f"key:{n}", action="bank.add", target="bank:old", detail=json.dumps({"n": n})))
    command.upgrade(config, "head")
    store = Store(engine)
    try:
        report = verify(store)
        assert report.ok, report.problems
        assert (report.events, report.head_seq) == (3, 3)
        assert [row.actor for row in rows(store)] == ["key:0", "key:1", "key:2"]
        record(store, 2)  # new events continue the backfilled chain
        report = verify(store)
        assert report.ok and report.head_seq == 5
        with pytest.raises(DBAPIError, match="append-only"):
            tamper(store, "DELETE FROM audit_events WHERE seq = 1")
    finally:
        store.close()


def test_verify_audit_log_is_for_admins_and_is_logged_after_the_check(ctx):
    record(ctx.store, 3)
    with pytest.raises(Forbidden):
        audit_service.verify_audit_log(ctx, Principal("key:p", Role.PLATFORM))
    report = audit_service.verify_audit_log(ctx, ADMIN)
    assert report.ok and report.events == 3  # its own event is not part of what it checked
    (event,) = audit_service.list_events(ctx, ADMIN, action="audit.verify")
    assert (event.seq, event.actor, event.target) == (4, "test:admin", "audit:chain")
    assert event.detail == {"events": 3, "ok": True, "problems": 0, "first_bad_seq": None}
    assert audit_service.verify_audit_log(ctx, ADMIN).events == 5  # the listing was logged too


def test_list_events_filters_by_target_and_action_newest_first(ctx):
    with ctx.store.transaction() as session:
        audit_repository.record_event(session, "a", "case.file", "case:1")
        audit_repository.record_event(session, "a", "case.decide", "case:1", automated=True)
        audit_repository.record_event(session, "a", "case.file", "case:2")
        audit_repository.record_event(session, "a", "bank.add", "bank:x")
        audit_repository.record_event(session, "a", "case_file", "case:3")  # '_' is no wildcard
    by_target = audit_service.list_events(ctx, ADMIN, target="case:1")
    assert [(e.seq, e.action, e.automated) for e in by_target] == [
        (2, "case.decide", True), (1, "case.file", False)]
    assert [e.seq for e in audit_service.list_events(ctx, ADMIN, action="case.*")] == [3, 2, 1]
    assert [e.seq for e in audit_service.list_events(ctx, ADMIN, action="case.file")] == [3, 1]
    assert [e.seq for e in audit_service.list_events(ctx, ADMIN, limit=2)] == [8, 7]  # 6-8: the listings
    with pytest.raises(InvalidRequest, match="limit"):
        audit_service.list_events(ctx, ADMIN, limit=0)
    with pytest.raises(InvalidRequest, match="prefix ending in"):
        audit_service.list_events(ctx, ADMIN, action="case.%")
    with pytest.raises(Forbidden):
        audit_service.list_events(ctx, Principal("key:h", Role.HELPLINE))


def test_a_tampered_log_stays_readable_and_named_in_its_report(ctx, exposed):
    tamper(exposed, "UPDATE audit_events SET detail = 'not json' WHERE seq = 2")
    report = verify(exposed)
    assert_broken(report, 2, "event 2 (test.event) was altered")
    view = audit_service.chain_report_view(report)
    assert view["ok"] is False and view["first_bad_seq"] == 2 and view["problems"] == report.problems
    listed = {event.seq: event for event in audit_service.list_events(ctx, ADMIN, limit=20)}
    assert listed[2].detail == {"unparsed": "not json"}


# -- reads: batched into audit_read_events, links of the same chain ---------------------------


@pytest.fixture
def exposed_reads(ctx):
    """A log of 3 events, 6 reads written in batches (seq 4-9), then 3 events (seq 10-12), whose
    triggers (both tables') an attacker has dropped."""
    record(ctx.store, 3)
    record_reads(ctx.store, 6)
    record(ctx.store, 3, actor="later")
    report = verify(ctx.store)
    assert report.ok, report.problems
    assert (report.events, report.read_events, report.head_seq) == (12, 6, 12)
    drop_triggers(ctx.store)
    return ctx.store


def _read_seqs(store: Store) -> list[int]:
    with store.engine.connect() as connection:
        return list(connection.execute(text("SELECT seq FROM audit_read_events ORDER BY seq")).scalars())


def test_reads_are_written_in_batches_as_links_of_the_one_chain(ctx):
    record(ctx.store, 2)
    group = AuditGroupCommit(ctx.store)

    async def lookups() -> None:
        await asyncio.gather(*(group.record_async("key:reader", "match", "", n=n) for n in range(20)))

    asyncio.run(lookups())
    group.close()
    record(ctx.store, 1, actor="after")
    assert group.events == 20 and group.commits < 20  # queued together while one batch was written
    assert _read_seqs(ctx.store) == list(range(3, 23))
    with ctx.store.engine.connect() as connection:
        main = list(connection.execute(text("SELECT seq FROM audit_events ORDER BY seq")).scalars())
    assert main == [1, 2, 23]  # no row of any kind in the main table for a read
    chain = rows(ctx.store)
    assert [row.seq for row in chain] == list(range(1, 24))
    assert all(later.prev_hash == earlier.entry_hash for earlier, later in itertools.pairwise(chain))
    report = verify(ctx.store)
    assert report.ok, report.problems
    assert (report.events, report.read_events) == (23, 20)


def test_an_edited_read_event_is_found_and_named(exposed_reads):
    tamper(exposed_reads, "UPDATE audit_read_events SET detail = :d WHERE seq = 6",
           d=json.dumps({"matched_entry_ids": []}))  # hide what a lookup was answered
    report = verify(exposed_reads)
    assert_broken(report, 6, "read event 6 (match) was altered after it was written")
    assert len(report.problems) == 1


def test_a_read_event_given_to_another_actor_is_found(exposed_reads):
    tamper(exposed_reads, "UPDATE audit_read_events SET actor = 'key:someone-else' WHERE seq = 9")
    assert_broken(verify(exposed_reads), 9, "read event 9 (match) was altered")


def test_a_deleted_read_event_is_found_and_named(exposed_reads):
    tamper(exposed_reads, "DELETE FROM audit_read_events WHERE seq = 5")
    assert_broken(verify(exposed_reads), 5, "event 5 is missing (the next one found is 6)",
                  "read event 6 does not follow the event before it")


def test_every_read_event_deleted_is_found(exposed_reads):
    tamper(exposed_reads, "DELETE FROM audit_read_events")
    assert_broken(verify(exposed_reads), 4, "event 4 is missing (the next one found is 10)")


def test_a_read_event_rewritten_and_rechained_is_found_by_the_head(exposed_reads):
    tamper(exposed_reads, "UPDATE audit_read_events SET actor = 'key:someone-else' WHERE seq = 7")
    rechain(exposed_reads, 7)  # every link checks out again, across both tables
    report = verify(exposed_reads)
    assert_broken(report, 12, "the hash of the last event (12) is not the one its head recorded")
    assert len(report.problems) == 1


def test_a_forged_read_event_past_the_head_is_found(exposed_reads):
    with exposed_reads.engine.begin() as connection:
        previous = connection.execute(text("SELECT entry_hash FROM audit_events WHERE seq = 12")).scalar()
        at = utcnow()
        connection.execute(audit_chain.AuditReadEvent.__table__.insert().values(
            seq=13, at=at, actor="key:forged", action="match", target="", detail="{}", automated=False,
            prev_hash=previous,
            entry_hash=event_hash(previous, 13, at, "key:forged", "match", "", "{}", False)))
    assert_broken(verify(exposed_reads), 13, "the chain ends at event 13 but its head says 12")


def test_a_read_event_copied_into_the_main_table_is_found(exposed_reads):
    tamper(exposed_reads, "INSERT INTO audit_events (at, actor, action, target, detail, automated, seq, "
           "prev_hash, entry_hash) SELECT at, actor, action, target, detail, automated, seq, prev_hash, "
           "entry_hash FROM audit_read_events WHERE seq = 5")
    assert_broken(verify(exposed_reads), 5, "event 5 appears twice")


def test_reads_are_listed_with_the_other_events_in_seq_order(ctx):
    record(ctx.store, 2, action="bank.add")
    record_reads(ctx.store, 3)
    record(ctx.store, 1, action="bank.add")
    with ctx.store.transaction() as session:
        recent = audit_repository.recent_events(session, 4)
    assert [(e.seq, e.action) for e in recent] == [(6, "bank.add"), (5, "match"), (4, "match"),
                                                   (3, "match")]
    assert [e.seq for e in audit_service.list_events(ctx, ADMIN, action="match")] == [5, 4, 3]
    assert [e.seq for e in audit_service.list_events(ctx, ADMIN, action="ma*", limit=2)] == [5, 4]
    assert [e.seq for e in audit_service.list_events(ctx, ADMIN, target="thing:0")] == [6, 1]
    listed = audit_service.list_events(ctx, ADMIN, limit=3)  # the listings above are logged too
    assert [e.action for e in listed] == ["audit.list"] * 3


def test_the_report_of_a_check_counts_the_reads(ctx):
    record_reads(ctx.store, 4)
    report = audit_service.verify_audit_log(ctx, ADMIN)
    view = audit_service.chain_report_view(report)
    assert (view["ok"], view["events"], view["read_events"], view["head_seq"]) == (True, 4, 4, 4)


def test_migration_0011_goes_down_with_the_reads_and_up_again(empty_database_url):
    store = Store.open(empty_database_url)
    try:
        record(store, 2)
        record_reads(store, 3)
        record(store, 1)
        head = verify(store).head_hash
        command.downgrade(_alembic_config(store.engine), "0010")
        # 0010's code reads the whole chain from audit_events: the reads are back there, in order.
        with store.engine.connect() as connection:
            assert "audit_read_events" not in sa.inspect(connection).get_table_names()
            chain = list(connection.execute(text(
                "SELECT seq, prev_hash, entry_hash FROM audit_events ORDER BY seq")))
        assert [row.seq for row in chain] == [1, 2, 3, 4, 5, 6]
        assert all(later.prev_hash == earlier.entry_hash for earlier, later in itertools.pairwise(chain))
        assert chain[-1].entry_hash == head
        command.upgrade(_alembic_config(store.engine), "head")
        record_reads(store, 2)
        report = verify(store)
        assert report.ok, report.problems
        assert (report.events, report.read_events) == (8, 2)
        with pytest.raises(DBAPIError, match="append-only"):
            tamper(store, "DELETE FROM audit_read_events")
    finally:
        store.close()
