"""The audit log's hash chain: every event carries the hash of the one before it.

Each event's ``entry_hash`` is SHA-256 over the previous event's hash and a canonical
encoding of the event's own fields (sequence number, time, actor, action, target, detail,
automated). Changing, deleting, inserting or reordering any event breaks the chain from
that point on, and ``verify_chain`` names the first event where it breaks.

Appends from every process and thread join one chain in one order: an append first moves
the single ``audit_chain_head`` row on (an UPDATE, so it takes PostgreSQL's row lock, or
SQLite's write lock, and holds it to the end of the transaction), then writes its events
after the head it found. A transaction that rolls back rolls the head back with it, so no
gap is left. The tables are append-only by trigger as well (migration 0004); the chain is
what catches someone who drops the triggers or edits the database file itself.

Reads (matches, hashing, detection: most of the log) are events like any other, with their
own ``seq`` from the same head, but stored in ``audit_read_events`` (``AuditReadEvent``), a slim
append-only table written in batches by ``audit_group_commit`` through ``append_reads``. The
chain is the union of both tables in ``seq`` order: ``verify_chain`` walks them merged, so it
checks every read and names an altered, removed or inserted one like any other event.

The newest hash (``ChainReport.head_hash``) is worth writing down elsewhere from time to
time (the transparency report prints it): a chain can be rebuilt from scratch by whoever
controls the database, and only a copy of the head kept outside it shows that.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, text, update
from sqlalchemy.engine import Connection, Dialect, Engine

from deepshield.store.models import AuditChainHead, AuditEvent, AuditReadEvent

GENESIS_HASH = "0" * 64


def _timestamp(at: datetime) -> str:
    """``%Y-%m-%dT%H:%M:%S.%fZ`` in UTC. (``isoformat`` writes the same text as that
    ``strftime`` for years 1000-9999, in a tenth of the time: every event is encoded once.)"""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_body(at: datetime, actor: str, action: str, target: str, detail: str,
               automated: bool) -> str:
    """The canonical encoding of an event's own fields (``detail`` is the stored JSON text)."""
    return json.dumps([_timestamp(at), actor, action, target, detail, bool(automated)],
                      ensure_ascii=False, separators=(",", ":"))


def chain_hash(prev_hash: str, seq: int, body: str) -> str:
    """The chain hash of the event at ``seq`` with ``body`` (``event_body``)."""
    return hashlib.sha256(f"{prev_hash}\n{seq}\n{body}".encode()).hexdigest()


def event_hash(prev_hash: str, seq: int, at: datetime, actor: str, action: str, target: str,
               detail: str, automated: bool) -> str:
    """The chain hash of one event, from its stored fields."""
    return chain_hash(prev_hash, seq, event_body(at, actor, action, target, detail, automated))


_HEAD = AuditChainHead.__table__
_EVENTS = AuditEvent.__table__
_READS = AuditReadEvent.__table__
_EVENT_COLUMNS = ("at", "actor", "action", "target", "detail", "automated", "seq", "prev_hash",
                  "entry_hash")


@dataclass(frozen=True)
class _DriverStatements:
    """The statements of an append as driver SQL, with the columns' bind processors.

    Every audited request runs them (reads through the group commit), and SQLite lets one
    writer at a time hold the database: the less Python between the first UPDATE and the
    commit, the less other processes wait. Driver SQL skips SQLAlchemy's per-statement work
    (about two thirds of an append's time with Core statements)."""

    advance_head: str
    insert_events: str
    insert_reads: str
    set_head_hash: str
    processors: tuple[Any, ...]


_STATEMENTS: dict[str, _DriverStatements] = {}


def _insert(table: Table, mark: str) -> str:
    return (f"INSERT INTO {table.name} ({', '.join(_EVENT_COLUMNS)}) VALUES "
            f"({', '.join([mark] * len(_EVENT_COLUMNS))})")


