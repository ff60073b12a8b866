"""Use case: API keys. A key is ``ds_<key id>_<secret>``; only a SHA-256 of the secret is kept.

Managing keys (create, list, revoke, the hash key's rotation) is ``Action.KEYS_MANAGE``, decided
here for the ``Principal`` the door passes. ``authenticate`` is how a door finds that principal.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from deepshield.errors import InvalidRequest, Unauthorized
from deepshield.services.access import KEY_ROLES, SYSTEM, Action, Principal, Role, authorize
from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from deepshield.store import audit_repository as audit
from deepshield.store import key_repository
from deepshield.store.hash_sealing import (
    HashKeyFile,
    HashKeyUnavailable,
    reseal_batch,
    rows_not_under,
    sealed_columns,
)
from deepshield.store.models import ApiKey

_TOKEN = re.compile(r"^ds_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    role: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _secret_hash(secret: str) -> str:
    # Secrets are 256 random bits, so a fast hash suffices; no KDF is needed to resist guessing.
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_role(name: str) -> Role:
    """The role of a new API key. A victim holds a case number and PIN, never a key."""
    known = ", ".join(sorted(r.value for r in KEY_ROLES))
    try:
        role = Role(name.strip().lower())
    except ValueError:
        raise InvalidRequest(f"unknown role {name!r}; roles are {known}") from None
    if role not in KEY_ROLES:
        raise InvalidRequest(f"an API key cannot hold the {role.value} role (a victim follows "
                             f"her case with its case number and PIN); key roles are {known}")
    return role


def create_key(ctx: ServiceContext, role: Role, label: str, principal: Principal) -> tuple[KeyInfo, str]:
    """Create a key; returns its record and the full key, which is never shown again.
    ``Forbidden`` unless ``principal`` manages keys (the operator)."""
    authorize(principal, Action.KEYS_MANAGE)
    if role not in KEY_ROLES:
        raise InvalidRequest(f"an API key cannot hold the {role.value} role")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with ctx.store.transaction() as session:
        key = key_repository.add_key(session, key_id, _secret_hash(secret), role.value, label[:200])
        audit.record_event(session, principal.actor, "keys.create", f"key:{key_id}", role=role.value)
        info = _info(key)
    return info, f"ds_{key_id}_{secret}"


def ensure_admin_key(ctx: ServiceContext) -> str | None:
    """Create the first admin key if none is active; returns it, or None if one exists."""
    with ctx.store.transaction() as session:
        if key_repository.count_active_keys(session, Role.ADMIN.value) > 0:
            return None
    _, token = create_key(ctx, Role.ADMIN, "first admin key (made by serve)", SYSTEM)
    return token


#: A checked key is trusted this long without a database read (a revocation made by another
#: process takes effect within this time; one made here, at once).
AUTH_CACHE_SECONDS = 2.0
_AUTH_CACHE_MAX = 10_000
_auth_cache: dict[tuple[int, str], tuple[Principal, str, float]] = {}
_auth_cache_lock = threading.Lock()


def _cache_key(ctx: ServiceContext, token: str) -> tuple[int, str]:
    return (id(ctx.store), hashlib.sha256(token.strip().encode()).hexdigest())


def cached_principal(ctx: ServiceContext, token: str) -> Principal | None:
    """The principal of a token checked within ``AUTH_CACHE_SECONDS``, else None; no I/O,
    so a door can call it without leaving its event loop."""
    with _auth_cache_lock:
        cached = _auth_cache.get(_cache_key(ctx, token))
    if cached is not None and cached[2] > time.monotonic():
        return cached[0]
    return None


def authenticate(ctx: ServiceContext, token: str) -> Principal:
    """The principal behind a bearer token; raises ``Unauthorized`` for anything else."""
    found = _TOKEN.match(token.strip())
    if not found:
        raise Unauthorized("the API key is malformed; it looks like ds_<12 hex>_<secret>")
    key_id, secret = found.groups()
    cached = cached_principal(ctx, token)
    if cached is not None:
        return cached
    cache_key = _cache_key(ctx, token)
    now = time.monotonic()
    principal = _authenticate_in_store(ctx, key_id, secret)
    with _auth_cache_lock:
        if len(_auth_cache) >= _AUTH_CACHE_MAX:
            _auth_cache.clear()
        _auth_cache[cache_key] = (principal, key_id, now + AUTH_CACHE_SECONDS)
    return principal


def _forget_key(key_id: str) -> None:
    with _auth_cache_lock:
        for cache_key in [k for k, (_, cached_id, _) in _auth_cache.items() if cached_id == key_id]:
            del _auth_cache[cache_key]


def _authenticate_in_store(ctx: ServiceContext, key_id: str, secret: str) -> Principal:
    with ctx.store.transaction() as session:
        key = key_repository.find_key(session, key_id)
        valid = key is not None and hmac.compare_digest(key.secret_hash, _secret_hash(secret))
        if not valid or key is None:
            raise Unauthorized("the API key is not valid")
        if key.revoked_at is not None:
            raise Unauthorized("the API key has been revoked")
        return Principal(actor=f"key:{key.key_id}", role=Role(key.role))


def list_keys(ctx: ServiceContext, principal: Principal) -> list[KeyInfo]:
    """Every key's record (never a secret); ``Forbidden`` unless ``principal`` manages keys."""
    authorize(principal, Action.KEYS_MANAGE)
    with ctx.store.transaction() as session:
        return [_info(key) for key in key_repository.list_keys(session)]


