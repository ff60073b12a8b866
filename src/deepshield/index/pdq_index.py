"""Exact PDQ search at a Hamming threshold, with incremental add and remove.

Backed by faiss's brute-force binary index, which is exact: every stored hash within
the threshold is returned. Approximate indexes are avoided on purpose, because a
missed match is a victim's image left online.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from deepshield.signals.pdq import PDQ_BITS, pdq_hex_to_bytes

_BYTES = PDQ_BITS // 8


@dataclass(frozen=True)
class PdqHit:
    query_position: int  # which of the queries this hit answers
    item_id: int
    distance: int


def _pack(hex_hashes: Sequence[str]) -> np.ndarray:
    if not hex_hashes:
        return np.empty((0, _BYTES), dtype=np.uint8)
    raw = b"".join(pdq_hex_to_bytes(value) for value in hex_hashes)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(hex_hashes), _BYTES)


class PdqIndex:
    """A set of (item id, PDQ hash) pairs searchable by Hamming distance.

    Item ids are caller-chosen 64-bit integers and must be unique within the index.
    Not thread-safe: callers serialise writes against searches.
    """

    def __init__(self) -> None:
        self._index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(PDQ_BITS))
        self._ids: set[int] = set()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: int) -> bool:
        return item_id in self._ids

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Add ``(item_id, pdq_hex)`` pairs; an id already present is replaced."""
        pairs = list(items)
        if not pairs:
            return
        ids = [item_id for item_id, _ in pairs]
        self.remove(item_id for item_id in ids if item_id in self._ids)
        self._index.add_with_ids(_pack([value for _, value in pairs]), np.asarray(ids, dtype=np.int64))
        self._ids.update(ids)

    def remove(self, item_ids: Iterable[int]) -> None:
        """Remove items by id; ids not present are ignored."""
        present = [item_id for item_id in item_ids if item_id in self._ids]
        if not present:
            return
        self._index.remove_ids(np.asarray(present, dtype=np.int64))
        self._ids.difference_update(present)

    def search(self, query_hexes: Sequence[str], threshold: int) -> list[PdqHit]:
        """Every stored hash within ``threshold`` bits (inclusive) of each query."""
        if not query_hexes or not self._ids:
            return []
        # faiss range search keeps distances strictly below the radius.
        limits, distances, labels = self._index.range_search(_pack(query_hexes), threshold + 1)
        hits: list[PdqHit] = []
        for position in range(len(query_hexes)):
            for k in range(limits[position], limits[position + 1]):
                hits.append(PdqHit(position, int(labels[k]), int(distances[k])))
        return hits
