"""Finding the source: which registered picture or video a suspect file was made from (issue 16).

A face-swap keeps the body, the room and the framing of a source picture. Given a suspect file,
``find_sources`` looks for that source in the corpora this installation holds, ranks what it
finds, and says for each candidate where it was found, by which signal and how near:

- **the reference library**: the banks ``settings.sources.reference_banks`` names, of known
  source footage that a helpline or platform keeps. Each entry names its reference by its case
  reference: a path below ``settings.sources.library`` (then the file can be fetched and compared)
  or a title. Searched by hash (the matcher's PDQ queries with their dihedral and repost variants,
  exact digests, vPDQ frames) and, for references whose file is reachable, by **local features**
  (below);
- **the content registry** (items registered by hash only): by PDQ with the same query variants,
  and by exact digests. Only the roles that already see the registry's items through sweeps
  (``Action.CONTENT_SWEEP``: admin, platform) get this part.

**Why local features.** A replaced face moves a picture's PDQ hash far: over 60 edited and reposted
photos and portraits, PDQ with every query variant found 12 of 120 sources, and none of the
portraits. ORB keypoints (``signals.keypoints``) are matched one by one, so those of the replaced
region simply find no partner while those of the body and the room still agree on one geometry:
the same files found 112 of 120 (docs/FORENSICS.md, "Finding the source"). Where the caller knows
where the faces are, the suspect's keypoints inside them are left out, so a donor face's features
do not vote. The features need pixels: they are taken from the reference files themselves, held in
memory per service context (never stored), and only for images.

**Bounds.** At most ``MAX_CANDIDATES`` candidates; a suspect video's frames are searched up to
``MAX_QUERY_FRAMES`` (evenly spread); at most ``MAX_FEATURE_REFERENCES`` references are held in
the feature index, and one search spends at most ``INDEX_SECONDS`` reading new reference files (the
rest are read by the searches after it, and the answer says the index is incomplete).

A candidate is a lead, not a finding: ``compare_candidates`` lays each reachable one onto the
suspect with ``compare_with_source``, which says whether the suspect *is* that picture with a region
replaced. Nothing is stored; the audit log records who searched and counts, never a hash.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from deepshield.cases.references import claims_case_prefix
from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media import MediaKind, decode_image, read_media_file, sniff_media_type
from deepshield.services.access import Action, Principal, authorize, roles_for
from deepshield.services.context import PerContext, ServiceContext
from deepshield.services.spread import copy_sweep
from deepshield.services.spread.hashing import MediaSignals, hash_image, hash_media
from deepshield.services.spread.live_index import Match, MatchQuery
from deepshield.services.spread.matching import query_from_media
from deepshield.services.verify.source_comparison import SourceComparison, compare_with_source
from deepshield.signals import keypoints as features
from deepshield.signals.pdq import pdq_distance
from deepshield.signals.types import SignalType
from deepshield.signals.vpdq import unique_good_frames
from deepshield.store import content_repository as content_repo
from deepshield.store import reference_repository as reference_repo

#: The most candidates one search returns (and the default).
MAX_CANDIDATES = 20
DEFAULT_CANDIDATES = 5
#: A suspect video's frames searched at most (evenly spread over the video).
MAX_QUERY_FRAMES = 120
#: References held in one context's feature index (400 keypoints each: 13 kB).
MAX_FEATURE_REFERENCES = 5000
#: Seconds one search may spend reading and describing reference files not yet in the index.
INDEX_SECONDS = 10.0
#: Keypoints taken from each reference file (more than a label keeps: a replaced face removes some).
REFERENCE_KEYPOINTS = 400
#: References whose features are checked geometrically per search, and the votes they need first.
FEATURE_SHORTLIST = 8
FEATURE_MIN_VOTES = 5
#: Reachable candidates ``compare_candidates`` compares at most.
MAX_COMPARED = 3

REFERENCE_LIBRARY = "reference_library"
CONTENT_REGISTRY = "content_registry"


@dataclass(frozen=True)
class SourceSignal:
    """How a candidate was found: one signal, and how near.

    ``signal``: ``md5`` or ``sha256`` (the same bytes), ``pdq`` (``variant`` names the query form
    that met it: a dihedral variant such as ``original`` or ``flip_x``, or a repost form such as
    ``trimmed``; ``distance`` in bits of 256), ``vpdq`` (``frames_matched`` of the suspect's
    ``frames_searched`` good frames met a frame of the reference; ``distance`` is their median
    distance) or ``keypoints`` (``inliers`` local features agree on one geometry; ``mirrored``
    when they agree with the suspect mirrored).
    """

    signal: str
    distance: int | None = None
    variant: str | None = None
    frames_matched: int | None = None
    frames_searched: int | None = None
    query_match_pct: float | None = None
    compared_match_pct: float | None = None
    inliers: int | None = None
    mirrored: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value is not None}


@dataclass(frozen=True)
class SourceCandidate:
    """A possible source. ``corpus`` is ``reference_library`` (``bank`` and ``reference``, the
    entry's name for it, with ``entry_ids``) or ``content_registry`` (``item_id`` and its
    ``status``). ``file`` is the reference's file when it is reachable (never shown to the API)."""

    rank: int
    corpus: str
    signals: tuple[SourceSignal, ...]
    bank: str | None = None
    reference: str | None = None
    entry_ids: tuple[int, ...] = ()
    item_id: str | None = None
    status: str | None = None
    file: Path | None = None

    @property
    def reachable(self) -> bool:
        return self.file is not None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"rank": self.rank, "corpus": self.corpus}
        if self.corpus == REFERENCE_LIBRARY:
            body.update(bank=self.bank, reference=self.reference, entry_ids=list(self.entry_ids),
                        reachable=self.reachable)
        else:
            body.update(item_id=self.item_id, status=self.status)
        body["signals"] = [signal.to_dict() for signal in self.signals]
        return body


