"""Use case: the copy sweep that runs when a takedown case's content is removed.

On removal the content's hashes enter the block bank (so re-uploads are refused at
registration, see ``content_registry``), and every item of the platform's registry that is a
copy of the content is listed for action (status ``flagged``). The named items themselves
become ``removed``.

**Scale.** A platform registers millions of items and a sweep must take well under a second,
so the registry's PDQ hashes are searched in memory: a :class:`ContentIndex` (the project's
exact :class:`~deepshield.index.PdqMultiIndex`, over registry row ids) is kept per
``ServiceContext``, loaded from the store on first use and caught up with rows registered
since (by any process) before each search. Exact digests (MD5, SHA-256, and vPDQ values)
are looked up in the store by their indexed digest. Every hit is confirmed against the store:
the row is read back and its distance recomputed from the stored value.

Videos: a registered video is found when its MD5, SHA-256 or vPDQ value equals the removed
content's; a re-encoded video copy is not (yet) found by its frames here (its re-upload is
still refused at registration, where the matcher compares frames).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from deepshield.cases.references import case_reference
from deepshield.errors import InvalidRequest, InvalidSignal, LowQualityHash
from deepshield.index import PdqHit, PdqMultiIndex
from deepshield.index.pdq_multi_index import pack_hashes_fast
from deepshield.services.context import PerContext, ServiceContext
from deepshield.services.spread.banks import Origin, SignalInput, validate_signal
from deepshield.signals.pdq import pdq_distance
from deepshield.signals.types import SignalType
from deepshield.store import Store
from deepshield.store import audit_repository as audit
from deepshield.store import bank_repository as bank_repo
from deepshield.store import content_repository as repo
from deepshield.store.models import Bank, utcnow

_PDQ = SignalType.PDQ.value


@dataclass(frozen=True)
class SweepHit:
    item_id: str
    signal_type: str
    distance: int  # Hamming distance for PDQ, 0 for exact digests
    status: str  # the item's status after the sweep: flagged (listed for action) / removed / blocked
    uploader_ref: str | None


@dataclass(frozen=True)
class SweepResult:
    case_id: int
    blocked_signals: int  # hashes newly put in the block bank
    hits: list[SweepHit]
    seconds: float


class ContentIndex:
    """The registry's PDQ rows in memory, keyed by row id. Thread-safe.

    Rows are only ever added to the registry (statuses change, hashes do not), so the index
    catches up by reading rows past the highest id it has seen. A row that commits late under
    an id already passed (two writers at once on PostgreSQL), or a row deleted by hand, shows
    as a count of rows up to that id that disagrees with the rows read; the index then reloads
    in full (rare: seconds for a million items). Hits are row ids only: the caller reads and
    confirms them in the store.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pdq = PdqMultiIndex()
        self._high: int | None = None  # highest row id read; None until the first load
        self._rows = 0  # rows of every type read

    @property
    def loaded(self) -> bool:
        return self._high is not None

    def __len__(self) -> int:
        return len(self._pdq)

    def search(self, session: Session, pdq_hexes: Sequence[str], threshold: int) -> list[PdqHit]:
        """Every registry PDQ row within ``threshold`` of each query, current as of ``session``."""
        with self._lock:
            self._sync(session)
            if not pdq_hexes:
                return []
            return self._pdq.search_packed(pack_hashes_fast(list(pdq_hexes)), threshold)

    def catch_up(self, store: Store) -> None:
        """Read rows registered since the last sync, if the index is loaded (else nothing:
        the first search loads everything anyway)."""
        with self._lock:
            if self._high is None:
                return
            with store.transaction() as session:
                self._sync(session)

    def _sync(self, session: Session) -> None:
        if self._high is None:
            self._load_all(session)
            return
        self._read_after(session)
        # Counted up to the highest id read, so rows committed since (with higher ids) never
        # make it disagree: only a late row below it, or a deleted one, does.
        if repo.row_count(session, self._high) != self._rows:
            self._load_all(session)
            return
        self._pdq.maybe_compact()

    def _read_after(self, session: Session) -> None:
        assert self._high is not None
        for batch in repo.iter_rows_after(session, self._high):
            self._pdq.add((row_id, value) for row_id, kind, value in batch if kind == _PDQ)
            self._high = batch[-1][0]
            self._rows += len(batch)

    def _load_all(self, session: Session) -> None:
        ids: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        high = rows = 0
        for batch in repo.iter_rows_after(session, 0):
            pdq = [(row_id, value) for row_id, kind, value in batch if kind == _PDQ]
            ids.append(np.fromiter((row_id for row_id, _ in pdq), dtype=np.int64, count=len(pdq)))
            codes.append(pack_hashes_fast([value for _, value in pdq]))
            high, rows = batch[-1][0], rows + len(batch)
        self._pdq = PdqMultiIndex()
        if ids:
            self._pdq.bulk_load(np.concatenate(ids), np.concatenate(codes))
        self._high, self._rows = high, rows


#: The registry index of a context (created empty; it loads on its first search).
content_index: PerContext[ContentIndex] = PerContext(ContentIndex)


def _validated_signals(signals: Sequence[SignalInput], min_quality: int) -> list[tuple[str, str, int | None]]:
    checked = []
    for position, signal in enumerate(signals):
        try:
            checked.append(validate_signal(signal, min_quality))
        except (InvalidSignal, LowQualityHash) as exc:
            raise type(exc)(f"signal {position + 1}: {exc.detail}") from exc
    return checked


