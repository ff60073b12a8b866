"""Use cases: the manifest repository behind the C2PA Soft Binding Resolution API.

A provider registers a signed C2PA manifest store with its soft bindings: the watermark's label
id (``org.deepshield.watermark.1``) and the PDQ fingerprint (``org.deepshield.pdq.1``). Anyone
can then find the manifest of a copy whose metadata was stripped, by a binding value or by
uploading the copy itself, and fetch the manifest store byte for byte.

Binding values are labels of AI output, not victims' images, but they are still never logged:
audit rows hold ids, algorithms and counts.

Who may: writes (``register_manifest``, ``add_bindings``, ``replace_bindings``) take the caller's
``Principal`` and need ``Action.MANIFEST_WRITE`` (a provider, the operator), decided here. Reads
(``get_manifest``, ``matches_by_binding``, ``matches_by_content``) are open to everyone: their
principal only names the reader in the audit log, and None is the public.

Ownership: a provider changes only what it registered. A manifest belongs to the key that
registered it, and a binding value to the registrants of the manifests it currently points at. A
provider may add bindings only to its own manifests, and may not bind (``POST /manifests``,
``POST /bindings``) or re-point (``PUT /bindings``) a value that another provider's manifest
holds: that is ``Forbidden`` (403). Manifests and bindings are public (the queries need no key),
so the refusal tells a caller nothing it could not read already. An admin may do anything; an
admin's change to someone else's manifest or binding is audit-logged as ``override``.
Re-pointing never deletes: the superseded binding row stays (when, by whom), and reads resolve to
the current rows.

A manifest store is checked only structurally here (one JUMBF superbox labelled ``c2pa`` whose
last manifest is the active one, named by ``manifest_id``). Its signature is the reader's to
validate: the repository serves what the provider signed, and says nothing about trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.exc import IntegrityError

from deepshield.errors import (
    Category,
    Conflict,
    DeepShieldError,
    Forbidden,
    InvalidRequest,
    InvalidSignal,
    NotFound,
)
from deepshield.index.keypoint_index import KeypointIndex
from deepshield.index.pdq_multi_index import PdqMultiIndex
from deepshield.media import MediaKind, sniff_media_type
from deepshield.media.errors import EmptyMedia

# The doors reach the store format through this service: re-exported.
from deepshield.provenance.jumbf import InvalidManifestStore as InvalidManifestStore
from deepshield.provenance.jumbf import active_manifest_id as active_manifest_id
from deepshield.provenance.jumbf import active_manifest_only as active_manifest_only
from deepshield.services.access import Action, Principal, Role, actor_of, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.label import watermark_keys
from deepshield.services.label.watermarking import detect_watermark
from deepshield.services.spread.hashing import MediaSignals, hash_media
from deepshield.signals import keypoints as local_features
from deepshield.signals.pdq import PDQ_BITS
from deepshield.store import Store
from deepshield.store import audit_repository as audit
from deepshield.store import manifest_repository as repo
from deepshield.store.models import MAX_MANIFEST_STORE_BYTES, Manifest
from deepshield.watermark.keys import PUBLIC_KEY_ID

#: Soft-binding algorithm ids. Not (yet) on the C2PA soft-binding algorithm list.
WATERMARK_ALG = "org.deepshield.watermark.1"  # value: the 64-bit label id, 16 lowercase hex digits
PDQ_ALG = "org.deepshield.pdq.1"  # value: a PDQ hash, 64 lowercase hex digits
SUPPORTED_ALGS = (WATERMARK_ALG, PDQ_ALG)
_HEX_DIGITS = {WATERMARK_ALG: 16, PDQ_ALG: 64}
_DESCRIBED = {WATERMARK_ALG: "the watermark's 64-bit label id", PDQ_ALG: "a 256-bit PDQ hash"}

MANIFEST_CONTENT_TYPE = "application/c2pa"
DEFAULT_MAX_RESULTS = 10
MAX_RESULTS = 100
MAX_BINDINGS = 128  # per request: a label has 2 + 94 region fingerprints (signals.repost.REGION_COUNT)
#: A content lookup searches at most this many PDQ query hashes (the file's own, its dihedral and
#: repost variants, its region queries: ``fingerprint_queries``, about 75 for a photo).
MAX_FINGERPRINT_QUERIES = 96
_MAX_VALUE_CHARS = 512
#: A keypoint lookup fits at most this many candidate sets, each with at least this many of the
#: copy's descriptors nearest to its own (unrelated photos: a handful; a crop: tens).
KEYPOINT_CANDIDATES = 4
KEYPOINT_MIN_VOTES = 8
_MANIFEST_ID = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9._~:@!$&'()*+,;=%-]+$")
MAX_MANIFEST_ID_CHARS = 200
#: What a door reads at most, in bytes: a raw manifest store (the store column's width); the JSON
#: form of a registration (the store in base64, 4/3 of its bytes, and its bindings); a query or a
#: binding request (a label's ``MAX_BINDINGS`` values take about 8 KiB).
MAX_STORE_BODY_BYTES = MAX_MANIFEST_STORE_BYTES
MAX_REGISTRATION_BODY_BYTES = MAX_MANIFEST_STORE_BYTES * 4 // 3 + 64 * 1024
MAX_BINDINGS_BODY_BYTES = 64 * 1024


class ManifestTooLarge(DeepShieldError):
    code = "manifest_too_large"
    category = Category.TOO_LARGE


@dataclass(frozen=True)
class ManifestRecord:
    manifest_id: str
    manifest_store: bytes
    store_sha256: str
    content_type: str
    label_id: str | None
    generator: str
    model: str | None
    created_at: datetime | None
    registered_at: datetime
    registered_by: str
    bindings: tuple[tuple[str, str], ...]  # (alg, value)
    watermark_key_id: str | None = None  # the key of the label's mark; None: not said (public)


@dataclass(frozen=True)
class BindingHistory:
    """One binding a value has had: to which manifest, added when and by whom, and whether (when,
    by whom) it was superseded."""

    manifest_id: str
    added_at: datetime
    added_by: str
    superseded_at: datetime | None
    superseded_by: str | None

    @property
    def current(self) -> bool:
        return self.superseded_at is None


@dataclass(frozen=True)
class BindingMatch:
    manifest_id: str
    similarity_score: int  # 0-100, as the API's similarityScore
    alg: str  # the algorithm that matched (the strongest, where several did)


# --- Algorithms and values ----------------------------------------------------------------


def supported_algorithms() -> dict[str, list[dict[str, str]]]:
    """The API's ``c2pa.softBindingAlgList``: ``{"watermarks": [...], "fingerprints": [...]}``."""
    return {"watermarks": [{"alg": WATERMARK_ALG}], "fingerprints": [{"alg": PDQ_ALG}]}


