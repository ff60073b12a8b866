"""Use cases: providers' secret watermark keys (docs/WATERMARK_KEYS.md).

A provider's labels are marked with its own secret key by default: only the holder of the key
can read or make those marks, so the public code gives no free oracle to strip them. This
repository holds every provider's key (sealed at rest, ``watermark_keys.secret``) and reads
uploads with all of them (``reading_keys``: the public key first, then every active key), behind
its rate limits and its audit log. A provider may export its own key to read its marks offline.

Who may: a provider's own key (``provider_key``, made on first use), its export and its
retirement need ``Action.LABEL`` (a provider, the operator), and a key that is not the caller's
needs an admin; the list of every key needs ``Action.KEYS_MANAGE`` (the operator). All are
audit-logged by key id; a secret never reaches a log, a listing or an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from deepshield.errors import InvalidRequest, NotFound, StoreUnavailable
from deepshield.services.access import Action, Principal, Role, authorize
from deepshield.services.context import ServiceContext
from deepshield.store import Store
from deepshield.store import audit_repository as audit
from deepshield.store import watermark_key_repository as repo
from deepshield.store.models import WatermarkKeyRecord
from deepshield.watermark import PUBLIC_KEY, WatermarkKey, new_key
from deepshield.watermark.keys import KEY_BYTES, PUBLIC_KEY_ID, key_id_of

#: The format tag of an exported key file.
KEY_FILE_FORMAT = "deepshield-watermark-key/1"
#: A key file is a few hundred bytes; anything much larger is not one.
MAX_KEY_FILE_BYTES = 4096


@dataclass(frozen=True)
class WatermarkKeyInfo:
    """A key as listings show it: never the secret."""

    key_id: str
    owner: str
    created_at: datetime
    retired_at: datetime | None

    @property
    def active(self) -> bool:
        return self.retired_at is None


@dataclass(frozen=True)
class KeyExport:
    """An exported key: what it is, and the key file's content (which holds the secret)."""

    info: WatermarkKeyInfo
    document: dict[str, Any]

    def key(self) -> WatermarkKey:
        return parse_key_document(self.document)


def _info(record: WatermarkKeyRecord) -> WatermarkKeyInfo:
    return WatermarkKeyInfo(record.key_id, record.owner, record.created_at, record.retired_at)


def _key(key_id: str, secret_hex: str) -> WatermarkKey:
    try:
        return WatermarkKey(key_id, bytes.fromhex(secret_hex))
    except ValueError:
        raise StoreUnavailable(f"watermark key {key_id} does not open to its own secret: the row was "
                               "altered") from None


# --- The keys this repository reads with ---------------------------------------------------


