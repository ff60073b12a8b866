"""Exact digest lookup (MD5, SHA-256) over plain sorted arrays.

:class:`~deepshield.index.exact_index.ExactIndex` is a dict: right for a live index that
takes adds and removals one by one, but a million digests cost a Python dict of a million
strings in every process that holds them. Here the digests are two numpy arrays (raw bytes
and item ids) sorted by the digest's first 8 bytes, so many worker processes can read one copy
(a memory map, or Ray's object store) without building anything. Read-only once built.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class SortedDigests:
    """``(item id, hex digest)`` pairs of one digest width, looked up by binary search."""

    def __init__(self, prefixes: np.ndarray, digests: np.ndarray, ids: np.ndarray) -> None:
        if not (len(prefixes) == len(digests) == len(ids)):
            raise ValueError("the digest arrays do not agree with each other")
        self.prefixes, self.digests, self.ids = prefixes, digests, ids

    @classmethod
    def build(cls, item_ids: Sequence[int], hex_digests: Sequence[str], width: int) -> SortedDigests:
        """Sorted arrays of ``hex_digests`` (each ``width`` bytes when decoded) and their ids;
        raises ``ValueError`` for a value that is not hex of that width."""
        raw = np.frombuffer(b"".join(_digest_bytes(value, width) for value in hex_digests),
                            dtype=np.uint8).reshape(len(hex_digests), width)
        prefixes = _prefixes(raw)
        order = np.argsort(prefixes, kind="stable")
        return cls(np.ascontiguousarray(prefixes[order]), np.ascontiguousarray(raw[order]),
                   np.asarray(item_ids, dtype=np.int64)[order])

    def __len__(self) -> int:
        return len(self.ids)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"prefixes": self.prefixes, "digests": self.digests, "ids": self.ids}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SortedDigests:
        return cls(arrays["prefixes"], arrays["digests"], arrays["ids"])

    def lookup(self, hex_digest: str) -> list[int]:
        """Ids of every item holding ``hex_digest`` (case-insensitive), ascending; [] for a
        value of another width or not hex."""
        width = self.digests.shape[1] if self.digests.ndim == 2 else 0
        try:
            raw = np.frombuffer(_digest_bytes(hex_digest, width), dtype=np.uint8)
        except ValueError:
            return []
        prefix = _prefixes(raw[None, :])[0]
        low = int(np.searchsorted(self.prefixes, prefix, side="left"))
        high = int(np.searchsorted(self.prefixes, prefix, side="right"))
        if low == high:
            return []
        same = (self.digests[low:high] == raw).all(axis=1)
        return sorted(int(item_id) for item_id in self.ids[low:high][same])


def _digest_bytes(value: str, width: int) -> bytes:
    raw = bytes.fromhex(value)
    if len(raw) != width or width < 8:
        raise ValueError(f"a {width}-byte digest was expected, not {len(raw)} bytes")
    return raw


def _prefixes(raw: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each row as one big-endian unsigned number."""
    return np.ascontiguousarray(raw[:, :8]).view(">u8").reshape(-1).astype(np.uint64)


__all__ = ["SortedDigests"]
