"""Cryptographic digests of exact bytes."""

from __future__ import annotations

import hashlib


def md5_hex(data: bytes) -> str:
    """MD5 of ``data`` as 32 lowercase hex digits (exact-copy matching, as StopNCII does for video)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()