def _statements(dialect: Dialect) -> _DriverStatements:
    cached = _STATEMENTS.get(dialect.name)
    if cached is not None:
        return cached
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    statements = _DriverStatements(
        advance_head=(f"UPDATE {_HEAD.name} SET seq = seq + {mark} WHERE id = 1 "
                      "RETURNING seq, entry_hash"),
        insert_events=_insert(_EVENTS, mark),
        insert_reads=_insert(_READS, mark),
        set_head_hash=f"UPDATE {_HEAD.name} SET entry_hash = {mark} WHERE id = 1",
        # Both tables have the same column types, so one set of processors serves both.
        processors=tuple(_EVENTS.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                         for name in _EVENT_COLUMNS),
    )
    _STATEMENTS[dialect.name] = statements
    return statements


def _chained(rows: Sequence[dict[str, Any]], head: Any, statements: _DriverStatements
             ) -> tuple[list[tuple[Any, ...]], str]:
    """The driver values of ``rows`` chained after ``head`` (the advanced head's seq and the old
    hash), and the new head hash. Bodies are encoded by the caller's ``_bodies`` beforehand."""
    if head is None:
        raise RuntimeError("the audit chain head is missing: run the migrations")
    seq, prev_hash = int(head[0]) - len(rows), str(head[1])
    values = []
    for row in rows:
        seq += 1
        entry = chain_hash(prev_hash, seq, row["_body"])
        raw = (row["at"], row["actor"], row["action"], row["target"], row["detail"],
               row["_automated"], seq, prev_hash, entry)
        values.append(tuple(value if process is None else process(value)
                            for value, process in zip(raw, statements.processors, strict=True)))
        prev_hash = entry
    return values, prev_hash