class _HeldKeys:
    """The public key plus every active provider key of one store, cached. Each call reads one
    (count, retired, max id) row; the keys are reloaded only when that changed, so a key made or
    retired by any process is used (or dropped) by the next read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: repo.KeyState | None = None
        self._keys: tuple[WatermarkKey, ...] = (PUBLIC_KEY,)

    def keys(self, store: Store) -> tuple[WatermarkKey, ...]:
        with self._lock:
            with store.transaction() as session:
                state = repo.key_state(session)
                if state != self._state:
                    held = [_key(key_id, secret) for key_id, secret in repo.active_secrets(session)]
                    self._keys, self._state = (PUBLIC_KEY, *held), state
            return self._keys


_HELD: weakref.WeakKeyDictionary[Store, _HeldKeys] = weakref.WeakKeyDictionary()
_HELD_LOCK = threading.Lock()


def reading_keys(ctx: ServiceContext) -> tuple[WatermarkKey, ...]:
    """The keys this repository reads marks with: ``PUBLIC_KEY`` first, then every active
    provider key, oldest first. Not an entry point: the services that read for a caller (and
    audit-log it) call this."""
    with _HELD_LOCK:
        held = _HELD.get(ctx.store)
        if held is None:
            held = _HELD[ctx.store] = _HeldKeys()
    return held.keys(ctx.store)


def held_key_owners(ctx: ServiceContext) -> dict[str, str]:
    """``{key id: owner}`` of every active key (for checking a registration's key)."""
    with ctx.store.transaction() as session:
        return repo.active_owners(session)


# --- A provider's own key ------------------------------------------------------------------


def provider_key(ctx: ServiceContext, principal: Principal) -> WatermarkKey:
    """``principal``'s own active secret key, made (and audit-logged) on first use. ``Forbidden``
    unless ``principal`` may label (``Action.LABEL``: a provider, the operator)."""
    authorize(principal, Action.LABEL)
    with ctx.store.transaction() as session:
        record = repo.active_key_of(session, principal.actor)
        if record is not None:
            return _key(record.key_id, record.secret)
        key = new_key()
        repo.add_key(session, key.key_id, key.secret.hex(), principal.actor)
        audit.record_event(session, principal.actor, "watermark_key.create", f"watermark_key:{key.key_id}")
    # Two first labels at once may each have made a key: all settle on the oldest, and a key that
    # lost the race (it has marked nothing yet) is retired at once.
    with ctx.store.transaction() as session:
        oldest = repo.active_key_of(session, principal.actor)
        if oldest is not None and oldest.key_id != key.key_id:
            mine = repo.find_key(session, key.key_id)
            if mine is not None and repo.retire_key(session, mine):
                audit.record_event(session, principal.actor, "watermark_key.retire",
                                   f"watermark_key:{key.key_id}", reason="made twice at once")
            return _key(oldest.key_id, oldest.secret)
    return key


def _owned_record(session: Any, principal: Principal, key_id: str | None) -> WatermarkKeyRecord:
    """The key ``key_id`` (None: the caller's own active one), if the caller may act on it: its
    owner or an admin. Another's key answers like a missing one to a non-admin."""
    if key_id is None:
        record = repo.active_key_of(session, principal.actor)
        if record is None:
            raise NotFound("you hold no active watermark key yet; one is made on your first label")
        return record
    key_id = check_key_id(key_id)
    record = repo.find_key(session, key_id)
    if record is None or (record.owner != principal.actor and principal.role is not Role.ADMIN):
        raise NotFound(f"no watermark key {key_id} of yours")
    return record


def export_key(ctx: ServiceContext, principal: Principal, key_id: str | None = None,
               *, create: bool = False) -> KeyExport:
    """A key file's content for reading (and making) this key's marks offline: the caller's own
    key (``key_id`` None; made first when ``create``), or a given key of the caller's, or any key
    for an admin. Retired keys export too (to read old marks). ``Forbidden`` unless ``principal``
    may label; audit-logged (the key id, never the secret)."""
    authorize(principal, Action.LABEL)
    if key_id is None and create:
        provider_key(ctx, principal)
    with ctx.store.transaction() as session:
        record = _owned_record(session, principal, key_id)
        info = _info(record)
        document = {"format": KEY_FILE_FORMAT, "key_id": record.key_id,
                    "secret": base64.b64encode(bytes.fromhex(record.secret)).decode("ascii"),
                    "owner": record.owner, "created_at": record.created_at.isoformat(),
                    "retired_at": record.retired_at.isoformat() if record.retired_at else None}
        audit.record_event(session, principal.actor, "watermark_key.export", f"watermark_key:{record.key_id}",
                           **({"override": True} if record.owner != principal.actor else {}))
    return KeyExport(info, document)


def retire_key(ctx: ServiceContext, principal: Principal, key_id: str) -> WatermarkKeyInfo:
    """Retire a key: it makes no more labels, and this repository stops reading its marks (labels
    made with it are then found by their fingerprint only). The owner's next label makes a new
    key. The owner or an admin; audit-logged. Retiring a retired key changes nothing."""
    authorize(principal, Action.LABEL)
    with ctx.store.transaction() as session:
        record = _owned_record(session, principal, key_id)
        if repo.retire_key(session, record):
            audit.record_event(session, principal.actor, "watermark_key.retire",
                               f"watermark_key:{record.key_id}",
                               **({"override": True} if record.owner != principal.actor else {}))
        return _info(record)


def list_keys(ctx: ServiceContext, principal: Principal) -> list[WatermarkKeyInfo]:
    """Every key (ids, owners, times; never a secret). ``Forbidden`` unless ``principal`` manages
    keys (``Action.KEYS_MANAGE``: the operator)."""
    authorize(principal, Action.KEYS_MANAGE)
    with ctx.store.transaction() as session:
        return [_info(record) for record in repo.list_keys(session)]


# --- Key files -----------------------------------------------------------------------------


def check_key_id(key_id: str) -> str:
    """A watermark key id: ``public`` or 16 hex digits (as lowercase); ``InvalidRequest`` otherwise."""
    value = key_id.strip().lower() if isinstance(key_id, str) else ""
    if value != PUBLIC_KEY_ID and not (len(value) == 16 and all(c in "0123456789abcdef" for c in value)):
        raise InvalidRequest("a watermark key id is 'public' or 16 hex digits")
    return value


def parse_key_document(document: Any) -> WatermarkKey:
    """The key in an exported key file's JSON content; ``InvalidRequest`` for anything else."""
    if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
        raise InvalidRequest(f"not a DeepShield watermark key file (format {KEY_FILE_FORMAT})")
    key_id, secret_text = document.get("key_id"), document.get("secret")
    if not isinstance(key_id, str) or not isinstance(secret_text, str):
        raise InvalidRequest("the watermark key file lacks its key_id or secret")
    try:
        secret = base64.b64decode(secret_text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("the watermark key file's secret is not base64") from None
    if len(secret) != KEY_BYTES or key_id_of(secret) != key_id:
        raise InvalidRequest("the watermark key file's secret does not match its key_id (damaged?)")
    return WatermarkKey(key_id, secret)


def load_key_file(path: Path) -> WatermarkKey:
    """The key in an exported key file (``deepshield watermark keys export``)."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read the watermark key file: {exc.strerror or exc}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise InvalidRequest(f"{path} is too large to be a watermark key file")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(f"{path} is not a DeepShield watermark key file (not JSON)") from None
    try:
        return parse_key_document(document)
    except InvalidRequest as error:
        raise InvalidRequest(f"{path}: {error.detail}") from None


def write_key_file(path: Path, exported: KeyExport) -> None:
    """Write an exported key to ``path``, readable by its owner only (0600), via a temporary file
    and a rename: never a half-written or briefly world-readable key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600 already
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(exported.document, stream, indent=2)
            stream.write("\n")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

