"""Watermark keys: who can make, and who can read, a mark.

A key shapes everything a mark is made of: where its pilot and payload chips sit, their signs,
and how each tile's chips are modulated. Without the key, the public code cannot reproduce a
mark (so it cannot be subtracted) and cannot read one (so there is no free oracle).

* ``PUBLIC_KEY``: DeepShield's published key. Anyone can read its marks offline, and anyone can
  make them too, or subtract them once read: a label anyone can check, at the price of one
  anyone can remove.
* A provider's secret key (``new_key``): only its holder, or the manifest repository that keeps it
  (the Soft Binding Resolution API's ``byContent``), can read or make its marks.

A key's ``key_id`` is public (a digest of the secret, never the secret itself): it tells which key
a mark was read with, so a mark is only ever attributed to its own key's labels.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

KEY_BYTES = 32
PUBLIC_KEY_ID = "public"
_KEY_ID = re.compile(r"^(public|[0-9a-f]{16})$")


@dataclass(frozen=True)
class WatermarkKey:
    key_id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_BYTES:
            raise ValueError(f"a watermark key is {KEY_BYTES} bytes")
        if not isinstance(self.key_id, str) or not _KEY_ID.match(self.key_id):
            raise ValueError("a watermark key id is 'public' or 16 lowercase hex digits")
        if (self.key_id == PUBLIC_KEY_ID) != (self.secret == _PUBLIC_SECRET):
            raise ValueError("the key id 'public' names DeepShield's published key only")
        if self.key_id != PUBLIC_KEY_ID and self.key_id != key_id_of(self.secret):
            raise ValueError("the key id does not belong to this secret")

    @property
    def is_public(self) -> bool:
        return self.key_id == PUBLIC_KEY_ID

    def derive(self, purpose: str) -> int:
        """A 256-bit number for seeding one part of the layout (HMAC-SHA-256 of ``purpose``)."""
        return int.from_bytes(hmac.new(self.secret, purpose.encode(), hashlib.sha256).digest(), "big")


def key_id_of(secret: bytes) -> str:
    """The public name of a secret key: 16 hex digits of a domain-separated SHA-256."""
    return hashlib.sha256(b"deepshield watermark key id\x00" + secret).hexdigest()[:16]


def new_key() -> WatermarkKey:
    """A fresh secret key (256 random bits)."""
    secret = secrets.token_bytes(KEY_BYTES)
    return WatermarkKey(key_id_of(secret), secret)


def key_from_secret(secret: bytes) -> WatermarkKey:
    """The key for stored ``secret`` bytes (the published key's bytes give ``PUBLIC_KEY``)."""
    if secret == _PUBLIC_SECRET:
        return PUBLIC_KEY
    return WatermarkKey(key_id_of(secret), secret)


#: Published on purpose: the bytes of DeepShield's public key (version 2 of the mark).
_PUBLIC_SECRET = hashlib.sha256(b"DeepShield public watermark key, scheme 2").digest()
PUBLIC_KEY = WatermarkKey(PUBLIC_KEY_ID, _PUBLIC_SECRET)