def _block_bank(session: Session, name: str, actor: str) -> Bank:
    bank = session.scalar(select(Bank).where(Bank.name == name))
    if bank is None:
        bank = bank_repo.create_bank(session, name, "Hashes of content removed on takedown "
                                                    "requests: re-uploads are refused")
        audit.record_event(session, actor, "bank.create", f"bank:{name}", automated=True)
    return bank


def sweep_for_case(ctx: ServiceContext, case_id: int, signals: list[SignalInput], *,
                   item_ids: list[str], actor: str) -> SweepResult:
    """Bank a removed case's content for blocking and list every registered copy for action.

    The content is ``signals`` plus the registered hashes of the items ``item_ids`` (which
    become ``removed``; ids the registry does not know are skipped). Its hashes enter the
    block bank (``settings.cases.block_bank``, created if missing) with origin ``platform``
    and case reference ``case:<case_id>``. Every registered item whose PDQ is within
    ``settings.match.pdq_threshold`` of a content PDQ, or whose MD5/SHA-256/vPDQ value equals
    one, becomes ``flagged`` with ``case_id`` set, unless it is already flagged, blocked or
    removed (a stronger status is kept). ``hits`` holds every such item once (its closest
    signal), the named ones included, best first. All of it is one transaction, with one
    automated audit event ``content.sweep`` holding counts only.

    Raises ``InvalidSignal`` / ``LowQualityHash`` for a malformed or weak signal (nothing is
    written) and ``InvalidRequest`` when there is no content at all to sweep for.
    """
    started = time.perf_counter()
    settings = ctx.settings
    threshold = settings.match.pdq_threshold
    checked = _validated_signals(signals, settings.match.pdq_min_quality)
    case_ref = case_reference(case_id)
    named = sorted(set(item_ids))
    with ctx.store.transaction() as session:
        named_rows = repo.rows_of_items(session, named)
        content: dict[tuple[str, str], int | None] = {}
        for signal_type, value, quality in checked:
            content.setdefault((signal_type, value), quality)
        for row in named_rows:
            content.setdefault((row.signal_type, row.value), None)
        if not content:
            raise InvalidRequest(f"case {case_id}: no hashes to sweep for: neither signals nor "
                                 "registered items were given")
        found = _find_copies(ctx, session, content, threshold)
        named_found = {row.item_id for row in named_rows}
        for row in named_rows:  # the named items are hits whatever their signals
            found.setdefault(row.id, (row, 0))

        bank = _block_bank(session, settings.cases.block_bank, actor)
        entries = bank_repo.add_entries(session, bank, [
            bank_repo.NewEntry(signal_type, value, quality, Origin.PLATFORM.value, case_ref)
            for (signal_type, value), quality in content.items()], actor, per_case=True)
        blocked_signals = sum(created for _, created in entries)

        now = utcnow()
        removed = repo.set_item_status(session, named_found, "removed", at=now, case_id=case_id)
        copies = {row.item_id for row, _ in found.values()} - named_found
        flagged = repo.set_item_status(session, copies, "flagged", at=now, case_id=case_id,
                                       only_from=["live"])
        statuses = repo.item_statuses(session, {row.item_id for row, _ in found.values()})
        hits = _best_per_item(found.values(), statuses)
        audit.record_event(
            session, actor, "content.sweep", case_ref, automated=True,
            content_signals=len(content), blocked_signals=blocked_signals,
            items_named=len(named), items_unknown=len(named) - len(named_found),
            hits=len(hits), rows_flagged=flagged, rows_removed=removed,
        )
    return SweepResult(case_id, blocked_signals, hits, time.perf_counter() - started)


def _find_copies(ctx: ServiceContext, session: Session, content: dict[tuple[str, str], int | None],
                 threshold: int) -> dict[int, tuple[repo.ContentRow, int]]:
    """Registry rows that are copies of ``content``: row id -> (row, distance), confirmed."""
    found: dict[int, tuple[repo.ContentRow, int]] = {}
    pdq_values = [value for (signal_type, value) in content if signal_type == SignalType.PDQ.value]
    if pdq_values:
        candidates = {hit.item_id for hit in content_index(ctx).search(session, pdq_values, threshold)}
        for row in repo.rows_by_ids(session, candidates):
            if row.signal_type != SignalType.PDQ.value:
                continue
            # Confirmed from the stored value, not the index's copy of it.
            distance = min(pdq_distance(row.value, value) for value in pdq_values)
            if distance <= threshold:
                found[row.id] = (row, distance)
    for signal_type in (SignalType.MD5.value, SignalType.SHA256.value, SignalType.VPDQ.value):
        values = {value for (kind, value) in content if kind == signal_type}
        if not values:
            continue
        for row in repo.rows_by_digest(session, signal_type, {repo.value_digest(v) for v in values}):
            if row.value in values:
                found.setdefault(row.id, (row, 0))
    return found


def _best_per_item(found: Iterable[tuple[repo.ContentRow, int]],
                   statuses: dict[str, str]) -> list[SweepHit]:
    best: dict[str, tuple[repo.ContentRow, int]] = {}
    for row, distance in found:
        current = best.get(row.item_id)
        if current is None or (distance, row.signal_type) < (current[1], current[0].signal_type):
            best[row.item_id] = (row, distance)
    hits = [SweepHit(item_id, row.signal_type, distance, statuses.get(item_id, row.status),
                     row.uploader_ref)
            for item_id, (row, distance) in best.items()]
    return sorted(hits, key=lambda hit: (hit.distance, hit.item_id))
