"""Use case: match an upload or a hash against every bank.

The ``Matcher`` holds the in-memory indexes. It loads the active entries once (PDQ hashes
as plain rows straight into the multi-index: ten million in seconds), then
stays current by replaying the store's change feed, with no rebuild. An add, withdraw or
disable made through this process is visible to the very next match; one made by another
process (the CLI beside a running server, another server worker) within
``MatchSettings.sync_interval_s`` (0.5 s by default), because the feed is read before a
search only when that much time has passed. Every hit is confirmed active in the store.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from deepshield.errors import InvalidSignal
from deepshield.index import ExactIndex, PdqHit, PdqIndex, PdqMultiIndex
from deepshield.index.pdq_multi_index import pack_hashes_fast
from deepshield.settings import MatchSettings
from deepshield.signals.types import SignalType
from deepshield.signals.vpdq import VpdqFeature, parse_vpdq, unique_good_frames
from deepshield.store import Store
from deepshield.store import bank_repository as banks
from deepshield.store.models import Bank, BankEntry


@dataclass(frozen=True)
class Match:
    bank: str
    entry_id: int
    signal_type: str
    distance: int
    variant: str  # which form of the query matched: a dihedral variant, "exact" or "frames"
    query_match_pct: float | None = None  # vPDQ only
    compared_match_pct: float | None = None  # vPDQ only


@dataclass(frozen=True)
class MatchQuery:
    """What to look for: named PDQ variants, exact digests and/or vPDQ frames."""

    pdq_variants: Sequence[tuple[str, str]] = ()
    md5: str | None = None
    sha256: str | None = None
    vpdq: Sequence[VpdqFeature] = ()


@dataclass
class MatchOutcome:
    matches: list[Match]
    warnings: list[str] = field(default_factory=list)


#: Past this many changes since the last sync, the matcher reloads instead of replaying.
FULL_RELOAD_CHANGES = 100_000
#: Below this many PDQ hashes a start from plain rows takes under a second: no snapshot.
SNAPSHOT_MIN_HASHES = 100_000

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexStatus:
    loaded: bool
    synced_at: int  # Unix time of the last catch-up with the store's change feed
    sizes: dict[str, int]


@dataclass
class _VideoEntry:
    frame_ids: list[int]
    unique_frames: int


class Matcher:
    """In-memory indexes over the store's active entries. Thread-safe.

    PDQ hashes live in a :class:`~deepshield.index.PdqMultiIndex` (exact, scales to tens of
    millions); it holds entry ids only, and a match's bank is read from the store, which also
    confirms the entry is still active.
    """

    def __init__(self, store: Store, settings: MatchSettings, *, snapshot_dir: Path | None = None) -> None:
        self._store = store
        self._settings = settings
        self._snapshot_dir = snapshot_dir
        self._lock = threading.Lock()
        self._seq: int | None = None  # None until the first load
        self._pdq = PdqMultiIndex()
        self._exact = {SignalType.MD5: ExactIndex(), SignalType.SHA256: ExactIndex()}
        self._frames = PdqIndex()
        self._frame_owner: dict[int, int] = {}
        self._videos: dict[int, _VideoEntry] = {}
        self._next_frame_id = 1
        self._synced_at = 0.0
        self._checked_at = -float("inf")  # monotonic time of the last change-feed check
        self._generation = -1  # the store's bank generation at that check

    @property
    def settings(self) -> MatchSettings:
        return self._settings

    def stats(self) -> dict[str, int]:
        with self._lock, self._store.transaction() as session:
            self._sync(session)
            counts = {
                "pdq": len(self._pdq),
                "md5": len(self._exact[SignalType.MD5]),
                "sha256": len(self._exact[SignalType.SHA256]),
                "vpdq": len(self._videos),
            }
            return {
                "entries": sum(counts.values()),
                **counts,
                "vpdq_frames": len(self._frames),
                "pdq_pending_compaction": self._pdq.delta_size,
                "change_seq": self._seq or 0,
            }

    def index_status(self) -> IndexStatus:
        """Whether the indexes are loaded, when they last caught up with the store, and sizes.

        Does not load or sync anything, so a health check never waits for a load.
        """
        with self._lock:
            return IndexStatus(
                loaded=self._seq is not None,
                synced_at=int(self._synced_at),
                sizes={
                    SignalType.PDQ.value: len(self._pdq),
                    SignalType.MD5.value: len(self._exact[SignalType.MD5]),
                    SignalType.SHA256.value: len(self._exact[SignalType.SHA256]),
                    SignalType.VPDQ.value: len(self._videos),
                },
            )

    def refresh(self) -> None:
        """Apply every store change since the last one seen (loads everything the first time)."""
        with self._lock, self._store.transaction() as session:
            self._sync(session)

    def _sync_due(self) -> bool:
        """Whether the change feed must be read before the next search: always after a bank
        change made through this process's store, else every ``sync_interval_s``."""
        return (self._seq is None or self._store.bank_generation != self._generation
                or time.monotonic() - self._checked_at >= self._settings.sync_interval_s)

    def _sync(self, session: Session) -> None:
        self._generation = self._store.bank_generation  # read first: a later commit shows next time
        self._checked_at = time.monotonic()
        self._synced_at = time.time()
        if self._seq is None:
            self._load_all(session)
            return
        newest = banks.latest_change_seq(session)
        if newest == self._seq:
            return  # the common case: one indexed query, nothing to apply
        if newest - self._seq > FULL_RELOAD_CHANGES:
            # A bulk import: loading everything as plain rows beats replaying millions of changes.
            self._reset()
            self._load_all(session)
            return
        self._replay_changes(session, self._seq)
        self._pdq.maybe_compact()

    def _replay_changes(self, session: Session, since: int) -> None:
        """Apply every entry changed after change ``since``, in its current state."""
        newest, changed = banks.changed_entries_since(session, since)
        for entry, _bank_name in changed:
            self._drop(entry.id)
            if entry.active:
                self._put(entry)
        self._seq = newest

    def _load_other_types(self, session: Session) -> None:
        """Every active entry that is not PDQ (digests, vPDQ), through the ORM: they are few."""
        for entry, _bank_name in banks.iter_active_entries(session, exclude_type=SignalType.PDQ.value):
            self._put(entry)

    def _reset(self) -> None:
        self._pdq = PdqMultiIndex()
        self._exact = {SignalType.MD5: ExactIndex(), SignalType.SHA256: ExactIndex()}
        self._frames = PdqIndex()
        self._frame_owner.clear()
        self._videos.clear()

    def _load_all(self, session: Session) -> None:
        seq = banks.latest_change_seq(session)
        if self._load_snapshot(session, seq):
            return
        ids: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        for batch in banks.iter_active_values(session, SignalType.PDQ.value):
            ids.append(np.fromiter((entry_id for entry_id, _ in batch), dtype=np.int64, count=len(batch)))
            codes.append(pack_hashes_fast([value for _, value in batch]))
        if ids:
            self._pdq.bulk_load(np.concatenate(ids), np.concatenate(codes))
        self._load_other_types(session)
        self._seq = seq
        self._save_snapshot(session, seq)

    def _snapshot_identity(self, session: Session, seq: int) -> str:
        """Which database state a snapshot belongs to: a digest of the database's URL and of
        the time of change ``seq``, so a recreated database never reuses an old snapshot."""
        url = self._store.engine.url.render_as_string(hide_password=True)
        return hashlib.sha256(f"{url}|{seq}|{banks.change_time(session, seq)}".encode()).hexdigest()[:32]

    def _save_snapshot(self, session: Session, seq: int) -> None:
        """Keep the PDQ base on disk, so the next start maps it instead of reading every row."""
        if self._snapshot_dir is None or len(self._pdq) < SNAPSHOT_MIN_HASHES:
            return
        try:
            self._pdq.save(self._snapshot_dir,
                           {"change_seq": seq, "store": self._snapshot_identity(session, seq)})
        except OSError as exc:  # a cache: the index works without it
            log.warning("could not save the PDQ index snapshot to %s: %s", self._snapshot_dir, exc)

    def _load_snapshot(self, session: Session, latest: int) -> bool:
        """Start from a saved PDQ base and replay the changes made since it was saved."""
        if self._snapshot_dir is None or not (self._snapshot_dir / "index.json").exists():
            return False
        try:
            index, metadata = PdqMultiIndex.load(self._snapshot_dir)
        except (OSError, ValueError) as exc:
            log.warning("ignoring the PDQ index snapshot in %s: %s", self._snapshot_dir, exc)
            return False
        seq = metadata.get("change_seq")
        if not isinstance(seq, int) or seq > latest or latest - seq > FULL_RELOAD_CHANGES \
                or metadata.get("store") != self._snapshot_identity(session, seq):
            return False
        self._pdq = index
        self._load_other_types(session)
        self._replay_changes(session, seq)
        return True

    def _put(self, entry: BankEntry) -> None:
        try:
            signal_type = SignalType(entry.signal_type)
        except ValueError:
            return  # a type this version does not know; a newer writer added it
        if signal_type is SignalType.PDQ:
            self._pdq.add([(entry.id, entry.value)])
        elif signal_type is SignalType.VPDQ:
            frames = unique_good_frames(parse_vpdq(entry.value), self._settings.pdq_min_quality)
            frame_ids = list(range(self._next_frame_id, self._next_frame_id + len(frames)))
            self._next_frame_id += len(frames)
            self._frames.add(zip(frame_ids, (f.pdq_hex for f in frames), strict=True))
            self._frame_owner.update(dict.fromkeys(frame_ids, entry.id))
            self._videos[entry.id] = _VideoEntry(frame_ids, len(frames))
        else:
            self._exact[signal_type].add([(entry.id, entry.value)])

    def _drop(self, entry_id: int) -> None:
        # An entry's type never changes, but the id alone is enough: removal of an absent id
        # is a no-op in every index, and no per-entry bookkeeping is held for ten million ids.
        self._pdq.remove([entry_id])
        for index in self._exact.values():
            index.remove([entry_id])
        video = self._videos.pop(entry_id, None)
        if video is not None:
            self._frames.remove(video.frame_ids)
            for frame_id in video.frame_ids:
                self._frame_owner.pop(frame_id, None)

    def match(self, query: MatchQuery) -> list[Match]:
        """Every active entry the query matches, best (lowest distance) first, one row per entry."""
        with self._lock:
            if self._sync_due():
                with self._store.transaction() as session:
                    self._sync(session)
            found = self._find(query)
        return self.resolve(found)

    def sync_due(self) -> bool:
        """Whether the next search must read the store's change feed first."""
        return self._sync_due()

    def refresh_if_due(self) -> None:
        """``refresh`` unless another caller has just done it."""
        with self._lock:
            if self._sync_due():
                with self._store.transaction() as session:
                    self._sync(session)

    def find_in_memory(self, query: MatchQuery) -> list[Hit] | None:
        """The query's hits from the in-memory indexes alone, with no I/O; None when that is
        not possible now (a change-feed read is due, or a sync holds the indexes).

        For an event loop: it never blocks on the store. Pass the hits to ``resolve``.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._sync_due():
                return None
            return self._find(query)
        finally:
            self._lock.release()

    def _find(self, query: MatchQuery) -> list[Hit]:
        found = self._match_pdq(query.pdq_variants)
        for signal_type, value in ((SignalType.MD5, query.md5), (SignalType.SHA256, query.sha256)):
            if value:
                found.extend(
                    Hit(entry_id, signal_type.value, 0, "exact")
                    for entry_id in self._exact[signal_type].lookup(value)
                )
        found.extend(self._match_video(query.vpdq))
        return found

    def resolve(self, found: Sequence[Hit]) -> list[Match]:
        """Matches from hits: the store confirms each is still active and names its bank."""
        if not found:
            return []
        with self._store.connection() as connection:
            return resolve_on(connection, found)

    def _match_pdq(self, variants: Sequence[tuple[str, str]]) -> list[Hit]:
        if not variants:
            return []
        hits = self._pdq.search([value for _, value in variants], self._settings.pdq_threshold)
        return [
            Hit(hit.item_id, SignalType.PDQ.value, hit.distance, variants[hit.query_position][0])
            for hit in hits
        ]

    def _match_video(self, features: Sequence[VpdqFeature]) -> list[Hit]:
        query_frames = unique_good_frames(features, self._settings.pdq_min_quality)
        if not query_frames or not self._videos:
            return []
        hits = self._frames.search([f.pdq_hex for f in query_frames], self._settings.pdq_threshold)
        return video_hits(hits, len(query_frames), self._frame_owner.__getitem__,
                          lambda entry_id: self._videos[entry_id].unique_frames, self._settings)


def video_hits(frame_hits: Iterable[PdqHit], query_frames: int, owner_of: Callable[[int], int],
               unique_frames_of: Callable[[int], int], settings: MatchSettings) -> list[Hit]:
    """The banked videos matched by a query video, from its frames' hits on banked frames.

    ``frame_hits`` hold the query's frame positions (among its ``query_frames`` unique good
    frames) and banked frame ids; ``owner_of`` names a frame's entry and ``unique_frames_of``
    an entry's count of unique good frames. A video matches when enough of the query's frames
    (``vpdq_query_match_pct``) and of its own (``vpdq_compared_match_pct``) met.
    """
    matched_query: dict[int, dict[int, int]] = defaultdict(dict)  # entry -> query frame -> best
    matched_compared: dict[int, set[int]] = defaultdict(set)
    for hit in frame_hits:
        entry_id = owner_of(hit.item_id)
        best = matched_query[entry_id].get(hit.query_position)
        if best is None or hit.distance < best:
            matched_query[entry_id][hit.query_position] = hit.distance
        matched_compared[entry_id].add(hit.item_id)
    results = []
    for entry_id, per_frame in matched_query.items():
        query_pct = 100.0 * len(per_frame) / query_frames
        compared_pct = 100.0 * len(matched_compared[entry_id]) / unique_frames_of(entry_id)
        if (query_pct >= settings.vpdq_query_match_pct
                and compared_pct >= settings.vpdq_compared_match_pct):
            results.append(Hit(
                entry_id, SignalType.VPDQ.value, int(statistics.median(per_frame.values())),
                "frames", round(query_pct, 2), round(compared_pct, 2),
            ))
    return results


def resolve_on(connection: Connection, found: Sequence[Hit]) -> list[Match]:
    """``Matcher.resolve`` on a connection the caller holds: the audit writer's, which checks a
    lookup's hits and logs its answer in one trip (``AuditGroupCommit.read_and_record_async``).
    It only reads, and uses no state of a matcher, so any thread may call it."""
    if not found:
        return []
    bank_of = active_entry_banks(connection, [hit.entry_id for hit in found])
    matches = [
        Match(bank_of[hit.entry_id], hit.entry_id, hit.signal_type, hit.distance, hit.variant,
              hit.query_match_pct, hit.compared_match_pct)
        for hit in found
        if hit.entry_id in bank_of
    ]
    return best_per_entry(matches)


#: ``bank_repository.active_entry_banks``' query as driver SQL (its ``{marks}``: one placeholder
#: per id). The same conditions: the entry is neither withdrawn nor disabled.
_ACTIVE_ENTRY_BANKS_SQL = (
    f"SELECT e.id, b.name FROM {BankEntry.__tablename__} AS e "
    f"JOIN {Bank.__tablename__} AS b ON b.id = e.bank_id "
    "WHERE e.id IN ({marks}) AND e.withdrawn_at IS NULL AND e.enabled"
)


def active_entry_banks(connection: Connection, entry_ids: Sequence[int]) -> dict[int, str]:
    """Bank name of each of ``entry_ids`` that is still active (others are left out), as
    ``bank_repository.active_entry_banks`` finds them, read through the driver's cursor.

    Every lookup with a hit runs this: as a Core statement it took 0.07 ms of CPU, as driver
    SQL 0.007 ms. Driver errors are raised as SQLAlchemy's (``DBAPIError``), as Core's are, so
    a store that fails is still a 503."""
    unique = sorted(set(entry_ids))
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    found: dict[int, str] = {}
    cursor = dbapi_connection.cursor()
    try:
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            statement = _ACTIVE_ENTRY_BANKS_SQL.format(marks=", ".join([mark] * len(chunk)))
            try:
                cursor.execute(statement, chunk)
                rows = cursor.fetchall()
            except dialect.loaded_dbapi.Error as exc:
                raise DBAPIError.instance(statement, chunk, exc, dialect.loaded_dbapi.Error,
                                          dialect=dialect) from exc
            found.update((int(entry_id), str(name)) for entry_id, name in rows)
    finally:
        cursor.close()
    return found


@dataclass(frozen=True)
class Hit:
    """A match before its bank is known (read from the store, which confirms it is active)."""
    entry_id: int
    signal_type: str
    distance: int
    variant: str
    query_match_pct: float | None = None
    compared_match_pct: float | None = None


def best_per_entry(found: Iterable[Match]) -> list[Match]:
    best: dict[int, Match] = {}
    for candidate in found:
        current = best.get(candidate.entry_id)
        # The plain ("original") variant wins ties, so results stay stable and readable.
        if current is None or (candidate.distance, candidate.variant != "original") < (
            current.distance, current.variant != "original"
        ):
            best[candidate.entry_id] = candidate
    return sorted(best.values(), key=lambda m: (m.distance, m.bank, m.entry_id))


def query_from_signals(signals: Iterable[tuple[SignalType, str]]) -> MatchQuery:
    """A query from explicit, already validated signals (e.g. ``pdq:HEX``)."""
    pdq: list[tuple[str, str]] = []
    md5 = sha256 = None
    vpdq: list[VpdqFeature] = []
    for signal_type, value in signals:
        if signal_type is SignalType.PDQ:
            pdq.append(("original", value))
        elif signal_type is SignalType.MD5:
            if md5 is not None:
                raise InvalidSignal("give at most one md5 signal per query")
            md5 = value
        elif signal_type is SignalType.SHA256:
            if sha256 is not None:
                raise InvalidSignal("give at most one sha256 signal per query")
            sha256 = value
        else:
            vpdq.extend(parse_vpdq(value))
    return MatchQuery(pdq_variants=pdq, md5=md5, sha256=sha256, vpdq=vpdq)