def _bodies(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with their canonical bodies: everything that does not depend on the head, done
    before the head is locked."""
    prepared = []
    for row in rows:
        automated = bool(row.get("automated", False))
        prepared.append({**row, "_automated": automated, "_body": event_body(
            row["at"], row["actor"], row["action"], row["target"], row["detail"], automated)})
    return prepared


def append(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Chain and insert ``rows`` (``audit_repository.event_row`` values) into ``audit_events`` in
    ``connection``'s transaction. Locks the chain head until that transaction ends."""
    if not rows:
        return
    statements = _statements(connection.dialect)
    prepared = _bodies(rows)
    # The UPDATE comes first so that the lock is taken before the head is read.
    head = connection.exec_driver_sql(statements.advance_head, (len(rows),)).one_or_none()
    values, head_hash = _chained(prepared, head, statements)
    connection.exec_driver_sql(statements.insert_events, values)
    connection.exec_driver_sql(statements.set_head_hash, (head_hash,))


def append_reads(cursor: Any, dialect: Dialect, rows: list[dict[str, Any]]) -> None:
    """Chain and insert read events (``event_row`` values) into ``audit_read_events``, through
    a DB-API ``cursor`` in its connection's open transaction (``dialect`` is its engine's).

    The group commit's writer runs this once per batch, so it is raw driver work: three
    statements whatever the batch's size. The caller commits; until then the head stays
    locked, as in ``append``. Driver errors come out unwrapped."""
    if not rows:
        return
    statements = _statements(dialect)
    prepared = _bodies(rows)
    cursor.execute(statements.advance_head, (len(rows),))
    values, head_hash = _chained(prepared, cursor.fetchone(), statements)
    if len(values) == 1:
        cursor.execute(statements.insert_reads, values[0])
    else:
        cursor.executemany(statements.insert_reads, values)
    cursor.execute(statements.set_head_hash, (head_hash,))


@dataclass
class ChainReport:
    """What ``verify_chain`` found. ``ok`` only when every event and the head agree."""

    #: Every event checked, reads included.
    events: int = 0
    #: How many of them are reads kept in ``audit_read_events``.
    read_events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


MAX_PROBLEMS = 20


_CHAIN_COLUMNS = ("seq", "at", "actor", "action", "target", "detail", "automated", "prev_hash",
                  "entry_hash")


def _table_events(connection: Connection, table: Table, batch: int) -> Iterator[Any]:
    columns = [table.c[name] for name in _CHAIN_COLUMNS]
    last = -1
    while True:
        rows = connection.execute(
            select(*columns).where(table.c.seq > last).order_by(table.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _events(connection: Connection, batch: int = 5000) -> Iterator[tuple[Any, bool]]:
    """Every event of the chain in ``seq`` order, from both tables: ``(row, is_read)``."""
    events = ((row, False) for row in _table_events(connection, _EVENTS, batch))
    reads = ((row, True) for row in _table_events(connection, _READS, batch))
    return heapq.merge(events, reads, key=lambda pair: pair[0].seq)


def verify_chain(connection: Connection) -> ChainReport:
    """Recompute the whole chain; report every break (up to ``MAX_PROBLEMS``).

    ``connection`` must read one snapshot (``verify_snapshot`` sets that up): read statement
    by statement while others append, the head can run ahead of the events read before it,
    which looks exactly like tampering."""
    report = ChainReport()

    def problem(seq: int | None, message: str) -> None:
        if report.first_bad_seq is None and seq is not None:
            report.first_bad_seq = seq
        if len(report.problems) < MAX_PROBLEMS:
            report.problems.append(message)

    expected_seq, prev_hash = 1, GENESIS_HASH
    for row, is_read in _events(connection):
        report.events += 1
        report.read_events += is_read
        # "read event 7": where to look (audit_read_events), as well as which event it is.
        name = f"read event {row.seq}" if is_read else f"event {row.seq}"
        if row.seq > expected_seq:
            problem(expected_seq, f"event {expected_seq} is missing (the next one found is {row.seq})")
        elif row.seq < expected_seq:
            problem(row.seq, f"{name} appears twice")
        if row.prev_hash != prev_hash:
            problem(row.seq, f"{name} does not follow the event before it "
                    "(an event was deleted, inserted or reordered)")
        recomputed = event_hash(row.prev_hash, row.seq, row.at, row.actor, row.action, row.target,
                                row.detail, row.automated)
        if recomputed != row.entry_hash:
            problem(row.seq, f"{name} ({row.action}) was altered after it was written")
        expected_seq, prev_hash = row.seq + 1, row.entry_hash
    head = connection.execute(select(AuditChainHead.__table__)).one_or_none()
    if head is None:
        problem(None, "the chain head is missing")
    else:
        report.head_seq, report.head_hash = int(head.seq), str(head.entry_hash)
        if int(head.seq) != expected_seq - 1:
            # The first event the two disagree about: a removed one, or one added past the head.
            problem(min(int(head.seq), expected_seq - 1) + 1,
                    f"the chain ends at event {expected_seq - 1} but its head says {head.seq}: "
                    "events were removed from the end, or added outside the chain")
        elif head.entry_hash != prev_hash:
            # Every event checks out, so someone rewrote events and recomputed the hashes
            # after them; only the head (or a copy of it kept elsewhere) still knows.
            problem(expected_seq - 1, f"the hash of the last event ({expected_seq - 1}) is not the "
                    "one its head recorded: events were rewritten and the chain recomputed")
    return report


def verify_snapshot(engine: Engine) -> ChainReport:
    """``verify_chain`` on one consistent snapshot of the database, so events appended by
    others while it reads are never mistaken for a broken chain (their head and their events
    arrive together, or not at all). Read-only; takes no lock that blocks writers."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Each statement of READ COMMITTED sees a newer database: read the head and
            # every batch of events as of one moment instead.
            connection.execution_options(isolation_level="REPEATABLE READ")
        else:
            # pysqlite starts no transaction for SELECTs, so each would see the newest
            # commit; an explicit BEGIN holds one WAL snapshot from the first read.
            connection.exec_driver_sql("BEGIN")
        try:
            return verify_chain(connection)
        finally:
            connection.rollback()


def rebuild_head(connection: Connection) -> None:
    """Chain every existing event in id order and write the head (migration 0004 only)."""
    table = AuditEvent.__table__
    prev_hash, seq = GENESIS_HASH, 0
    rows = connection.execute(select(table).order_by(table.c.id)).all()
    for row in rows:
        seq += 1
        entry = event_hash(prev_hash, seq, row.at, row.actor, row.action, row.target, row.detail,
                           False)
        connection.execute(update(table).where(table.c.id == row.id).values(
            seq=seq, prev_hash=prev_hash, entry_hash=entry, automated=False))
        prev_hash = entry
    connection.execute(text("DELETE FROM audit_chain_head"))
    connection.execute(AuditChainHead.__table__.insert().values(id=1, seq=seq, entry_hash=prev_hash))
