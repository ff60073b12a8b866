"""Exact-value lookup for cryptographic digests (MD5, SHA-256)."""

from __future__ import annotations

from collections.abc import Iterable


class ExactIndex:
    """Maps a digest value to the item ids that hold it."""

    def __init__(self) -> None:
        self._by_value: dict[str, set[int]] = {}
        self._value_of: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._value_of)

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        for item_id, value in items:
            self.remove([item_id])
            self._by_value.setdefault(value, set()).add(item_id)
            self._value_of[item_id] = value

    def remove(self, item_ids: Iterable[int]) -> None:
        for item_id in item_ids:
            value = self._value_of.pop(item_id, None)
            if value is None:
                continue
            holders = self._by_value[value]
            holders.discard(item_id)
            if not holders:
                del self._by_value[value]

    def lookup(self, value: str) -> set[int]:
        return set(self._by_value.get(value, ()))