@dataclass(frozen=True)
class SourceSearch:
    """The ranked candidates, what was searched, and what was left out."""

    kind: str  # image or video
    candidates: tuple[SourceCandidate, ...]
    searched: tuple[str, ...]  # corpora searched: reference_library, content_registry
    #: False when reference files were left out of the feature search (the index cap, or this
    #: search's time for reading new ones ran out): a later search covers more.
    features_complete: bool = True
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "searched": list(self.searched),
                "features_complete": self.features_complete, "warnings": list(self.warnings),
                "candidates": [candidate.to_dict() for candidate in self.candidates]}


@dataclass(frozen=True)
class ComparedCandidate:
    """A reachable candidate compared with the suspect: its comparison, or the error that stopped it."""

    candidate: SourceCandidate
    comparison: SourceComparison | None = None
    error: DeepShieldError | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"rank": self.candidate.rank, "reference": self.candidate.reference}
        if self.comparison is not None:
            body["comparison"] = self.comparison.to_dict()
        if self.error is not None:
            body["error"] = {"error": self.error.code, "detail": self.error.detail}
        return body


# --------------------------------------------------------------------------- reference files


def reference_file(library: Path | None, name: str | None) -> Path | None:
    """The file a reference's name points to below ``library``, or None: no library, no name, a
    case reference, a path leaving the library (``..``, a link out of it), or no such file."""
    if library is None or not name or claims_case_prefix(name):
        return None
    try:
        root = library.resolve()
        path = (root / name).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@dataclass
class _Reference:
    bank: str
    name: str
    stamp: tuple[int, int]  # the file's size and modification time when described
    keypoints: features.Keypoints


