"""A frozen copy of every bank's active entries, for an archive scan.

A scan matches millions of files against the banks as they stood when it started. The live
:class:`~deepshield.services.spread.live_index.Matcher` is the wrong tool there: it confirms
every hit in the store, and a Ray worker on another machine has no database. A
:class:`ScanIndex` is read from the store once and then holds everything a match needs,
bank names included, as plain numpy arrays:

- PDQ hashes in a :class:`~deepshield.index.PdqMultiIndex` (the matcher's own exact search);
- MD5 and SHA-256 digests in :class:`~deepshield.index.sorted_digests.SortedDigests`;
- vPDQ videos as their unique good frames (a second multi-index) and the frames' owners;
- every entry id with its bank.

:meth:`ScanIndex.arrays` gives those arrays and :meth:`ScanIndex.from_arrays` takes them back
without copying, so the index can be put once in Ray's object store and read by every worker
on a node from shared memory (``services/spread/scan_ray.py``).

A match here reports what the banks held at :attr:`ScanIndex.change_seq`: an entry withdrawn
during the scan is still reported, and the scan's summary says which state it used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from deepshield.index import PdqMultiIndex
from deepshield.index.pdq_multi_index import pack_hashes_fast
from deepshield.index.sorted_digests import SortedDigests
from deepshield.services.spread.live_index import Hit, Match, MatchQuery, best_per_entry, video_hits
from deepshield.settings import MatchSettings
from deepshield.signals.types import SignalType
from deepshield.signals.vpdq import parse_vpdq, unique_good_frames
from deepshield.store import Store
from deepshield.store import bank_repository as banks

_DIGEST_BYTES = {SignalType.MD5: 16, SignalType.SHA256: 32}


@dataclass(frozen=True)
class ScanIndex:
    pdq: PdqMultiIndex
    digests: dict[SignalType, SortedDigests]
    frames: PdqMultiIndex  # banked videos' unique good frames, by frame number
    frame_owner: np.ndarray  # int64: the entry id of each frame number
    video_ids: np.ndarray  # int64, ascending: the vPDQ entries
    video_frames: np.ndarray  # int64: each vPDQ entry's count of unique good frames
    entry_ids: np.ndarray  # int64, ascending: every active entry
    entry_banks: np.ndarray  # int32: each entry's position in ``bank_names``
    bank_names: tuple[str, ...]
    settings: MatchSettings
    change_seq: int  # the store's change feed position the index reflects

    @classmethod
    def load(cls, store: Store, settings: MatchSettings) -> ScanIndex:
        """Every active entry of every bank, read from ``store`` now."""
        with store.transaction() as session:
            change_seq = banks.latest_change_seq(session)
            names = banks.bank_names(session)
            bank_positions = {bank_id: position for position, bank_id in enumerate(sorted(names))}
            owners: list[tuple[int, int]] = []

            def rows_of(signal_type: SignalType) -> list[tuple[int, str]]:
                rows: list[tuple[int, str]] = []
                for batch in banks.iter_active_values_in_banks(session, signal_type.value):
                    rows.extend((entry_id, value) for entry_id, value, _ in batch)
                    owners.extend((entry_id, bank_positions[bank_id]) for entry_id, _, bank_id in batch)
                return rows

            pdq_rows = rows_of(SignalType.PDQ)
            pdq = PdqMultiIndex()
            if pdq_rows:
                pdq.bulk_load(np.fromiter((entry_id for entry_id, _ in pdq_rows), np.int64, len(pdq_rows)),
                              pack_hashes_fast([value for _, value in pdq_rows]))
            del pdq_rows
            digests = {}
            for signal_type, width in _DIGEST_BYTES.items():
                rows = rows_of(signal_type)
                digests[signal_type] = SortedDigests.build([entry_id for entry_id, _ in rows],
                                                           [value.lower() for _, value in rows], width)
            frame_hexes: list[str] = []
            frame_owner: list[int] = []
            video_ids: list[int] = []
            video_frames: list[int] = []
            for entry_id, value in rows_of(SignalType.VPDQ):
                frames = unique_good_frames(parse_vpdq(value), settings.pdq_min_quality)
                frame_hexes.extend(frame.pdq_hex for frame in frames)
                frame_owner.extend([entry_id] * len(frames))
                video_ids.append(entry_id)
                video_frames.append(len(frames))
        frame_index = PdqMultiIndex()
        if frame_hexes:
            frame_index.bulk_load(np.arange(len(frame_hexes), dtype=np.int64), pack_hashes_fast(frame_hexes))
        owners.sort()
        return cls(
            pdq=pdq, digests=digests, frames=frame_index,
            frame_owner=np.asarray(frame_owner, dtype=np.int64),
            video_ids=np.asarray(video_ids, dtype=np.int64),
            video_frames=np.asarray(video_frames, dtype=np.int64),
            entry_ids=np.asarray([entry_id for entry_id, _ in owners], dtype=np.int64),
            entry_banks=np.asarray([position for _, position in owners], dtype=np.int32),
            bank_names=tuple(names[bank_id] for bank_id in sorted(names)),
            settings=settings, change_seq=change_seq,
        )

    def sizes(self) -> dict[str, int]:
        return {SignalType.PDQ.value: len(self.pdq), SignalType.MD5.value: len(self.digests[SignalType.MD5]),
                SignalType.SHA256.value: len(self.digests[SignalType.SHA256]),
                SignalType.VPDQ.value: len(self.video_ids)}

    # ------------------------------------------------------------------ transport

    def arrays(self) -> dict[str, object]:
        """The index as plain arrays and small values (for :meth:`from_arrays`, e.g. in another
        process); the arrays are the index's own, not copies."""
        return {
            "pdq": self.pdq.base_arrays(),
            "digests": {signal_type.value: digests.arrays() for signal_type, digests in self.digests.items()},
            "frames": self.frames.base_arrays(),
            "frame_owner": self.frame_owner, "video_ids": self.video_ids, "video_frames": self.video_frames,
            "entry_ids": self.entry_ids, "entry_banks": self.entry_banks,
            "bank_names": list(self.bank_names), "settings": asdict(self.settings),
            "change_seq": self.change_seq,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, object]) -> ScanIndex:
        """The index over :meth:`arrays`'s arrays, without copying them (read-only is fine)."""
        digests = arrays["digests"]
        assert isinstance(digests, dict)
        settings = arrays["settings"]
        assert isinstance(settings, dict)
        return cls(
            pdq=PdqMultiIndex.from_arrays(arrays["pdq"]),  # type: ignore[arg-type]
            digests={SignalType(name): SortedDigests.from_arrays(value) for name, value in digests.items()},
            frames=PdqMultiIndex.from_arrays(arrays["frames"]),  # type: ignore[arg-type]
            frame_owner=arrays["frame_owner"],  # type: ignore[arg-type]
            video_ids=arrays["video_ids"],  # type: ignore[arg-type]
            video_frames=arrays["video_frames"],  # type: ignore[arg-type]
            entry_ids=arrays["entry_ids"],  # type: ignore[arg-type]
            entry_banks=arrays["entry_banks"],  # type: ignore[arg-type]
            bank_names=tuple(arrays["bank_names"]),  # type: ignore[arg-type]
            settings=MatchSettings(**settings), change_seq=int(arrays["change_seq"]),  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ search

    def match(self, query: MatchQuery) -> list[Match]:
        """Every entry the query matches, best first, one row per entry: the same rules and
        the same order as the live matcher's ``Matcher.match``."""
        found: list[Hit] = []
        variants: Sequence[tuple[str, str]] = query.pdq_variants
        if variants:
            hits = self.pdq.search([value for _, value in variants], self.settings.pdq_threshold)
            found.extend(Hit(hit.item_id, SignalType.PDQ.value, hit.distance, variants[hit.query_position][0])
                         for hit in hits)
        for signal_type, value in ((SignalType.MD5, query.md5), (SignalType.SHA256, query.sha256)):
            if value:
                found.extend(Hit(entry_id, signal_type.value, 0, "exact")
                             for entry_id in self.digests[signal_type].lookup(value))
        found.extend(self._match_video(query))
        return best_per_entry(Match(self._bank_of(hit.entry_id), hit.entry_id, hit.signal_type, hit.distance,
                                    hit.variant, hit.query_match_pct, hit.compared_match_pct)
                              for hit in found)

    def _match_video(self, query: MatchQuery) -> list[Hit]:
        query_frames = unique_good_frames(query.vpdq, self.settings.pdq_min_quality)
        if not query_frames or not len(self.video_ids):
            return []
        hits = self.frames.search([frame.pdq_hex for frame in query_frames], self.settings.pdq_threshold)
        return video_hits(hits, len(query_frames), lambda frame: int(self.frame_owner[frame]),
                          self._unique_frames, self.settings)

    def _unique_frames(self, entry_id: int) -> int:
        return int(self.video_frames[np.searchsorted(self.video_ids, entry_id)])

    def _bank_of(self, entry_id: int) -> str:
        return self.bank_names[int(self.entry_banks[np.searchsorted(self.entry_ids, entry_id)])]


__all__ = ["ScanIndex"]
