"""Exact PDQ range search at platform scale: multi-index hashing over 12 chunks of 21 bits.

**Why it is exact.** 252 of the 256 bits are split into 12 chunks of 21 bits. If two
hashes differ in at most ``t`` bits, then at least one chunk differs in at most ``t // 12``
bits (pigeonhole: 12 chunks each differing in ``t // 12 + 1`` or more bits would add up to
more than ``t``). So probing, in each of 12 tables keyed by one chunk, the query's chunk and
its neighbours within ``t // 12`` bits (232 keys per table at the usual threshold of 31)
reaches every stored hash within ``t``. Each candidate is then checked by its full Hamming
distance over all 256 bits. Nothing is approximated: a missed match is a victim's image left
online. (Thresholds above 47 would need too many probes; they fall back to a full scan.)

Why 12 × 21: at ten million hashes each 21-bit bucket holds about 5 hashes, so a lookup
checks about 13,000 candidates, where 16 chunks of 16 bits would check 42,000 (fetching
their hashes from random places in memory is most of a lookup's time); and the 12 row
tables take 48 bytes per hash instead of 64.

**Layout.** A *base* holds most hashes in flat numpy arrays that can be saved to disk and
memory-mapped back (fast start; worker processes share one copy through the page cache):

- ``codes`` (n × 4 uint64): the hashes, rows in ascending item-id order;
- ``ids`` (n uint32, or int64 for ids past 32 bits): the item ids, ascending, so an id's row
  is found by binary search;
- ``order`` (12 × n uint32): per table, the rows sorted by that table's chunk;
- ``starts`` (12 × 2²¹+1 uint32): where each chunk value's rows begin in ``order``;
- ``alive`` (n bool): removed items are tombstoned here, never searched again.

A base of fewer than ``TABLE_MIN_HASHES`` hashes has no tables: it is scanned in full, which
takes under a millisecond and spares the 100 MB the bucket starts take even when empty.

The base is searched by the C extension ``_pdq_search_native`` (its probes run as flat loops
of prefetched loads, since nearly every probe misses the caches: 0.07-0.10 ms at a million
hashes, against 0.32-0.34 ms for the numpy search that serves where it was not built, with the
same answers in the same order).

Hashes added since the base was built sit in a small exact brute-force *delta* (faiss
``IndexBinaryFlat``), so an add is searchable at once and a removal takes effect at once;
:meth:`PdqMultiIndex.compact` folds the delta and the tombstones into a new base.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from deepshield.index.pdq_index import PdqHit
from deepshield.signals.pdq import PDQ_BITS, pdq_hex_to_bytes

try:  # built at install (setup.py); without a C compiler, the numpy search gives the same answers
    from deepshield.index import _pdq_search_native as _search_native
except ImportError:  # pragma: no cover - depends on the install
    _search_native = None

#: Which base search is in use: ``"native"`` (the C extension) or ``"numpy"``.
SEARCH_IMPLEMENTATION: Literal["native", "numpy"] = "native" if _search_native is not None else "numpy"

CHUNKS = 12
CHUNK_BITS = 21
_KEYS = 1 << CHUNK_BITS
_CHUNK_MASK = np.uint64(_KEYS - 1)
#: Above this chunk radius (thresholds over 47) probing costs more than a full scan.
_MAX_RADIUS = 3
#: Below this many hashes the base is scanned in full (under a millisecond), without tables.
TABLE_MIN_HASHES = 100_000
_WORDS = PDQ_BITS // 64
#: The delta is folded into the base by :meth:`PdqMultiIndex.maybe_compact` once it holds this
#: many hashes (or a fiftieth of the base, if more): brute force stays well under a millisecond.
DELTA_LIMIT = 50_000
_FORMAT = "deepshield-pdq-multi-index/2"


@cache
def _probe_masks(radius: int) -> np.ndarray:
    """Every 16-bit mask with at most ``radius`` bits set (the neighbours probed per table)."""
    masks = [0]
    for k in range(1, radius + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(CHUNK_BITS), k)]
    return np.asarray(masks, dtype=np.int64)


def pack_hashes(hex_hashes: Sequence[str]) -> np.ndarray:
    """PDQ hex strings as an (n, 32) uint8 array (validates each one)."""
    if not hex_hashes:
        return np.empty((0, PDQ_BITS // 8), dtype=np.uint8)
    raw = b"".join(pdq_hex_to_bytes(value) for value in hex_hashes)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(hex_hashes), PDQ_BITS // 8)


_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[np.frombuffer(b"0123456789", dtype=np.uint8)] = np.arange(10)
_NIBBLE[np.frombuffer(b"abcdef", dtype=np.uint8)] = np.arange(10, 16)
_NIBBLE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16)


def pack_hashes_fast(hex_hashes: Sequence[str]) -> np.ndarray:
    """Like :func:`pack_hashes`, vectorised for millions of hashes (e.g. loading a bank).

    Falls back to the per-hash parser, and its error message, when any value is malformed.
    """
    width = PDQ_BITS // 4
    if not hex_hashes or any(len(value) != width for value in hex_hashes):
        return pack_hashes(hex_hashes)
    try:
        text = np.frombuffer("".join(hex_hashes).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return pack_hashes(hex_hashes)
    nibbles = _NIBBLE[text].reshape(len(hex_hashes), PDQ_BITS // 8, 2)
    if (nibbles == 255).any():
        return pack_hashes(hex_hashes)
    return (nibbles[..., 0] << 4) | nibbles[..., 1]


def _as_words(packed: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(packed, dtype=np.uint8).view(np.uint64).reshape(-1, _WORDS)


def chunk_keys(words: np.ndarray) -> np.ndarray:
    """The 12 chunk values (n × 12 uint32) of hashes given as (n × 4) uint64 words.

    Chunk ``k`` is bits ``21k .. 21k+20`` of the hash read as one 256-bit little-endian
    number (the last 4 bits are in no chunk; the full-distance check still counts them).
    """
    words = np.asarray(words, dtype=np.uint64).reshape(-1, _WORDS)
    keys = np.empty((len(words), CHUNKS), dtype=np.uint32)
    for chunk in range(CHUNKS):
        word, offset = divmod(chunk * CHUNK_BITS, 64)
        value = words[:, word] >> np.uint64(offset)
        if offset + CHUNK_BITS > 64:
            value = value | (words[:, word + 1] << np.uint64(64 - offset))
        keys[:, chunk] = value & _CHUNK_MASK
    return keys


def _stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for 21-bit keys, as two 16-bit radix passes (O(n))."""
    low = (keys & 0x7FF).astype(np.uint16)
    first = np.argsort(low, kind="stable")
    high = (keys[first] >> 11).astype(np.uint16)
    return first[np.argsort(high, kind="stable")]