class ReferenceFeatures:
    """The local features of the reference library's reachable image files, in memory. Thread-safe.

    Caught up with the store before each search: references new to the store are read (within
    ``INDEX_SECONDS`` a search), those withdrawn or whose file changed are dropped. Files that are
    not images, or cannot be decoded, are remembered and skipped until they change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index = features_index()
        self._sets: dict[int, _Reference] = {}
        self._ids: dict[tuple[str, str], int] = {}
        self._skipped: dict[tuple[str, str], tuple[int, int]] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._sets)

    def search(self, ctx: ServiceContext, query: features.Keypoints, mirrored: features.Keypoints,
               deadline: float) -> tuple[list[tuple[str, str, SourceSignal]], bool]:
        """``(bank, reference name, keypoints signal)`` of the references the query's features
        place, and whether every reachable reference was in the index."""
        with self._lock:
            complete = self._sync(ctx, deadline)
            found: dict[int, SourceSignal] = {}
            for is_mirrored, keypoints in ((False, query), (True, mirrored)):
                if len(keypoints) < features.MIN_INLIERS:
                    continue
                for set_id, _votes in self._index.candidates(keypoints.descriptors, FEATURE_SHORTLIST,
                                                             FEATURE_MIN_VOTES):
                    located = features.locate(keypoints, self._sets[set_id].keypoints)
                    if located is None:
                        continue
                    best = found.get(set_id)
                    if best is None or (best.inliers or 0) < located.inliers:
                        found[set_id] = SourceSignal("keypoints", inliers=located.inliers,
                                                     mirrored=is_mirrored)
            return [(self._sets[set_id].bank, self._sets[set_id].name, signal)
                    for set_id, signal in found.items()], complete

    def _sync(self, ctx: ServiceContext, deadline: float) -> bool:
        library = ctx.settings.sources.library
        with ctx.store.transaction() as session:
            names = reference_repo.reference_names(session, ctx.settings.sources.reference_banks,
                                                    MAX_FEATURE_REFERENCES + 1)
        complete = len(names) <= MAX_FEATURE_REFERENCES
        wanted: dict[tuple[str, str], tuple[Path, tuple[int, int]]] = {}
        for bank, name in names[:MAX_FEATURE_REFERENCES]:
            path = reference_file(library, name)
            if path is None:
                continue
            try:
                status = path.stat()
            except OSError:
                continue
            wanted[(bank, name)] = (path, (status.st_size, status.st_mtime_ns))
        stale = [key for key, set_id in self._ids.items()
                 if key not in wanted or wanted[key][1] != self._sets[set_id].stamp]
        if stale:
            for key in stale:
                del self._sets[self._ids.pop(key)]
            self._rebuild()
        for key, (path, stamp) in wanted.items():
            if key in self._ids or self._skipped.get(key) == stamp:
                continue
            if time.monotonic() > deadline:
                return False
            keypoints = _file_keypoints(ctx, path)
            if keypoints is None or len(keypoints) < features.MIN_INLIERS:
                self._skipped[key] = stamp
                continue
            set_id, self._next_id = self._next_id, self._next_id + 1
            self._sets[set_id] = _Reference(key[0], key[1], stamp, keypoints)
            self._ids[key] = set_id
            self._index.add([(set_id, keypoints.descriptors)])
        return complete

    def _rebuild(self) -> None:
        # The index has no removal; dropping is rare (a withdrawal, a replaced file) and cheap.
        self._index = features_index()
        self._index.add((set_id, reference.keypoints.descriptors) for set_id, reference in self._sets.items())


def features_index() -> Any:
    from deepshield.index.keypoint_index import KeypointIndex  # faiss: only when features are searched

    return KeypointIndex()


def _file_keypoints(ctx: ServiceContext, path: Path) -> features.Keypoints | None:
    try:
        data = read_media_file(path, ctx.settings.limits.max_bytes)
        if sniff_media_type(data[:64]).kind is not MediaKind.IMAGE:
            return None  # video references are found by their vPDQ hashes
        pixels = decode_image(data, ctx.settings.limits, for_analysis=True).pixels
    except DeepShieldError:
        return None
    return features.keypoints(pixels, REFERENCE_KEYPOINTS)


#: The feature index of a context (empty until its first search), kept as copy_sweep keeps its
#: registry index.
reference_features: PerContext[ReferenceFeatures] = PerContext(ReferenceFeatures)


# --------------------------------------------------------------------------- the search


def may_search_registry(principal: Principal) -> bool:
    """Whether ``principal`` gets the content registry's part of a search: the roles that see its
    items through sweeps already (``Action.CONTENT_SWEEP``)."""
    return principal.role in roles_for(Action.CONTENT_SWEEP)


def _query_faces(keypoints: features.Keypoints, faces: Sequence[tuple[int, int, int, int]],
                 size: tuple[int, int]) -> features.Keypoints:
    """``keypoints`` without those inside the ``faces`` boxes (x, y, width, height in the file's
    pixels of ``size`` (width, height))."""
    if not faces or not len(keypoints):
        return keypoints
    width, height = size
    outside = np.ones(len(keypoints), bool)
    for x, y, box_width, box_height in faces:
        left, top = x / width, y / height
        right, bottom = (x + box_width) / width, (y + box_height) / height
        points = keypoints.points
        outside &= ~((points[:, 0] >= left) & (points[:, 0] <= right)
                     & (points[:, 1] >= top) & (points[:, 1] <= bottom))
    return features.Keypoints(keypoints.points[outside], keypoints.descriptors[outside], keypoints.size)


def _check_faces(faces: Sequence[Sequence[int]], size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    if len(faces) > 20:
        raise InvalidRequest("give at most 20 face boxes")
    boxes = []
    for position, face in enumerate(faces, start=1):
        if len(face) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in face):
            raise InvalidRequest(f"face {position}: a box is four whole numbers: x, y, width, height")
        x, y, width, height = face
        if width <= 0 or height <= 0 or x < 0 or y < 0 or x + width > size[0] or y + height > size[1]:
            raise InvalidRequest(f"face {position}: the box {x},{y},{width},{height} does not lie inside "
                                 f"the {size[0]}×{size[1]} picture")
        boxes.append((x, y, width, height))
    return boxes


def _spread_frames(query: MatchQuery) -> MatchQuery:
    if len(query.vpdq) <= MAX_QUERY_FRAMES:
        return query
    picks = np.linspace(0, len(query.vpdq) - 1, MAX_QUERY_FRAMES).round().astype(int)
    return replace(query, vpdq=[query.vpdq[i] for i in sorted(set(picks.tolist()))])


def _hash_signal(match: Match, frames_searched: int) -> SourceSignal:
    if match.signal_type == SignalType.VPDQ.value:
        matched = round((match.query_match_pct or 0.0) * frames_searched / 100)
        return SourceSignal("vpdq", distance=match.distance, variant=match.variant, frames_matched=matched,
                            frames_searched=frames_searched, query_match_pct=match.query_match_pct,
                            compared_match_pct=match.compared_match_pct)
    if match.signal_type == SignalType.PDQ.value:
        return SourceSignal("pdq", distance=match.distance, variant=match.variant)
    return SourceSignal(match.signal_type, distance=0)


def _registry_hits(ctx: ServiceContext, query: MatchQuery) -> dict[str, tuple[str, list[SourceSignal]]]:
    """Registry item id -> (status, signals) for the items the query's PDQ forms or digests meet.
    Every hit is read back and its distance recomputed from the stored value."""
    threshold = ctx.settings.match.pdq_threshold
    hexes = [value for _, value in query.pdq_variants]
    found: dict[str, tuple[str, list[SourceSignal]]] = {}
    with ctx.store.transaction() as session:
        hits = copy_sweep.content_index(ctx).search(session, hexes, threshold) if hexes else []
        rows = {row.id: row for row in content_repo.rows_by_ids(session, {hit.item_id for hit in hits})}
        best: dict[str, SourceSignal] = {}
        status: dict[str, str] = {}
        for hit in hits:
            row = rows.get(hit.item_id)
            if row is None or row.signal_type != SignalType.PDQ.value:
                continue
            distance = pdq_distance(hexes[hit.query_position], row.value)
            if distance > threshold:
                continue
            status[row.item_id] = row.status
            current = best.get(row.item_id)
            variant = query.pdq_variants[hit.query_position][0]
            if current is None or (distance, variant != "original") < (current.distance or 0,
                                                                         current.variant != "original"):
                best[row.item_id] = SourceSignal("pdq", distance=distance, variant=variant)
        for item_id, signal in best.items():
            found[item_id] = (status[item_id], [signal])
        for signal_type, value in ((SignalType.MD5, query.md5), (SignalType.SHA256, query.sha256)):
            if not value:
                continue
            digest = content_repo.value_digest(value)
            for row in content_repo.rows_by_digest(session, signal_type.value, [digest]):
                if row.value != value:
                    continue
                entry = found.setdefault(row.item_id, (row.status, []))
                if all(s.signal != signal_type.value for s in entry[1]):
                    entry[1].append(SourceSignal(signal_type.value, distance=0))
        statuses = content_repo.item_statuses(session, found)
    return {item_id: (statuses.get(item_id, status_), signals)
            for item_id, (status_, signals) in found.items()}


def _order(signals: Sequence[SourceSignal]) -> tuple[int, float]:
    """A candidate's sort key from its best signal: the same bytes, then PDQ and vPDQ by distance,
    then local features by how many agree (hash signals are the stronger evidence of the same
    picture; features also find a picture whose hash the edit moved)."""
    keys = []
    for signal in signals:
        if signal.signal in (SignalType.MD5.value, SignalType.SHA256.value):
            keys.append((0, 0.0))
        elif signal.signal in (SignalType.PDQ.value, SignalType.VPDQ.value):
            keys.append((1, float(signal.distance or 0) - (signal.query_match_pct or 0.0) / 1000))
        else:
            keys.append((2, -float(signal.inliers or 0)))
    return min(keys)


def find_sources(ctx: ServiceContext, data: bytes, *, principal: Principal, limit: int = DEFAULT_CANDIDATES,
                 faces: Sequence[Sequence[int]] = ()) -> SourceSearch:
    """The registered pictures or videos that ``data`` (a suspect image or video, never stored) may
    have been made from, best first, at most ``limit`` (1 to ``MAX_CANDIDATES``).

    ``Forbidden`` before any work unless ``principal`` may (``Action.SOURCE_SEARCH``: admin,
    platform, helpline); the content registry is searched only for ``may_search_registry``'s
    roles. ``faces``: boxes (x, y, width, height in the file's pixels) where the caller knows a
    face to be; the suspect's features inside them are left out (images only). Media errors are
    raised before any search. Audit-logged with counts only.
    """
    authorize(principal, Action.SOURCE_SEARCH)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_CANDIDATES:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_CANDIDATES}; got {limit!r}")
    if not data:
        raise InvalidRequest("the file is empty (0 bytes)")
    settings = ctx.settings
    started = time.monotonic()
    pixels = None
    if sniff_media_type(data[:64]).kind is MediaKind.IMAGE:
        decoded = decode_image(data, settings.limits, for_analysis=True)
        media: MediaSignals = hash_image(data, decoded, derived_queries=settings.match.repost_queries)
        pixels = decoded.pixels
        boxes = _check_faces(faces, (decoded.width, decoded.height))
    else:
        if faces:
            raise InvalidRequest("face boxes are taken for images only")
        media = hash_media(data, settings.limits, seconds_per_video_hash=settings.seconds_per_video_hash)
        boxes = []
    query, warnings = query_from_media(media, settings.match.pdq_min_quality)
    query = _spread_frames(query)
    frames_searched = len(unique_good_frames(query.vpdq, settings.match.pdq_min_quality))
    if len(media.vpdq) > len(query.vpdq):
        warnings.append(f"the video's {len(media.vpdq)} hashed frames were searched at "
                        f"{len(query.vpdq)} evenly spread ones")

    reference_banks = set(settings.sources.reference_banks)
    library = settings.sources.library
    # The reference library by hash: the matcher's own query (every variant), kept to its banks.
    matches = [m for m in ctx.matcher.match(query) if m.bank in reference_banks]
    with ctx.store.transaction() as session:
        names = reference_repo.entry_references(session, [m.entry_id for m in matches])
    references: dict[tuple[str, str], tuple[list[int], list[SourceSignal]]] = defaultdict(lambda: ([], []))
    for match in matches:
        name = names.get(match.entry_id) or f"entry:{match.entry_id}"  # an entry naming no reference
        entry_ids, signals = references[(match.bank, name)]
        entry_ids.append(match.entry_id)
        signal = _hash_signal(match, frames_searched)
        same = [s for s in signals if s.signal == signal.signal]
        if not same:
            signals.append(signal)
        elif _order([signal]) < _order(same):
            signals[signals.index(same[0])] = signal

    # The reference library by local features (images; reachable reference files only).
    features_complete = True
    if pixels is not None and library is not None:
        keypoints = _query_faces(features.keypoints(pixels, features.QUERY_KEYPOINTS), boxes,
                                 (decoded.width, decoded.height))
        mirrored_pixels = np.ascontiguousarray(pixels[:, ::-1])
        mirrored = features.keypoints(mirrored_pixels, features.QUERY_KEYPOINTS)
        if boxes:
            width = decoded.width
            mirrored = _query_faces(mirrored, [(width - x - w, y, w, h) for x, y, w, h in boxes],
                                    (decoded.width, decoded.height))
        found, features_complete = reference_features(ctx).search(ctx, keypoints, mirrored,
                                                                  started + INDEX_SECONDS)
        for bank, name, signal in found:
            references[(bank, name)][1].append(signal)
        if not features_complete:
            warnings.append("some reference files were not yet in the feature index (it is read a "
                            "little at each search): search again for the rest")

    candidates: list[SourceCandidate] = []
    for (bank, name), (entry_ids, signals) in references.items():
        candidates.append(SourceCandidate(0, REFERENCE_LIBRARY, tuple(signals), bank=bank, reference=name,
                                          entry_ids=tuple(sorted(set(entry_ids))),
                                          file=reference_file(library, name)))
    searched = [REFERENCE_LIBRARY]
    if may_search_registry(principal):
        searched.append(CONTENT_REGISTRY)
        for item_id, (status, signals) in _registry_hits(ctx, query).items():
            candidates.append(SourceCandidate(0, CONTENT_REGISTRY, tuple(signals), item_id=item_id,
                                              status=status))
    candidates.sort(key=lambda c: (_order(c.signals), c.corpus, c.bank or "", c.reference or "",
                                   c.item_id or ""))
    ranked = tuple(replace(candidate, rank=position)
                   for position, candidate in enumerate(candidates[:limit], start=1))
    ctx.read_audit.record(principal.actor, "forensics.sources", "", kind=media.kind.value,
                          candidates=len(ranked), found=len(candidates),
                          reference_library=sum(c.corpus == REFERENCE_LIBRARY for c in ranked),
                          content_registry=sum(c.corpus == CONTENT_REGISTRY for c in ranked))
    return SourceSearch(media.kind.value, ranked, tuple(searched), features_complete, tuple(warnings))


def compare_candidates(ctx: ServiceContext, data: bytes, search: SourceSearch, *, principal: Principal,
                       suspect_name: str | None = None,
                       at_most: int = MAX_COMPARED) -> list[ComparedCandidate]:
    """Compare ``data`` with each reachable candidate of ``search`` (at most ``at_most``, by rank),
    with ``compare_with_source`` (which authorises and audit-logs each). A candidate that cannot
    be compared (a file that no longer decodes, a kind the comparison refuses) carries its error."""
    authorize(principal, Action.SOURCE_SEARCH)
    compared: list[ComparedCandidate] = []
    reachable = [c for c in search.candidates if c.file is not None][:max(0, min(at_most, MAX_CANDIDATES))]
    for candidate in reachable:
        assert candidate.file is not None
        try:
            source = read_media_file(candidate.file, ctx.settings.limits.max_bytes)
            result = compare_with_source(ctx, data, source, principal=principal, suspect_name=suspect_name,
                                         source_name=candidate.reference)
            compared.append(ComparedCandidate(candidate, comparison=result))
        except DeepShieldError as error:
            compared.append(ComparedCandidate(candidate, error=error))
    return compared


__all__ = ["ComparedCandidate", "SourceCandidate", "SourceSearch", "SourceSignal", "compare_candidates",
           "find_sources", "may_search_registry", "reference_features", "reference_file"]
