"""Which stored keypoint sets share the most descriptors with a query's: candidates for placement.

Every descriptor of every stored set (``signals.keypoints``: 256-bit ORB descriptors) sits in one
faiss brute-force binary index. A query's descriptors each vote for the set that holds their
nearest stored descriptor, when it is within ``MATCH_MAX_BITS``; the sets with the most votes
are the candidates, which ``signals.keypoints.locate`` then checks geometrically. Votes alone
decide nothing: unrelated images collect a few, so the geometry and the signed regions do.

Exact and simple: a query of 400 descriptors scans every stored one (docs/BENCHMARKS.md gives
the cost per lookup by repository size). Not thread-safe: callers serialise adds and searches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import faiss
import numpy as np

from deepshield.signals.keypoints import DESCRIPTOR_BYTES, MATCH_MAX_BITS


class KeypointIndex:
    """Descriptors of many keypoint sets, each set named by a caller-chosen integer id."""

    def __init__(self) -> None:
        self._index = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
        self._owners = np.zeros(0, np.int64)  # the set id of each stored descriptor, in order
        self._pending: list[tuple[int, np.ndarray]] = []

    def __len__(self) -> int:
        return int(self._index.ntotal) + sum(len(d) for _, d in self._pending)

    def add(self, sets: Iterable[tuple[int, np.ndarray]]) -> None:
        """Add (set id, n × 32 uint8 descriptors) pairs."""
        for set_id, descriptors in sets:
            if len(descriptors):
                self._pending.append((set_id, np.ascontiguousarray(descriptors, dtype=np.uint8)))

    def _flush(self) -> None:
        if not self._pending:
            return
        stacked = np.concatenate([d for _, d in self._pending])
        owners = np.concatenate([np.full(len(d), set_id, np.int64) for set_id, d in self._pending])
        self._index.add(stacked)
        self._owners = np.concatenate([self._owners, owners])
        self._pending = []

    def candidates(self, descriptors: np.ndarray, limit: int, min_votes: int) -> list[tuple[int, int]]:
        """Up to ``limit`` (set id, votes) with at least ``min_votes`` votes, most votes first."""
        self._flush()
        if not len(descriptors) or self._index.ntotal == 0:
            return []
        distances, positions = self._index.search(np.ascontiguousarray(descriptors, dtype=np.uint8), 1)
        near = (positions[:, 0] >= 0) & (distances[:, 0] <= MATCH_MAX_BITS)
        votes = Counter(int(owner) for owner in self._owners[positions[near, 0]])
        ranked = sorted(votes.items(), key=lambda item: (-item[1], item[0]))
        return [(set_id, count) for set_id, count in ranked if count >= min_votes][:limit]
