"""Hash values sealed at rest (docs/HASHES_AT_REST.md).

A stolen database must not tell anyone which images are banked. Every hash value of
``bank_entries`` and ``content_items`` is stored as AES-256-GCM ciphertext, and the
fixed-width ``value_digest`` lookup column holds ``HMAC-SHA256(lookup key, SHA-256(value))``
instead of a plain digest. The keys are derived (HKDF-SHA256) from a 32-byte data key kept
outside the database: a file ``$DEEPSHIELD_HOME/keys/hash-key`` with mode 0600, or data keys
wrapped by a KMS and unwrapped by a ``module:function`` callback
(``DEEPSHIELD_HASH_KEY_CALLBACK``).

The sealing happens in two column types, :class:`SealedText` and :class:`LookupDigest`: the
repositories and services keep reading and writing plain values, and the engine's keyring
(installed by :func:`install_keyring`) seals and opens them. A sealed value reads
``$1$<key id>$<base64(nonce || ciphertext || tag)>``; the plaintext is lower-case hex
packed into its bytes (PDQ, MD5, SHA-256) or UTF-8 text (vPDQ), after a one-byte tag.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator

from deepshield.errors import InvalidRequest, StoreUnavailable
from deepshield.settings import import_callback

KEY_FILE_FORMAT = "deepshield-hash-keys/1"
SEALED_PREFIX = "$1$"
KEY_BYTES = 32
NONCE_BYTES = 12
#: How often a keyring looks at its key file for a new current key (a rotation by another process).
RELOAD_CHECK_S = 1.0
_DIALECT_ATTRIBUTE = "deepshield_hash_keyring"


class HashKeyUnavailable(StoreUnavailable):
    """The hash key is missing, unreadable, too widely readable, or not the one the data needs."""

    code = "hash_key_unavailable"


def plain_digest(value: str) -> str:
    """SHA-256 of a value: what callers pass as ``value_digest``; the store keys it (HMAC)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def key_file_path(home: Path) -> Path:
    return home / "keys" / "hash-key"