def check_alg(alg: str) -> str:
    """``alg`` if this repository supports it, else ``InvalidRequest`` naming the supported ones."""
    name = alg.strip() if isinstance(alg, str) else ""
    if name not in _HEX_DIGITS:
        shown = repr(alg[:100]) if isinstance(alg, str) else "none"
        raise InvalidRequest(f"unknown soft-binding algorithm {shown}; this repository supports "
                             f"{' and '.join(SUPPORTED_ALGS)}")
    return name


def _base64_bytes(text: str) -> bytes | None:
    padded = text + "=" * (-len(text) % 4)
    for candidate in (padded, padded.replace("-", "+").replace("_", "/")):
        try:
            return base64.b64decode(candidate, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def _is_hex(text: str, digits: int) -> bool:
    return len(text) == digits and all(c in "0123456789abcdefABCDEF" for c in text)


def canonical_value(alg: str, value: str) -> str:
    """A binding value as stored and compared: lowercase hex (16 digits for the watermark's label
    id, 64 for PDQ).

    Accepted forms: the hex itself; base64 of the raw bytes (the API calls values
    "base64-encoded, in algorithm-specific format"); or base64 of the hex text. The lengths differ,
    so no value reads two ways.
    """
    alg = check_alg(alg)
    digits = _HEX_DIGITS[alg]
    text = value.strip() if isinstance(value, str) else ""
    if text and len(text) <= _MAX_VALUE_CHARS:
        if _is_hex(text, digits):
            return text.lower()
        raw = _base64_bytes(text)
        if raw is not None and len(raw) == digits // 2:
            return raw.hex()
        if raw is not None and raw.isascii() and _is_hex(raw.decode("ascii"), digits):
            return raw.decode("ascii").lower()
    raise InvalidSignal(f"a {alg} value is {_DESCRIBED[alg]}: {digits} hex digits, or base64 of its "
                        f"{digits // 2} bytes")


def infer_alg(value: str) -> str:
    """The one supported algorithm whose value format ``value`` has (the API's bindings carry no
    ``alg``)."""
    fitting = []
    for alg in SUPPORTED_ALGS:
        try:
            canonical_value(alg, value)
            fitting.append(alg)
        except InvalidSignal:
            pass
    if len(fitting) != 1:
        raise InvalidSignal("the binding value fits no supported algorithm; send 'alg' "
                            f"({' or '.join(SUPPORTED_ALGS)}) with a value in its format")
    return fitting[0]


def _canonical_bindings(bindings: Sequence[tuple[str, str]], *, allow_empty: bool) -> list[tuple[str, str]]:
    if not bindings and not allow_empty:
        raise InvalidRequest("send at least one soft binding")
    if len(bindings) > MAX_BINDINGS:
        raise InvalidRequest(f"send at most {MAX_BINDINGS} soft bindings per request")
    canonical = []
    for position, (alg, value) in enumerate(bindings, start=1):
        try:
            checked = check_alg(alg)
            canonical.append((checked, canonical_value(checked, value)))
        except DeepShieldError as exc:
            raise type(exc)(f"binding {position}: {exc.detail}") from None
    return list(dict.fromkeys(canonical))


def _check_max_results(max_results: int) -> None:
    if isinstance(max_results, bool) or not isinstance(max_results, int) \
            or not 1 <= max_results <= MAX_RESULTS:
        raise InvalidRequest(f"maxResults must be a whole number from 1 to {MAX_RESULTS}")


def check_manifest_id(manifest_id: str) -> str:
    """A C2PA manifest identifier, a URN such as ``urn:c2pa:<uuid>`` (at most 200 characters)."""
    if (not isinstance(manifest_id, str) or len(manifest_id) > MAX_MANIFEST_ID_CHARS
            or not _MANIFEST_ID.match(manifest_id)):
        raise InvalidRequest(f"a manifest id is a URN such as urn:c2pa:<uuid>, at most "
                             f"{MAX_MANIFEST_ID_CHARS} characters, without spaces or slashes")
    return manifest_id


def pdq_similarity(distance: int, threshold: int) -> int:
    """``similarityScore`` of a PDQ match: 100 at distance 0, falling linearly to just above 0 at
    the threshold (``round(100 × (threshold + 1 − distance) / (threshold + 1))``; 3 at 31 of 31)."""
    return max(0, min(100, round(100 * (threshold + 1 - distance) / (threshold + 1))))


_Index = TypeVar("_Index")


# --- The in-memory PDQ index of the PDQ bindings ------------------------------------------


class _PdqBindings:
    """Exact PDQ search over every ``org.deepshield.pdq.1`` binding, kept current from the store.

    Before each search, one indexed query reads (count, max id) of the current PDQ bindings. Ids
    are never reused, so any add or supersession, by this process or another, changes that pair:
    new ids are added, and a count that still differs (something was superseded) reloads the
    index. A binding registered anywhere is matchable by the next search; a superseded one is not.

    The index is the matcher's exact multi-index (``PdqMultiIndex``): a label registers about 95
    PDQ bindings and a lookup by content searches about 75 query hashes, so a brute-force scan
    would cost 75 × (bindings) comparisons per lookup (a third of a second at a million bindings,
    against 50 ms). New bindings go to its delta and are folded in when it grows.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index = PdqMultiIndex()
        self._state = (0, 0)  # (count, max id) the index holds

    def search(self, store: Store, pdq_hexes: Sequence[str], threshold: int) -> list[tuple[int, int]]:
        """``(binding id, distance)`` of every PDQ binding within ``threshold`` bits of one of
        ``pdq_hexes`` (a binding near several queries comes once per query)."""
        with self._lock:
            self._sync(store)
            hits = self._index.search(list(pdq_hexes), threshold)
        return [(hit.item_id, hit.distance) for hit in hits]

    def _sync(self, store: Store) -> None:
        with store.transaction() as session:
            state = repo.binding_state(session, PDQ_ALG)
            if state == self._state:
                return
            count, max_id = self._state
            if state[1] > max_id:
                added = repo.bindings_after(session, PDQ_ALG, max_id)
                self._index.add((row.binding_id, row.value) for row in added)
                self._index.maybe_compact()
                count, max_id = count + len(added), max([max_id, *(row.binding_id for row in added)])
            if count != state[0]:
                rows = repo.bindings_after(session, PDQ_ALG, 0)
                self._index = PdqMultiIndex()
                self._index.add((row.binding_id, row.value) for row in rows)
                self._index.compact()
                count, max_id = len(rows), max([0, *(row.binding_id for row in rows)])
            self._state = (count, max_id)


#: One in-memory index of each kind per store (per process), made on first use.
_INDEXES: weakref.WeakKeyDictionary[Store, dict[type, Any]] = weakref.WeakKeyDictionary()
_INDEXES_LOCK = threading.Lock()


def _index_of(store: Store, kind: type[_Index]) -> _Index:
    with _INDEXES_LOCK:
        held = _INDEXES.setdefault(store, {})
        if kind not in held:
            held[kind] = kind()
        return held[kind]  # type: ignore[no-any-return]


def _pdq_bindings(store: Store) -> _PdqBindings:
    return _index_of(store, _PdqBindings)


class _KeypointSets:
    """Every registered keypoint set in one ``KeypointIndex``, kept current from the store like
    ``_PdqBindings`` (sets are only ever added: a new max id adds them, a count that still differs
    reloads). The sets themselves are kept too, for ``locate``: about 5 kB a label."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index = KeypointIndex()
        self._sets: dict[int, tuple[str, local_features.Keypoints]] = {}
        self._state = (0, 0)

    def candidates(self, store: Store, descriptors: np.ndarray, limit: int
                   ) -> list[tuple[str, local_features.Keypoints, int]]:
        """(manifest id, keypoint set, votes) of the sets sharing the most of ``descriptors``."""
        with self._lock:
            self._sync(store)
            found = self._index.candidates(descriptors, limit, KEYPOINT_MIN_VOTES)
            return [(*self._sets[set_id], votes) for set_id, votes in found]

    def _load(self, rows: list[tuple[int, str, bytes]]) -> None:
        loaded = []
        for set_id, manifest_id, data in rows:
            try:
                found = local_features.from_bytes(data)
            except local_features.InvalidKeypoints:  # checked at registration; a damaged row is skipped
                continue
            self._sets[set_id] = (manifest_id, found)
            loaded.append((set_id, found.descriptors))
        self._index.add(loaded)

    def _sync(self, store: Store) -> None:
        with store.transaction() as session:
            state = repo.keypoint_state(session)
            if state == self._state:
                return
            if state[1] > self._state[1]:
                rows = repo.keypoints_after(session, self._state[1])
                self._load(rows)
                self._state = (self._state[0] + len(rows), state[1])
            if self._state[0] != state[0]:
                self._index, self._sets = KeypointIndex(), {}
                self._load(repo.keypoints_after(session, 0))
            self._state = state


def _keypoint_sets(store: Store) -> _KeypointSets:
    return _index_of(store, _KeypointSets)


# --- Registration --------------------------------------------------------------------------


def _record(manifest: Manifest, bindings: Sequence[tuple[str, str]]) -> ManifestRecord:
    return ManifestRecord(manifest.manifest_id, bytes(manifest.manifest_store), manifest.store_sha256,
                          manifest.content_type, manifest.label_id, manifest.generator, manifest.model,
                          manifest.created_at, manifest.registered_at, manifest.registered_by,
                          tuple(bindings), manifest.watermark_key_id)


def _bounded(name: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRequest(f"{name} is text of at most {limit} characters")
    return value


def _owned(session: Any, principal: Principal, manifest: Manifest | None,
           bindings: Sequence[tuple[str, str]]) -> bool:
    """Refuse (``Forbidden``) a change by a non-admin to a manifest, or to a binding value, that
    another key registered. Returns whether the change touches someone else's (an admin's
    override, which the caller audit-logs)."""
    actor = principal.actor
    foreign_manifest = manifest is not None and manifest.registered_by != actor
    held = repo.holders(session, bindings)
    foreign = [position for position, binding in enumerate(bindings, start=1)
               if held.get(binding, set()) - {actor}]
    if principal.role is not Role.ADMIN:
        if foreign_manifest:
            assert manifest is not None
            raise Forbidden(f"manifest {manifest.manifest_id!r} was registered by another key; a "
                            "provider changes only the manifests and bindings it registered")
        if foreign:
            alg, _ = bindings[foreign[0] - 1]
            raise Forbidden(f"binding {foreign[0]}: this {alg} value is bound to a manifest another "
                            "key registered; a provider changes only the bindings it registered")
    return foreign_manifest or bool(foreign)


def _retrying_races(function: Any, *args: Any) -> Any:
    """Run a write; if a concurrent writer won a unique key, run it once more (it then sees the
    other's row)."""
    try:
        return function(*args)
    except IntegrityError:
        return function(*args)


def register_manifest(ctx: ServiceContext, manifest_id: str, manifest_store: bytes,
                      bindings: Sequence[tuple[str, str]], *, label_id: str | None = None,
                      generator: str = "", model: str | None = None, created_at: datetime | None = None,
                      principal: Principal, watermark_key_id: str | None = None,
                      keypoints: bytes | None = None) -> ManifestRecord:
    """Keep a signed manifest store under its active manifest's id, with its soft bindings.

    Idempotent: the same id with the same bytes returns the stored record, adding any bindings not
    yet held (the first registration's metadata stays). The same id with different bytes is a
    ``Conflict``. ``manifest_id`` must be the store's active (last) manifest. ``Forbidden`` unless
    ``principal`` may write manifests, and for a manifest another key registered, or a binding
    value another key's manifest holds, unless it is an admin (see the module's docstring).
    Audit-logged under ``principal.actor``.

    ``watermark_key_id`` names the watermark key that made the label's mark: ``public``, or a key
    this repository holds for ``principal`` (an admin: any key it holds); None when the registrant
    does not say, read as ``public``. A mark read with a key resolves only to that key's manifests.
    """
    authorize(principal, Action.MANIFEST_WRITE)
    actor = principal.actor
    check_manifest_id(manifest_id)
    if not manifest_store:
        raise InvalidManifestStore("the manifest store is empty")
    if len(manifest_store) > MAX_MANIFEST_STORE_BYTES:
        raise ManifestTooLarge(f"the manifest store is {len(manifest_store):,} bytes; the repository "
                               f"keeps stores of at most {MAX_MANIFEST_STORE_BYTES:,} bytes")
    manifest_store = bytes(manifest_store)
    active = active_manifest_id(manifest_store)
    if active != manifest_id:
        raise InvalidRequest(f"the store's active manifest is {active!r}, not {manifest_id!r}")
    canonical = _canonical_bindings(bindings, allow_empty=True)
    label_id = _bounded("label_id", label_id, 64)
    generator = _bounded("generator", generator or "", 200) or ""
    model = _bounded("model", model, 200)
    if created_at is not None and (not isinstance(created_at, datetime) or created_at.tzinfo is None):
        raise InvalidRequest("created_at must be a time with a timezone (UTC)")
    if watermark_key_id is not None:
        watermark_key_id = _registrable_key(ctx, principal, watermark_key_id)
    digest = hashlib.sha256(manifest_store).hexdigest()
    if keypoints is not None:
        keypoints = bytes(keypoints)
        try:
            local_features.from_bytes(keypoints)
        except local_features.InvalidKeypoints as exc:
            raise InvalidRequest(f"keypoints: {exc}") from None

    def keep_keypoints(session: Any) -> bool:
        return keypoints is not None and repo.add_keypoints(
            session, manifest_id, local_features.KEYPOINT_SET_VERSION, keypoints)

    def write() -> ManifestRecord:
        with ctx.store.transaction() as session:
            manifest = repo.get_manifest(session, manifest_id)
            if manifest is not None:
                if manifest.store_sha256 != digest or bytes(manifest.manifest_store) != manifest_store:
                    raise Conflict(f"manifest {manifest_id!r} is already registered with a different "
                                   "manifest store; a manifest id names one store for good")
                override = _owned(session, principal, manifest, canonical)
                added = repo.add_bindings(session, manifest_id, canonical, actor)
                kept = keep_keypoints(session)
                if added or kept:
                    audit.record_event(session, actor, "manifest.bindings.add", f"manifest:{manifest_id}",
                                       bindings=added, algs=sorted({alg for alg, _ in canonical}),
                                       **({"keypoints": True} if kept else {}),
                                       **({"override": True} if override else {}))
            else:
                override = _owned(session, principal, None, canonical)
                manifest = repo.add_manifest(
                    session, manifest_id=manifest_id, manifest_store=manifest_store, store_sha256=digest,
                    content_type=MANIFEST_CONTENT_TYPE, label_id=label_id, generator=generator,
                    model=model, created_at=created_at, registered_by=actor,
                    watermark_key_id=watermark_key_id)
                repo.add_bindings(session, manifest_id, canonical, actor)
                kept = keep_keypoints(session)
                audit.record_event(session, actor, "manifest.register", f"manifest:{manifest_id}",
                                   bytes=len(manifest_store), bindings=len(canonical),
                                   algs=sorted({alg for alg, _ in canonical}),
                                   **({"keypoints": True} if kept else {}),
                                   **({"override": True} if override else {}))
            return _record(manifest, repo.bindings_of(session, [manifest_id])[manifest_id])

    return _retrying_races(write)  # type: ignore[no-any-return]


def _registrable_key(ctx: ServiceContext, principal: Principal, key_id: str) -> str:
    """``key_id`` if ``principal`` may name it as its label's watermark key: ``public``, one of its
    own active keys here, or (an admin) any key held here. ``Forbidden`` otherwise: a manifest
    naming another provider's key could not have been marked with it."""
    key_id = watermark_keys.check_key_id(key_id)
    if key_id == PUBLIC_KEY_ID:
        return key_id
    held = watermark_keys.held_key_owners(ctx)
    if key_id not in held:
        raise InvalidRequest(f"watermark key {key_id} is not held by this repository (or is retired); "
                             "label with the key the repository gives you (POST /v1/watermark/key)")
    if held[key_id] != principal.actor and principal.role is not Role.ADMIN:
        raise Forbidden(f"watermark key {key_id} is another provider's; a provider labels with its own key")
    return key_id


def manifest_key_id(manifest_key: str | None) -> str:
    """The watermark key of a registered manifest (None, registered before keys: ``public``)."""
    return manifest_key or PUBLIC_KEY_ID


def _existing_manifest(session: Any, manifest_id: str) -> Manifest:
    manifest = repo.get_manifest(session, manifest_id)
    if manifest is None:
        raise NotFound(f"no manifest {manifest_id!r} is registered")
    return manifest


def add_bindings(ctx: ServiceContext, manifest_id: str, bindings: Sequence[tuple[str, str]],
                 principal: Principal) -> int:
    """Bind more values to a registered manifest (``POST /bindings``). A value already bound to it
    is skipped; a value may point at several manifests of the same registrant. ``Forbidden``
    unless ``principal`` may write manifests, and for another key's manifest, or a value another
    key's manifest holds, unless it is an admin. Returns how many were new."""
    authorize(principal, Action.MANIFEST_WRITE)
    actor = principal.actor
    check_manifest_id(manifest_id)
    canonical = _canonical_bindings(bindings, allow_empty=False)

    def write() -> int:
        with ctx.store.transaction() as session:
            manifest = _existing_manifest(session, manifest_id)
            override = _owned(session, principal, manifest, canonical)
            added = repo.add_bindings(session, manifest_id, canonical, actor)
            audit.record_event(session, actor, "manifest.bindings.add", f"manifest:{manifest_id}",
                               bindings=added, algs=sorted({alg for alg, _ in canonical}),
                               **({"override": True} if override else {}))
            return added

    return _retrying_races(write)  # type: ignore[no-any-return]


def replace_bindings(ctx: ServiceContext, manifest_id: str, bindings: Sequence[tuple[str, str]],
                     principal: Principal) -> int:
    """Point existing binding values at ``manifest_id`` instead (``PUT /bindings``): every manifest
    a value pointed at is replaced by this one. The replaced bindings are kept as history, marked
    superseded (when, by ``principal.actor``); reads resolve to the current ones. A value bound to
    nothing is ``NotFound``; a principal that may not write manifests is ``Forbidden``, and so is
    another key's manifest or binding unless it is an admin; either way nothing changes. Returns
    how many values were re-pointed."""
    authorize(principal, Action.MANIFEST_WRITE)
    actor = principal.actor
    check_manifest_id(manifest_id)
    canonical = _canonical_bindings(bindings, allow_empty=False)

    def write() -> int:
        with ctx.store.transaction() as session:
            manifest = _existing_manifest(session, manifest_id)
            for position, (alg, value) in enumerate(canonical, start=1):
                if not repo.manifests_bound_to(session, alg, value):
                    raise NotFound(f"binding {position}: no manifest is bound to this {alg} value; "
                                   "POST /bindings creates a binding")
            override = _owned(session, principal, manifest, canonical)
            replaced = sum(repo.supersede_value(session, alg, value, keep=manifest_id, by=actor)
                           for alg, value in canonical)
            repo.add_bindings(session, manifest_id, canonical, actor)
            audit.record_event(session, actor, "manifest.bindings.replace", f"manifest:{manifest_id}",
                               bindings=len(canonical), replaced=replaced,
                               algs=sorted({alg for alg, _ in canonical}),
                               **({"override": True} if override else {}))
            return len(canonical)

    return _retrying_races(write)  # type: ignore[no-any-return]


def binding_history(ctx: ServiceContext, alg: str, value: str) -> list[BindingHistory]:
    """Every binding one value has had, oldest first: current ones and superseded ones."""
    alg = check_alg(alg)
    canonical = canonical_value(alg, value)
    with ctx.store.transaction() as session:
        rows = repo.binding_history(session, alg, canonical)
    return [BindingHistory(row.manifest_id, row.added_at, row.added_by, row.superseded_at, row.superseded_by)
            for row in rows]


# --- Reads ---------------------------------------------------------------------------------


def get_manifest(ctx: ServiceContext, manifest_id: str, principal: Principal | None) -> ManifestRecord:
    """A registered manifest store and its metadata; ``NotFound`` if none. Open to everyone;
    audit-logged under ``principal`` (None: the public)."""
    check_manifest_id(manifest_id)
    with ctx.store.transaction() as session:
        manifest = _existing_manifest(session, manifest_id)
        record = _record(manifest, repo.bindings_of(session, [manifest_id])[manifest_id])
    ctx.read_audit.record(actor_of(principal), "manifest.fetch", f"manifest:{manifest_id}")
    return record


def _candidates(ctx: ServiceContext, alg: str, values: Sequence[str]) -> dict[str, int]:
    """``{manifest_id: similarity score}`` of the manifests the binding values find: a label id
    exactly; PDQ hashes (a file's query hashes) each against every PDQ binding, in one search,
    each manifest scored by its nearest binding to any of them."""
    if alg == WATERMARK_ALG:
        with ctx.store.transaction() as session:
            return {manifest_id: 100 for value in values
                    for manifest_id in repo.manifests_bound_to(session, alg, value)}
    threshold = ctx.settings.match.pdq_threshold
    hits = _pdq_bindings(ctx.store).search(ctx.store, values, threshold)
    if not hits:
        return {}
    with ctx.store.transaction() as session:
        # Confirm each hit against the store: a binding removed a moment ago is never reported.
        rows = repo.bindings_by_id(session, list({binding_id for binding_id, _ in hits}))
    scores: dict[str, int] = {}
    for binding_id, distance in hits:
        row = rows.get(binding_id)
        if row is not None and row.alg == PDQ_ALG:
            score = pdq_similarity(distance, threshold)
            scores[row.manifest_id] = max(score, scores.get(row.manifest_id, 0))
    return scores


def fingerprint_queries(media: MediaSignals, min_quality: int) -> list[str]:
    """The PDQ hashes a lookup by content searches, for an image hashed with ``derived_queries``
    and ``region_queries``: its own hash first, then its dihedral variants, its repost forms
    (borders trimmed, mirrored, caption cut, rotated back) and its region queries (its crops at
    the corners and the centre, rotated back, at the signed regions' scale), the same machinery
    as matching (``signals.repost``). Hashes below ``min_quality`` are left out (a flat hash
    matches noise), and none at all when the image's own hash is that weak. At most
    ``MAX_FINGERPRINT_QUERIES``, distinct."""
    if media.pdq is None or media.pdq.quality < min_quality:
        return []
    named = [*media.pdq_variants, *media.pdq_derived, *media.pdq_region_queries]
    hashes = [media.pdq.hex] + [value.hex for _, value in named if value.quality >= min_quality]
    return list(dict.fromkeys(hashes))[:MAX_FINGERPRINT_QUERIES]


def nearest_distance(queries: Sequence[str], hashes: Sequence[str]) -> int:
    """The smallest Hamming distance between any of ``queries`` and any of ``hashes`` (PDQ hex;
    257 when either is empty)."""
    if not queries or not hashes:
        return PDQ_BITS + 1
    left = np.frombuffer(b"".join(bytes.fromhex(value) for value in queries), np.uint8).reshape(-1, 32)
    right = np.frombuffer(b"".join(bytes.fromhex(value) for value in hashes), np.uint8).reshape(-1, 32)
    differing = np.unpackbits(left[:, None, :] ^ right[None, :, :], axis=2)  # numpy 1.26 has no bitwise_count
    return int(differing.sum(axis=2, dtype=np.int32).min())


def _ranked(found: dict[str, tuple[int, str]], max_results: int) -> list[BindingMatch]:
    ordered = sorted(found.items(), key=lambda item: (-item[1][0], item[0]))
    return [BindingMatch(manifest_id, score, alg) for manifest_id, (score, alg) in ordered[:max_results]]


def matches_by_binding(ctx: ServiceContext, alg: str, value: str, max_results: int,
                       principal: Principal | None) -> list[BindingMatch]:
    """Manifests bound to one soft-binding value, strongest first, at most ``max_results``.

    A watermark label id matches exactly (score 100); a PDQ hash matches every PDQ binding within
    the matcher's threshold (``pdq_similarity``). Open to everyone; audit-logged under
    ``principal`` (None: the public), without the value.
    """
    alg = check_alg(alg)
    canonical = canonical_value(alg, value)
    _check_max_results(max_results)
    found = {manifest_id: (score, alg) for manifest_id, score in _candidates(ctx, alg, [canonical]).items()}
    matches = _ranked(found, max_results)
    ctx.read_audit.record(actor_of(principal), "manifest.match.binding", "", alg=alg, matches=len(matches))
    return matches


def matches_by_fingerprints(ctx: ServiceContext, values: Sequence[str], max_results: int,
                            principal: Principal | None) -> list[BindingMatch]:
    """Manifests with a PDQ binding within the threshold of any of ``values``, strongest first
    (each by its nearest binding), at most ``max_results``.

    ``values`` are one file's query hashes (``fingerprint_queries``: its own hash first), so a
    mirrored, cropped, rotated or captioned copy of a labelled output meets the whole image's or
    a region's fingerprint; at most ``MAX_FINGERPRINT_QUERIES`` of them (``InvalidRequest``
    beyond), searched in one pass over the bindings. Open to everyone; audit-logged under
    ``principal`` (None: the public), with the number of hashes, never their values.
    """
    _check_max_results(max_results)
    if not values:
        raise InvalidRequest("send at least one PDQ hash")
    if len(values) > MAX_FINGERPRINT_QUERIES:
        raise InvalidRequest(f"send at most {MAX_FINGERPRINT_QUERIES} PDQ hashes per lookup")
    canonical = list(dict.fromkeys(canonical_value(PDQ_ALG, value) for value in values))
    found = {manifest_id: (score, PDQ_ALG)
             for manifest_id, score in _candidates(ctx, PDQ_ALG, canonical).items()}
    matches = _ranked(found, max_results)
    ctx.read_audit.record(actor_of(principal), "manifest.match.fingerprints", "", hashes=len(canonical),
                          matches=len(matches))
    return matches


def matches_by_content(ctx: ServiceContext, data: bytes, max_results: int, principal: Principal | None,
                       alg: str | None = None, *, hint_alg: str | None = None,
                       hint_value: str | None = None) -> list[BindingMatch]:
    """Manifests whose soft bindings match an uploaded image or video, strongest first.

    The upload is checked against the media limits, read for the watermark and (images) hashed
    with PDQ, in memory; it is never stored. ``alg`` restricts the query to one algorithm. A hint
    (``hint_alg``, ``hint_value``) stands in for a value the server could not read itself.

    The watermark is read with this repository's keys (``watermark_keys.reading_keys``: the
    public key and every provider's active key), and every mark read counts. A mark read with key
    K finds only manifests whose label was marked with K (``watermark_key_id``; None counts as
    ``public``): a public-key mark never finds a secret-key manifest, nor the other way round,
    since anyone can put any label id into a public mark. A watermark hint is a mark read
    offline, so with the public key.

    The matching rule: a manifest is found by any one binding that matches, and then dropped if
    the upload contradicts another of its bindings, i.e. marks of the manifest's key were read
    but none carries its label id, or the upload's PDQ hash is beyond the threshold from each of
    the manifest's PDQ bindings. An unreadable watermark contradicts nothing: it may have been
    removed; nor does a mark of another key: anyone can add a public mark. This guards against a
    watermark copied onto another picture. Open to everyone; audit-logged under ``principal``
    (None: the public).
    """
    _check_max_results(max_results)
    wanted = SUPPORTED_ALGS if alg is None else (check_alg(alg),)
    if (hint_alg is None) != (hint_value is None):
        raise InvalidRequest("send hintAlg and hintValue together")
    hint = None
    if hint_alg is not None and hint_value is not None:
        checked_hint = check_alg(hint_alg)
        hint = (checked_hint, canonical_value(checked_hint, hint_value))
    if not data:
        raise EmptyMedia("the uploaded file is empty (0 bytes)")
    kind = sniff_media_type(data[:64]).kind
    limits = ctx.settings.limits
    observed: dict[str, str] = {}
    marks_read: list[tuple[str, str]] = []  # (label id, key id) of every mark read
    if WATERMARK_ALG in wanted:
        try:
            report = detect_watermark(data, limits, watermark_keys.reading_keys(ctx))
        except InvalidRequest:  # too small to carry the mark: nothing read
            report = None
        if report is not None:
            marks_read = [(mark.payload_hex, mark.key_id) for mark in report.marks]
    pdq_queries: list[str] = []  # the upload's own PDQ hash first, then its repost and region queries
    if PDQ_ALG in wanted and kind is MediaKind.IMAGE:
        # A flat image's hash matches noise; the matcher refuses such hashes too.
        pdq_queries = fingerprint_queries(hash_media(data, limits, derived_queries=True, region_queries=True),
                                          ctx.settings.match.pdq_min_quality)
        if pdq_queries:
            observed[PDQ_ALG] = pdq_queries[0]
    if hint is not None and hint[0] in wanted:
        if hint[0] != WATERMARK_ALG:
            observed.setdefault(hint[0], hint[1])
        elif not marks_read:  # a label id read offline, where only the public key reads
            marks_read = [(hint[1], PUBLIC_KEY_ID)]

    found: dict[str, tuple[int, str]] = {}
    for label_id, key_id in marks_read:
        for manifest_id in _marked_with(ctx, label_id, key_id):
            found[manifest_id] = (100, WATERMARK_ALG)
    if PDQ_ALG in observed and not pdq_queries:  # a hint: the one hash given
        pdq_queries = [observed[PDQ_ALG]]
    for observed_alg, value in observed.items():
        values = pdq_queries if observed_alg == PDQ_ALG else [value]
        for manifest_id, score in _candidates(ctx, observed_alg, values).items():
            if manifest_id not in found or score > found[manifest_id][0]:
                found[manifest_id] = (score, observed_alg)
    if found:
        with ctx.store.transaction() as session:
            bound = repo.bindings_of(session, found)
            key_of = _watermark_key_ids(session, found)
        threshold = ctx.settings.match.pdq_threshold
        for manifest_id, bindings in bound.items():
            marks = {value for binding_alg, value in bindings if binding_alg == WATERMARK_ALG}
            hashes = [value for binding_alg, value in bindings if binding_alg == PDQ_ALG]
            read_marks = {label_id for label_id, key_id in marks_read if key_id == key_of[manifest_id]}
            if ((read_marks and marks and not read_marks & marks)
                    or (pdq_queries and hashes and nearest_distance(pdq_queries, hashes) > threshold)):
                del found[manifest_id]
    matches = _ranked(found, max_results)
    ctx.read_audit.record(actor_of(principal), "manifest.match.content", "", kind=kind.value,
                          watermark_read=bool(marks_read), marks=len(marks_read), matches=len(matches))
    return matches


@dataclass(frozen=True)
class PlacedMatch:
    """A labelled output whose keypoints place a copy: where the copy lies in it (``box``: x, y,
    width, height as fractions of the output) and how many matched keypoints agree."""

    manifest_id: str
    box: tuple[float, float, float, float]
    inliers: int


def matches_by_keypoints(ctx: ServiceContext, copy: local_features.Keypoints, max_results: int,
                         principal: Principal | None) -> list[PlacedMatch]:
    """Labelled outputs that a copy (its keypoints ``copy``) is placed in by its local features,
    most agreeing keypoints first, at most ``max_results``.

    The sets sharing the most descriptors (``KEYPOINT_CANDIDATES`` at most) are each fitted
    (``signals.keypoints.locate``); a set is a match when enough keypoints agree on an upright
    place. A match says only where the copy would lie: whether it is a crop of that output is
    for the manifest's signed regions to say (``verification``). The work is bounded: at most
    ``signals.keypoints.QUERY_KEYPOINTS`` descriptors, one scan of the index, a few fits. Open to
    everyone; audit-logged under ``principal`` (None: the public), with counts only.
    """
    _check_max_results(max_results)
    if len(copy) > local_features.QUERY_KEYPOINTS:
        raise InvalidRequest(f"send at most {local_features.QUERY_KEYPOINTS} keypoints per lookup")
    found: list[PlacedMatch] = []
    sets = _keypoint_sets(ctx.store).candidates(ctx.store, copy.descriptors, KEYPOINT_CANDIDATES) \
        if len(copy) >= local_features.MIN_INLIERS else []  # fewer could never be placed
    for manifest_id, stored, _votes in sets:
        located = local_features.locate(copy, stored)
        if located is not None:
            found.append(PlacedMatch(manifest_id, located.box, located.inliers))
    found.sort(key=lambda match: (-match.inliers, match.manifest_id))
    matches = found[:max_results]
    ctx.read_audit.record(actor_of(principal), "manifest.match.keypoints", "", keypoints=len(copy),
                          matches=len(matches))
    return matches


def _marked_with(ctx: ServiceContext, label_id: str, key_id: str) -> list[str]:
    """The manifests bound to ``label_id`` whose label was marked with key ``key_id``."""
    with ctx.store.transaction() as session:
        bound = repo.manifests_bound_to(session, WATERMARK_ALG, label_id)
        key_of = _watermark_key_ids(session, bound)
    return [manifest_id for manifest_id in bound if key_of[manifest_id] == key_id]


def _watermark_key_ids(session: Any, manifest_ids: Iterable[str]) -> dict[str, str]:
    """``{manifest id: the key of its label's mark}`` (``public`` where the registrant said none)."""
    found = {}
    for manifest_id in manifest_ids:
        manifest = repo.get_manifest(session, manifest_id)
        found[manifest_id] = manifest_key_id(manifest.watermark_key_id if manifest is not None else None)
    return found
