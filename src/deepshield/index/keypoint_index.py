"""Which stored keypoint sets share the most descriptors with a query's: candidates for placement.

Every descriptor of every stored set (``signals.keypoints``: 256-bit ORB descriptors) sits in one
faiss brute-force binary index. A query's descriptors each vote for the set that holds their
nearest stored descriptor, when it is within ``MATCH_MAX_BITS``; the sets with the most votes
are the candidates, which ``signals.keypoints.locate`` then checks geometrically. Votes alone
decide nothing: unrelated images collect a few, so the geometry and the signed regions do.

Up to ``FLAT_MAX_DESCRIPTORS`` (about 1,500 labels) a query of 400 descriptors scans every
stored one (faiss's brute-force binary index: exact). A scan grows with the repository (about a
second at 10,000 labels), so past that the index becomes an inverted file (faiss's
``IndexBinaryIVF``: ``IVF_LISTS`` lists trained once on a sample of the stored descriptors, each
query scanning the ``IVF_PROBES`` nearest): about 25 times less work, at the cost of missing some
nearest descriptors (about 30 % of those 30 bits away, measured on random descriptors). A missed
descriptor is a lost vote, not a lost label: a crop's own label collects tens of votes, and the
fit that follows compares the copy with the whole stored set. docs/BENCHMARKS.md gives the cost
per lookup by repository size. Not thread-safe: callers serialise adds and searches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import faiss
import numpy as np

from deepshield.signals.keypoints import DESCRIPTOR_BYTES, MATCH_MAX_BITS

FLAT_MAX_DESCRIPTORS = 250_000
IVF_LISTS = 1024
IVF_PROBES = 16
#: Training takes this many stored descriptors per list (faiss asks for at least 39).
_TRAINING_PER_LIST = 40
_MIN_LISTS = 16


class KeypointIndex:
    """Descriptors of many keypoint sets, each set named by a caller-chosen integer id.

    ``flat_max``: how many descriptors are scanned exhaustively before the index becomes an
    inverted file (``FLAT_MAX_DESCRIPTORS``; tests and benchmarks set it lower).
    """

    def __init__(self, flat_max: int = FLAT_MAX_DESCRIPTORS) -> None:
        self._flat_max = flat_max
        self._index: faiss.IndexBinary = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
        self._quantizer: faiss.IndexBinaryFlat | None = None  # the inverted file's, once it is one
        self._owners = np.zeros(0, np.int64)  # the set id of each stored descriptor, in order
        self._pending: list[tuple[int, np.ndarray]] = []

    @property
    def inverted(self) -> bool:
        """Whether the index has become an inverted file (see the module)."""
        self._flush()
        return isinstance(self._index, faiss.IndexBinaryIVF)

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
        self._pending = []
        flat = isinstance(self._index, faiss.IndexBinaryFlat)
        if flat and self._index.ntotal + len(stacked) > self._flat_max:
            held = faiss.vector_to_array(self._index.xb).reshape(-1, DESCRIPTOR_BYTES)
            self._index, self._quantizer = self._inverted(np.concatenate([held, stacked]))
        else:
            self._index.add(stacked)
        self._owners = np.concatenate([self._owners, owners])

    @staticmethod
    def _inverted(descriptors: np.ndarray) -> tuple[faiss.IndexBinaryIVF, faiss.IndexBinaryFlat]:
        """An inverted file holding ``descriptors``, trained on a fixed sample of them, and its
        quantizer (the caller keeps it alive as long as the file)."""
        lists = int(min(IVF_LISTS, max(_MIN_LISTS, 2 ** int(np.log2(max(1, len(descriptors)) / 64)))))
        quantizer = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
        index = faiss.IndexBinaryIVF(quantizer, DESCRIPTOR_BYTES * 8, lists)
        sample = np.random.default_rng(0).choice(len(descriptors), min(len(descriptors),
                                                                       lists * _TRAINING_PER_LIST),
                                                 replace=False)
        index.train(np.ascontiguousarray(descriptors[np.sort(sample)]))
        index.add(descriptors)
        index.nprobe = min(IVF_PROBES, lists)
        return index, quantizer

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
