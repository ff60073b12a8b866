"""Victims' PINs: 8 random digits, stored only through scrypt, checked in constant time.

A PIN has 10**8 values, so its hash could be brute-forced offline: scrypt makes each guess
cost tens of milliseconds and megabytes of memory, and the online check locks a case after a
few failures (``services.victim_access``). The stored form names its parameters,
``$scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised later while
old hashes still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PIN_DIGITS = 8
_R, _P = 8, 1
_SALT_BYTES, _HASH_BYTES = 16, 32
#: Stored hashes with a cost outside these bounds are refused rather than computed: a
#: tampered row must not make a login take minutes or gigabytes.
_MIN_LOG2_N, _MAX_LOG2_N = 10, 20


def new_pin() -> str:
    """A fresh random PIN: 8 digits (leading zeros kept)."""
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def _scrypt(pin: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 2 ** log2_n
    # OpenSSL's default memory cap (32 MiB) is exactly scrypt's need at n=2**15: allow twice it.
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES,
                          maxmem=2 * 128 * r * n + 1024 * 1024)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def hash_pin(pin: str, log2_n: int) -> str:
    """The stored form of ``pin``: ``$scrypt$<log2 n>$8$1$<salt>$<hash>`` with a random salt."""
    if not _MIN_LOG2_N <= log2_n <= _MAX_LOG2_N:
        raise ValueError(f"scrypt log2(n) must be between {_MIN_LOG2_N} and {_MAX_LOG2_N}")
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(pin, salt, log2_n, _R, _P)
    return f"$scrypt${log2_n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` is the PIN behind ``stored``. A malformed ``stored`` never verifies."""
    parts = stored.split("$") if isinstance(stored, str) else []
    if len(parts) != 7 or parts[0] != "" or parts[1] != "scrypt":
        return False
    try:
        log2_n, r, p = int(parts[2]), int(parts[3]), int(parts[4])
        salt, expected = _unb64(parts[5]), _unb64(parts[6])
    except ValueError:
        return False
    if not _MIN_LOG2_N <= log2_n <= _MAX_LOG2_N or r != _R or p != _P or not expected:
        return False
    if not isinstance(pin, str) or len(pin) > 64:
        pin = ""  # still run the KDF: the time taken must not tell a long PIN from a wrong one
    return hmac.compare_digest(_scrypt(pin, salt, log2_n, r, p), expected)


def dummy_hash(log2_n: int) -> str:
    """A stored-form hash of no PIN anyone holds: checking against it costs what a real check
    costs, so an unknown case number answers no faster than a known one."""
    salt, digest = bytes(_SALT_BYTES), bytes(_HASH_BYTES)
    return f"$scrypt${log2_n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def looks_like_pin(text: object) -> bool:
    """Whether ``text`` has a PIN's shape (8 digits); anything else is checked anyway."""
    return isinstance(text, str) and len(text) == PIN_DIGITS and text.isdigit()