def _release_freed_memory() -> None:
    """Hand the build's freed temporaries back to the system (glibc keeps them otherwise)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _Base:
    """The immutable bulk of the index (apart from its tombstones)."""

    def __init__(self, codes: np.ndarray, ids: np.ndarray, order: np.ndarray, starts: np.ndarray,
                 alive: np.ndarray) -> None:
        self.codes, self.ids, self.order, self.starts, self.alive = codes, ids, order, starts, alive
        self.tabled = order.shape[1] > 0  # small bases are scanned, not tabled
        self.live = int(np.count_nonzero(alive))

    @classmethod
    def build(cls, ids: np.ndarray, words: np.ndarray) -> _Base:
        """A base over ``ids`` (int64, unique) and their hashes ((n, 4) uint64)."""
        by_id = np.argsort(ids, kind="stable")
        # Ids that fit in 32 bits (database row ids do) are kept in 4 bytes, not 8.
        small = len(ids) == 0 or (int(ids.min()) >= 0 and int(ids.max()) < 1 << 32)
        ids = np.ascontiguousarray(ids[by_id], dtype=np.uint32 if small else np.int64)
        codes = np.ascontiguousarray(words[by_id])
        count = len(ids)
        if count >= 1 << 32:
            raise ValueError("a base holds at most 2^32 - 1 hashes")
        if count < TABLE_MIN_HASHES:
            # A full scan of this few hashes is as fast as the tables, which cost 100 MB even empty.
            empty = np.empty((CHUNKS, 0), dtype=np.uint32)
            return cls(codes, ids, empty, empty, np.ones(count, dtype=bool))
        chunks = chunk_keys(codes)
        order = np.empty((CHUNKS, count), dtype=np.uint32)
        starts = np.zeros((CHUNKS, _KEYS + 1), dtype=np.uint32)
        for table in range(CHUNKS):
            keys = chunks[:, table]
            order[table] = _stable_order(keys)
            starts[table, 1:] = np.cumsum(np.bincount(keys, minlength=_KEYS))
        del chunks
        _release_freed_memory()
        return cls(codes, ids, order, starts, np.ones(count, dtype=bool))

    def rows_of(self, item_ids: np.ndarray) -> np.ndarray:
        """Rows of the given ids that are in the base and alive."""
        if not len(self.ids) or not len(item_ids):
            return np.empty(0, dtype=np.int64)
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if self.ids.dtype == np.uint32:  # ids outside 32 bits cannot be here
            item_ids = item_ids[(item_ids >= 0) & (item_ids < 1 << 32)]
        rows = np.searchsorted(self.ids, item_ids.astype(self.ids.dtype))
        inside = rows < len(self.ids)
        rows, item_ids = rows[inside], item_ids[inside]
        rows = rows[self.ids[rows] == item_ids]
        return rows[self.alive[rows]]

    def search(self, query: np.ndarray, threshold: int) -> list[tuple[int, int]]:
        """(item id, distance) of each live hash within ``threshold`` of one query ((4,) uint64),
        by ascending id: in C where the extension was built, else with numpy (same answer)."""
        if not self.live:
            return []
        if _search_native is not None:
            return _search_native.search(self.codes, self.ids, self.order, self.starts, self.alive,
                                         np.ascontiguousarray(query, dtype=np.uint64), threshold)
        ids, distances = self.search_numpy(query, threshold)
        return list(zip(ids.tolist(), distances.tolist(), strict=True))

    def search_numpy(self, query: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` in numpy: (item ids, distances) arrays, by ascending id."""
        if not self.live:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        radius = threshold // CHUNKS
        if radius > _MAX_RADIUS or not self.tabled:
            rows = np.flatnonzero(self.alive)
        else:
            keys = chunk_keys(query[None, :])[0].astype(np.int64)
            probes = keys[:, None] ^ _probe_masks(radius)[None, :]  # (tables, probes)
            tables = np.arange(CHUNKS)[:, None]
            lows = self.starts[tables, probes].ravel().astype(np.int64)
            lengths = self.starts[tables, probes + 1].ravel().astype(np.int64) - lows
            total = int(lengths.sum())
            if not total:
                return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
            # Positions in the flattened (tables × n) order array of every probed bucket's rows.
            count = self.order.shape[1]
            firsts = lows + np.repeat(np.arange(CHUNKS, dtype=np.int64) * count, probes.shape[1])
            nonempty = lengths > 0
            firsts, lengths = firsts[nonempty], lengths[nonempty]
            ends = np.cumsum(lengths)
            positions = np.arange(total) + np.repeat(firsts - (ends - lengths), lengths)
            rows = self.order.reshape(-1)[positions]
        distances = np.bitwise_count(self.codes[rows] ^ query).sum(axis=1, dtype=np.int64)
        close = distances <= threshold
        rows, distances = rows[close], distances[close]
        rows, first = np.unique(rows, return_index=True)  # a row can be reached via several chunks
        distances = distances[first]
        live = self.alive[rows]
        return self.ids[rows[live]].astype(np.int64), distances[live]