def revoke_key(ctx: ServiceContext, key_id: str, principal: Principal) -> KeyInfo:
    """Revoke a key: refused from now on (by other processes within ``AUTH_CACHE_SECONDS``).
    ``Forbidden`` unless ``principal`` manages keys; ``NotFound`` for an unknown key."""
    authorize(principal, Action.KEYS_MANAGE)
    with ctx.store.transaction() as session:
        key = key_repository.revoke_key(session, key_id)
        audit.record_event(session, principal.actor, "keys.revoke", f"key:{key_id}")
        info = _info(key)
    _forget_key(key_id)
    return info


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(key.key_id, key.role, key.label, key.created_at, key.revoked_at)


# -- the key that seals hash values at rest (docs/HASHES_AT_REST.md) --------------------------

@dataclass(frozen=True)
class HashKeyRotation:
    """What a rotation did: the new current key, the rows re-sealed per table, the old keys
    dropped from the key file, and whether it finished (else rerun to resume)."""

    key_id: str
    resumed: bool
    resealed: dict[str, int] = field(default_factory=dict)
    removed_keys: list[str] = field(default_factory=list)
    finished: bool = False


def hash_key_file(settings: Settings) -> HashKeyFile:
    return HashKeyFile.for_home(settings.home, settings.hash_keys.callback)


def install_wrapped_hash_key(settings: Settings, wrapped: bytes, principal: Principal) -> str | None:
    """With a KMS callback and no key file yet, install ``wrapped`` as the first key (so the
    store can open); returns its id, or None when a key file exists (rotation adds it).
    ``Forbidden`` unless ``principal`` manages keys."""
    authorize(principal, Action.KEYS_MANAGE)
    key_file = hash_key_file(settings)
    if key_file.exists():
        return None
    return key_file.add_key(wrapped=wrapped)


def rotate_hash_key(ctx: ServiceContext, principal: Principal, *, wrapped: bytes | None = None,
                    batch_rows: int = 5000, keep_old: bool = False,
                    max_batches: int | None = None) -> HashKeyRotation:
    """Seal every hash value under a new key and re-key the lookup digests, in batches of
    ``batch_rows`` rows, each committed on its own.

    Resumable: while the key file still holds more than one key, a rotation is under way and
    a rerun carries on with its current key instead of making another (``max_batches``
    stops early, as an interruption would). The old keys stay in the file until every row is
    re-sealed, then are removed (unless ``keep_old``); running processes pick up the new key
    from the file within a second. Start and end are audit-logged. ``Forbidden`` unless
    ``principal`` manages keys.
    """
    authorize(principal, Action.KEYS_MANAGE)
    if batch_rows < 1:
        raise InvalidRequest("batch_rows must be at least 1")
    key_file = hash_key_file(ctx.settings)
    keyring = ctx.store.hash_keyring
    if keyring is None:
        raise HashKeyUnavailable("this store has no hash key configured")
    document = key_file.read_document()
    resumed = len(document["keys"]) > 1 and wrapped is None
    if resumed:
        key_id = str(document["current"])
    else:
        previous = str(document["current"])
        key_id = key_file.add_key(wrapped=wrapped)
        if key_id == previous:
            raise InvalidRequest(f"key {key_id} is already the current hash key")
    keyring.reload()
    with ctx.store.transaction() as session:
        audit.record_event(session, principal.actor, "hash_key.rotate", f"hash_key:{key_id}",
                           resumed=resumed, keys_held=len(keyring.key_ids))
    result = HashKeyRotation(key_id=key_id, resumed=resumed)
    batches = 0
    for sealed in sealed_columns():
        after_id = 0
        result.resealed[sealed.table] = 0
        while max_batches is None or batches < max_batches:
            with ctx.store.connection() as connection:
                changed, after_id = reseal_batch(connection, keyring, sealed,
                                                 after_id=after_id, limit=batch_rows)
            if not changed:
                break
            batches += 1
            result.resealed[sealed.table] += changed
    with ctx.store.connection() as connection:
        left = sum(rows_not_under(connection, sealed, key_id) for sealed in sealed_columns())
    if left:  # stopped early, or another process wrote under the old key meanwhile: rerun
        return result
    if not keep_old:
        result.removed_keys.extend(key_file.remove_keys_except(key_id))
    finished = HashKeyRotation(key_id, resumed, result.resealed, result.removed_keys, finished=True)
    with ctx.store.transaction() as session:
        audit.record_event(session, principal.actor, "hash_key.rotated", f"hash_key:{key_id}",
                           resealed=sum(result.resealed.values()), removed_keys=result.removed_keys)
    return finished