def _derive(data_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(data_key)


def _key_id(data_key: bytes) -> str:
    """A short public id of a data key (an HMAC of a constant, not the key)."""
    return hmac.new(data_key, b"deepshield hash key id", hashlib.sha256).hexdigest()[:8]


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM
    lookup_key: bytes


def _make_key(data_key: bytes) -> _Key:
    if len(data_key) != KEY_BYTES:
        raise HashKeyUnavailable(f"a hash data key must be {KEY_BYTES} bytes; got {len(data_key)}")
    return _Key(_key_id(data_key), AESGCM(_derive(data_key, b"deepshield hash encryption")),
                _derive(data_key, b"deepshield hash lookup"))


class HashKeyFile:
    """The key file: ``{"format", "current": key id, "keys": [{"id", "key" | "wrapped"}]}``.

    ``key`` is the base64 data key (a local file, mode 0600); ``wrapped`` is a data key
    wrapped by a KMS, which ``unwrap`` (the callback) turns back into the data key.
    """

    def __init__(self, path: Path, unwrap: Callable[[bytes], bytes] | None = None) -> None:
        self.path = path
        self.unwrap = unwrap

    @classmethod
    def for_home(cls, home: Path, callback: str = "") -> HashKeyFile:
        return cls(key_file_path(home),
                   import_callback(callback, "DEEPSHIELD_HASH_KEY_CALLBACK") if callback else None)

    def exists(self) -> bool:
        return self.path.exists()

    def read_document(self) -> dict[str, Any]:
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            raise HashKeyUnavailable(f"the hash key file {self.path} is missing") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise HashKeyUnavailable(
                f"the hash key file {self.path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                f"make it private: chmod 600 {self.path}")
        try:
            document = json.loads(self.path.read_text("utf-8"))
            current = str(document["current"])
            keys = list(document["keys"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HashKeyUnavailable(f"the hash key file {self.path} cannot be read: {exc}") from None
        if document.get("format") != KEY_FILE_FORMAT or not keys:
            raise HashKeyUnavailable(f"the hash key file {self.path} is not a {KEY_FILE_FORMAT} file")
        if current not in {str(k.get("id")) for k in keys}:
            raise HashKeyUnavailable(f"the hash key file {self.path} names a current key it lacks")
        return dict(document)

    def _data_key(self, record: dict[str, Any]) -> bytes:
        try:
            if "wrapped" in record:
                if self.unwrap is None:
                    raise HashKeyUnavailable(
                        f"key {record.get('id')} in {self.path} is wrapped by a KMS: set "
                        "DEEPSHIELD_HASH_KEY_CALLBACK to the 'module:function' that unwraps it")
                try:
                    return bytes(self.unwrap(base64.b64decode(record["wrapped"], validate=True)))
                except HashKeyUnavailable:
                    raise
                except Exception as exc:  # a KMS failure of any kind: say so, do not crash
                    raise HashKeyUnavailable(
                        f"the hash key callback failed to unwrap key {record.get('id')}: {exc}") from None
            return base64.b64decode(record["key"], validate=True)
        except (KeyError, ValueError, TypeError) as exc:
            raise HashKeyUnavailable(f"key {record.get('id')} in {self.path} is malformed: {exc}") from None

    def load(self) -> HashKeyring:
        document = self.read_document()
        keys: dict[str, _Key] = {}
        for record in document["keys"]:
            key = _make_key(self._data_key(record))
            if key.key_id != str(record.get("id")):
                raise HashKeyUnavailable(
                    f"key {record.get('id')} in {self.path} is not the key of that id "
                    "(a wrong or damaged key)")
            keys[key.key_id] = key
        return HashKeyring(keys, str(document["current"]), source=self)

    def write_document(self, document: dict[str, Any], *, exclusive: bool = False) -> None:
        """Write atomically, mode 0600 from the start (the folder 0700). ``exclusive``: only
        if there is no key file yet (``FileExistsError`` otherwise), for first starts racing."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                os.link(temporary, self.path)
                temporary.unlink()
            else:
                os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def add_key(self, *, wrapped: bytes | None = None) -> str:
        """Add a new data key (random, or a KMS-wrapped one) and make it current; its id."""
        if wrapped is not None:
            if self.unwrap is None:
                raise InvalidRequest("a wrapped key needs DEEPSHIELD_HASH_KEY_CALLBACK to unwrap it")
            record: dict[str, Any] = {"wrapped": base64.b64encode(wrapped).decode("ascii")}
            key_id = _make_key(self._data_key(record)).key_id
        else:
            if self.unwrap is not None:
                raise InvalidRequest("with DEEPSHIELD_HASH_KEY_CALLBACK set, give the new key wrapped "
                                     "by the KMS (--wrapped-key FILE)")
            data_key = secrets.token_bytes(KEY_BYTES)
            record = {"key": base64.b64encode(data_key).decode("ascii")}
            key_id = _key_id(data_key)
        record = {"id": key_id, **record}
        if self.exists():
            document = self.read_document()
            keys = [k for k in document["keys"] if str(k.get("id")) != key_id] + [record]
            self.write_document({"format": KEY_FILE_FORMAT, "current": key_id, "keys": keys})
        else:
            self.write_document({"format": KEY_FILE_FORMAT, "current": key_id, "keys": [record]},
                                exclusive=True)
        return key_id

    def remove_keys_except(self, keep: str) -> list[str]:
        """Drop every key but ``keep`` (after a finished rotation); the ids removed."""
        document = self.read_document()
        removed = [str(k["id"]) for k in document["keys"] if str(k.get("id")) != keep]
        document["keys"] = [k for k in document["keys"] if str(k.get("id")) == keep]
        document["current"] = keep
        self.write_document(document)
        return removed

    def create(self) -> HashKeyring:
        """A first, random data key (local key files only)."""
        if self.unwrap is not None:
            raise HashKeyUnavailable(
                f"DEEPSHIELD_HASH_KEY_CALLBACK is set but {self.path} holds no wrapped key yet: install "
                "one with `deepshield keys rotate-hash-key --wrapped-key FILE`")
        data_key = secrets.token_bytes(KEY_BYTES)
        record = {"id": _key_id(data_key), "key": base64.b64encode(data_key).decode("ascii")}
        # Another process starting at the same time may make it first: then use theirs.
        with contextlib.suppress(FileExistsError):
            self.write_document({"format": KEY_FILE_FORMAT, "current": record["id"], "keys": [record]},
                                exclusive=True)
        return self.load()


class HashKeyring:
    """The data keys of one installation: seals with the current one, opens with any."""

    def __init__(self, keys: dict[str, _Key], current: str, *, source: HashKeyFile | None = None) -> None:
        self._keys = keys
        self._current = keys[current]
        self._source = source
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._file_stamp = self._stamp()

    @classmethod
    def from_data_key(cls, data_key: bytes) -> HashKeyring:
        key = _make_key(data_key)
        return cls({key.key_id: key}, key.key_id)

    @property
    def current_id(self) -> str:
        self._maybe_reload()
        return self._current.key_id

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    # -- the file may change under a running process (a rotation) ----------------------------
    def _stamp(self) -> tuple[int, int] | None:
        if self._source is None:
            return None
        try:
            info = self._source.path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_ino)

    def reload(self) -> None:
        """Read the key file again (a rotation by another process added a key)."""
        if self._source is None:
            return
        fresh = self._source.load()
        with self._lock:
            self._keys = {**self._keys, **fresh._keys}
            self._current = fresh._current
            self._file_stamp = fresh._file_stamp

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self._source is None or now - self._checked_at < RELOAD_CHECK_S:
            return
        self._checked_at = now
        stamp = self._stamp()
        if stamp is not None and stamp != self._file_stamp:
            self.reload()

    def _key(self, key_id: str) -> _Key:
        key = self._keys.get(key_id)
        if key is None:
            self.reload()
            key = self._keys.get(key_id)
        if key is None:
            where = f" in {self._source.path}" if self._source is not None else ""
            raise HashKeyUnavailable(
                f"hash values are sealed under key {key_id}, which is not{where}: restore the key "
                f"file that holds it (keys here: {', '.join(self._keys)})")
        return key

    # -- values ------------------------------------------------------------------------------
    def seal(self, value: str, purpose: bytes) -> str:
        self._maybe_reload()
        key = self._current
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + key.aead.encrypt(nonce, _pack(value), purpose)
        return f"{SEALED_PREFIX}{key.key_id}${binascii.b2a_base64(sealed, newline=False).decode('ascii')}"

    def open(self, stored: str, purpose: bytes) -> str:
        if not stored.startswith(SEALED_PREFIX):
            return stored  # written around the store (raw SQL); the next rotation seals it
        key_id, body = stored[3:11], stored[12:]  # "$1$" + 8-character key id + "$"
        key = self._keys.get(key_id) or self._key(key_id)
        try:
            sealed = binascii.a2b_base64(body, strict_mode=True)
            plain = key.aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], purpose)
            return plain[1:].hex() if plain[:1] == _HEX else _unpack(plain)
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise HashKeyUnavailable(
                f"a hash value sealed under key {key_id} does not open with that key: the key file "
                f"or the row was altered ({type(exc).__name__})") from None

    @staticmethod
    def key_id_of(stored: str) -> str | None:
        if not stored.startswith(SEALED_PREFIX):
            return None
        return stored[len(SEALED_PREFIX):].partition("$")[0]

    # -- lookup digests ----------------------------------------------------------------------
    def lookup(self, digest: str, key_id: str | None = None) -> str:
        """The stored form of a plain SHA-256 ``digest``: its HMAC under a lookup key."""
        if key_id is None:
            self._maybe_reload()
            key = self._current
        else:
            key = self._key(key_id)
        return hmac.digest(key.lookup_key, digest.encode("ascii"), "sha256").hex()

    def keyed_digest(self, purpose: bytes, message: bytes) -> str:
        """HMAC-SHA256 of ``message`` under the current lookup key, kept apart from hash lookups
        (and from other purposes) by ``purpose``: a value that must be counted or compared
        without being stored, such as a public filer's address."""
        self._maybe_reload()
        return hmac.digest(self._current.lookup_key, purpose + b"\x00" + message, "sha256").hex()

    def lookups(self, digest: str) -> list[str]:
        """``digest``'s stored form under every key held (more than one during a rotation)."""
        self._maybe_reload()
        return [hmac.digest(k.lookup_key, digest.encode("ascii"), "sha256").hex()
                for k in self._keys.values()]


_TEXT, _HEX = b"\x00", b"\x01"


def _pack(value: str) -> bytes:
    """Lower-case hex (PDQ, MD5, SHA-256) as its bytes, half the size; anything else as UTF-8."""
    if len(value) % 2 == 0 and value.isascii():
        try:
            packed = bytes.fromhex(value)
        except ValueError:
            packed = None
        if packed is not None and packed.hex() == value:
            return _HEX + packed
    return _TEXT + value.encode("utf-8")


def _unpack(plain: bytes) -> str:
    if plain[:1] == _HEX:
        return plain[1:].hex()
    if plain[:1] == _TEXT:
        return plain[1:].decode("utf-8")
    raise ValueError("unknown packing")


def install_keyring(engine: Engine, keyring: HashKeyring | None) -> None:
    """Let ``engine``'s connections seal and open hash values with ``keyring``."""
    setattr(engine.dialect, _DIALECT_ATTRIBUTE, keyring)


def keyring_of(dialect: Dialect) -> HashKeyring:
    keyring = getattr(dialect, _DIALECT_ATTRIBUTE, None)
    if keyring is None:
        raise HashKeyUnavailable(
            "no hash key is configured for this database: open it through ServiceContext.open "
            "(or pass a HashKeyFile to Store.open)")
    return keyring  # type: ignore[no-any-return]


def engine_keyring(engine: Engine) -> HashKeyring | None:
    return getattr(engine.dialect, _DIALECT_ATTRIBUTE, None)


class SealedText(TypeDecorator[str]):
    """A hash value: plain text to Python, AES-GCM ciphertext in the database."""

    impl = Text
    cache_ok = True

    def __init__(self, purpose: str) -> None:
        super().__init__()
        self.purpose = purpose

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).seal(value, self.purpose.encode("ascii"))

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).open(value, self.purpose.encode("ascii"))


class LookupDigest(TypeDecorator[str]):
    """A value's lookup key: callers bind the plain SHA-256; the database holds its HMAC.

    Equality and IN comparisons bind through this type too, so ``column == plain_digest(v)``
    finds the rows of ``v``. Reading the column gives the stored HMAC (it cannot be undone).
    """

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).lookup(value)


@dataclass(frozen=True)
class SealedColumn:
    """A sealed column: its table, its name, and whether a lookup digest (``value_digest``) sits
    beside it. Its purpose (the AES-GCM associated data) is ``table.column``."""

    table: str
    column: str
    digest: bool

    @property
    def purpose(self) -> str:
        return f"{self.table}.{self.column}"


#: Every sealed column. ``cases.answers`` holds an incomplete request's hashes until it is
#: completed (the whole answers document is sealed: it has no lookup digest);
#: ``watermark_keys.secret`` the providers' secret watermark keys (revision 0009).
SEALED_COLUMNS = (SealedColumn("bank_entries", "value", True), SealedColumn("content_items", "value", True),
                  SealedColumn("cases", "answers", False), SealedColumn("watermark_keys", "secret", False))


def sealed_columns() -> Iterable[SealedColumn]:
    """Every sealed column (``purpose`` = AES-GCM associated data)."""
    return SEALED_COLUMNS


def raw_table(sealed: SealedColumn) -> Any:
    """The table with untyped columns (``id``, the sealed column, ``value_digest`` where there is
    one): what is stored, sealed or not, as it is."""
    from sqlalchemy import Integer, column, table

    return table(sealed.table, column("id", Integer), column(sealed.column, Text),
                 *([column("value_digest", String(64))] if sealed.digest else []))


def reseal_batch(connection: Any, keyring: HashKeyring, sealed: SealedColumn, *,
                 after_id: int, limit: int) -> tuple[int, int]:
    """Re-seal, under the current key, up to ``limit`` rows after ``after_id`` that are not
    sealed under it (older keys, or plain rows written around the store), re-keying their
    lookup digests. Returns ``(rows changed, last id looked at)``; ``(0, after_id)`` when done."""
    from sqlalchemy import bindparam, not_, select, update

    current = keyring.current_id
    raw = raw_table(sealed)
    value = raw.c[sealed.column]
    rows = connection.execute(
        select(raw.c.id, value)
        .where(raw.c.id > after_id, not_(value.like(f"{SEALED_PREFIX}{current}$%")))
        .order_by(raw.c.id).limit(limit)).all()
    if not rows:
        return 0, after_id
    aad = sealed.purpose.encode("ascii")
    params = []
    for row_id, stored in rows:
        plain = keyring.open(stored, aad)
        row = {"row_id": row_id, "new_value": keyring.seal(plain, aad)}
        if sealed.digest:
            row["new_digest"] = keyring.lookup(plain_digest(plain))
        params.append(row)
    values: dict[str, Any] = {sealed.column: bindparam("new_value")}
    if sealed.digest:
        values["value_digest"] = bindparam("new_digest")
    connection.execute(update(raw).where(raw.c.id == bindparam("row_id")).values(**values), params)
    return len(params), int(rows[-1][0])


def rows_not_under(connection: Any, sealed: SealedColumn, key_id: str) -> int:
    """How many rows of a sealed column are not sealed under ``key_id``."""
    from sqlalchemy import func, not_, select

    raw = raw_table(sealed)
    return int(connection.execute(select(func.count()).select_from(raw).where(
        not_(raw.c[sealed.column].like(f"{SEALED_PREFIX}{key_id}$%")))).scalar() or 0)