class PdqMultiIndex:
    """A set of (item id, PDQ hash) pairs with exact Hamming range search; scales to 10⁷+.

    Same interface as :class:`~deepshield.index.pdq_index.PdqIndex` (add, remove, search,
    ``len``, ``in``), plus bulk loading, compaction, and save/load of the base.
    Not thread-safe: callers serialise writes against searches.
    """

    def __init__(self) -> None:
        self._base = _Base.build(np.empty(0, dtype=np.int64), np.empty((0, _WORDS), dtype=np.uint64))
        self._delta = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(PDQ_BITS))
        self._delta_ids: set[int] = set()

    # ------------------------------------------------------------------ size and membership

    def __len__(self) -> int:
        return self._base.live + len(self._delta_ids)

    def __contains__(self, item_id: int) -> bool:
        return item_id in self._delta_ids or bool(len(self._base.rows_of(np.asarray([item_id]))))

    @property
    def delta_size(self) -> int:
        return len(self._delta_ids)

    def memory_bytes(self) -> int:
        """Bytes held by the base's arrays (mapped or in memory) and the delta."""
        base = self._base
        arrays = (base.codes, base.ids, base.order, base.starts, base.alive)
        return sum(a.nbytes for a in arrays) + len(self._delta_ids) * (PDQ_BITS // 8 + 8)

    # ------------------------------------------------------------------ writes

    def bulk_load(self, item_ids: np.ndarray, packed: np.ndarray) -> None:
        """Replace the whole index with these items: ids (int64, unique) and (n, 32) uint8 hashes."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if len(np.unique(item_ids)) != len(item_ids):
            raise ValueError("item ids must be unique")
        self._base = _Base.build(item_ids, _as_words(packed))
        self._delta.reset()
        self._delta_ids.clear()

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Add ``(item_id, pdq_hex)`` pairs; an id already present is replaced."""
        pairs = list(items)
        if not pairs:
            return
        ids = [item_id for item_id, _ in pairs]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique within one add")
        packed = pack_hashes([value for _, value in pairs])
        self.remove(ids)
        self._delta.add_with_ids(packed, np.asarray(ids, dtype=np.int64))
        self._delta_ids.update(ids)

    def remove(self, item_ids: Iterable[int]) -> None:
        """Remove items by id; ids not present are ignored."""
        wanted = np.asarray(list(item_ids), dtype=np.int64)
        if not len(wanted):
            return
        in_delta = [int(i) for i in wanted if int(i) in self._delta_ids]
        if in_delta:
            self._delta.remove_ids(np.asarray(in_delta, dtype=np.int64))
            self._delta_ids.difference_update(in_delta)
        rows = self._base.rows_of(np.unique(wanted))
        if len(rows):
            if not self._base.alive.flags.writeable:  # a memory-mapped base: copy on first write
                self._base.alive = self._base.alive.copy()
            self._base.alive[rows] = False
            self._base.live -= len(rows)

    def compact(self) -> None:
        """Fold the delta and the tombstones into a new base (a full rebuild of the tables)."""
        base = self._base
        keep = np.flatnonzero(base.alive)
        delta_ids = np.asarray(sorted(self._delta_ids), dtype=np.int64)
        delta_codes = np.empty((len(delta_ids), PDQ_BITS // 8), dtype=np.uint8)
        for row, item_id in enumerate(delta_ids):
            delta_codes[row] = self._delta.reconstruct(int(item_id))
        ids = np.concatenate([base.ids[keep].astype(np.int64), delta_ids])
        words = np.concatenate([base.codes[keep], _as_words(delta_codes)])
        self._base = _Base.build(ids, words)
        self._delta.reset()
        self._delta_ids.clear()

    def maybe_compact(self) -> bool:
        """Compact when the delta has outgrown :data:`DELTA_LIMIT`; returns whether it did."""
        if len(self._delta_ids) < max(DELTA_LIMIT, self._base.live // 50):
            return False
        self.compact()
        return True

    # ------------------------------------------------------------------ reads

    def search_packed(self, queries: np.ndarray, threshold: int) -> list[PdqHit]:
        """Every stored hash within ``threshold`` bits (inclusive) of each (n, 32) uint8 query."""
        if not 0 <= threshold < PDQ_BITS:
            raise ValueError(f"threshold must be within 0..{PDQ_BITS - 1}")
        hits: list[PdqHit] = []
        if not len(queries) or not len(self):
            return hits
        words = _as_words(queries)
        for position, query in enumerate(words):
            hits.extend(PdqHit(position, item_id, distance)
                        for item_id, distance in self._base.search(query, threshold))
        if self._delta_ids:
            # faiss range search keeps distances strictly below the radius.
            limits, distances, labels = self._delta.range_search(
                np.ascontiguousarray(queries, dtype=np.uint8), threshold + 1)
            for position in range(len(queries)):
                for k in range(limits[position], limits[position + 1]):
                    hits.append(PdqHit(position, int(labels[k]), int(distances[k])))
        return hits

    def search(self, query_hexes: Sequence[str], threshold: int) -> list[PdqHit]:
        """Every stored hash within ``threshold`` bits (inclusive) of each query."""
        return self.search_packed(pack_hashes(query_hexes), threshold)

    # ------------------------------------------------------------------ plain arrays

    def base_arrays(self) -> dict[str, np.ndarray]:
        """The whole index as plain arrays (after folding in the delta and the tombstones), for
        :meth:`from_arrays` elsewhere: e.g. put once in a shared object store and read by many
        workers without a copy. The arrays are the index's own: do not write to them."""
        if self._delta_ids or self._base.live != len(self._base.ids):
            self.compact()
        base = self._base
        return {"codes": base.codes, "ids": base.ids, "order": base.order, "starts": base.starts}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PdqMultiIndex:
        """An index over :meth:`base_arrays`'s arrays, used as they are (read-only views are
        fine: a search never writes to them, and a removal copies the tombstones first)."""
        count = len(arrays["ids"])
        tabled = count >= TABLE_MIN_HASHES
        if len(arrays["codes"]) != count or \
                arrays["order"].shape != (CHUNKS, count if tabled else 0) or \
                arrays["starts"].shape != (CHUNKS, _KEYS + 1 if tabled else 0):
            raise ValueError("the PDQ index arrays do not agree with each other")
        index = cls()
        index._base = _Base(arrays["codes"], arrays["ids"], arrays["order"], arrays["starts"],
                            np.ones(count, dtype=bool))
        return index

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path, metadata: dict[str, object] | None = None) -> None:
        """Write the base (after folding in the delta) to ``directory``, atomically.

        ``metadata`` (JSON) is kept beside it, e.g. the store's change sequence number the
        snapshot reflects, so a restart can replay only what came after.
        """
        if self._delta_ids or self._base.live != len(self._base.ids):
            self.compact()
        directory = Path(directory)
        # Per-process names: two processes saving at once must not write into each other's files.
        staging = directory.with_name(f"{directory.name}.tmp-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        # The arrays are the hashes in plain form (the tables as much as the codes): private to
        # the owner, like the hash key beside them (docs/HASHES_AT_REST.md).
        staging.mkdir(parents=True, mode=0o700)
        base = self._base
        for name, array in (("codes", base.codes), ("ids", base.ids), ("order", base.order),
                            ("starts", base.starts)):
            descriptor = os.open(staging / f"{name}.npy", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                np.save(handle, array)
                handle.flush()
                os.fsync(handle.fileno())
        info = {"format": _FORMAT, "count": len(base.ids), "metadata": metadata or {}}
        (staging / "index.json").write_text(json.dumps(info))
        staging.chmod(0o700)  # mkdir's mode is masked by the umask
        old = directory.with_name(f"{directory.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = True) -> tuple[PdqMultiIndex, dict[str, object]]:
        """An index from a :meth:`save` directory, memory-mapped by default; and its metadata."""
        directory = Path(directory)
        try:
            info = json.loads((directory / "index.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{directory} is not a saved PDQ index: {exc}") from exc
        if info.get("format") != _FORMAT:
            raise ValueError(f"{directory} holds index format {info.get('format')!r}, not {_FORMAT}")
        mode = "r" if mmap else None
        # Plain ndarray views of the maps: np.memmap's subclass hooks cost microseconds on
        # every slice, and a lookup takes dozens of slices.
        arrays = {name: np.load(directory / f"{name}.npy", mmap_mode=mode).view(np.ndarray)
                  for name in ("codes", "ids", "order", "starts")}
        if len(arrays["ids"]) != int(info["count"]):
            raise ValueError(f"{directory}: the saved arrays do not agree with each other")
        try:
            index = cls.from_arrays(arrays)
        except ValueError as exc:
            raise ValueError(f"{directory}: {exc}") from exc
        return index, dict(info.get("metadata") or {})
