"""Use case: verify any image or video. Does it carry a label, valid or forged? Who made it,
and when? One report per file, with a verdict in plain words and the reasons behind it.

The four verdicts (the exit codes of ``deepshield verify`` follow them):

* ``verified``: an embedded C2PA manifest, signed by a trusted signer, intact, stating the
  content was made by a trained algorithm, and agreeing with any watermark found;
* ``recovered``: no manifest in the file, but the watermark's label id or the fingerprint
  leads to a manifest in the repository, that manifest's own signature is valid and trusted,
  its signed soft bindings name the label id or the fingerprint, and the file is consistent
  with it;
* ``invalid``: a label is there but something is wrong: an untrusted, expired or forged
  signature (embedded or recovered), tampered content, a watermark whose label is not
  registered or not confirmed by its manifest, or a watermark copied onto different content;
* ``unknown``: no label found, or a label (a watermark, a fingerprint) that the file resembles
  too little to attribute it: a blend, a collage or an edit (``image_attribution``). This
  never means the content is authentic.

A forged, untrusted, expired, copied or tampered label never yields ``verified`` or ``recovered``.

Watermarks are keyed (docs/WATERMARK_KEYS.md). With this installation's repository, the file is
read with its keys: the public key and every provider's secret key. With a remote repository
this installation holds no provider key: it reads the public key only, and sends a file without
an embedded manifest to the remote repository's ``byContent``, which reads it with the providers'
keys (in memory; nothing is stored). A mark read with key K is attributed only to a manifest that
signs K as its mark's key (an attacker can put any label id into a public-key mark). Every mark
read is reported; when an image was marked again (another key, or a second slot), a mark leading
to a valid manifest that fits the file still recovers the label, and the reasons name the others.

The repository is this installation's manifest registry, or the remote one at
``DEEPSHIELD_MANIFEST_REPOSITORY_URL`` (a ``ManifestSource`` either way). A remote repository
that cannot be reached is a warning where the verdict does not depend on it (an embedded
manifest), and ``RepositoryUnavailable`` (exit code 6, HTTP 503) where it does (a stripped
file: its watermark or fingerprint can only be confirmed by the repository).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from deepshield.errors import DeepShieldError, InvalidRequest, InvalidSignal, NotFound, RateLimited
from deepshield.media import DecodedImage, MediaKind, decode_image
from deepshield.media.sniff import sniff_media_type
from deepshield.provenance.certificates import load_trust_anchors
from deepshield.provenance.manifest import PDQ_BINDING_ALG, WATERMARK_BINDING_ALG
from deepshield.provenance.reading import (
    UNREADABLE_CODE,
    ManifestReport,
    read_content_credentials,
    read_manifest_store,
)
from deepshield.provenance.repository_client import RepositoryClient, RepositoryUnavailable
from deepshield.services.access import Action, Principal, actor_of, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.label import manifest_registry
from deepshield.services.label.watermark_keys import reading_keys
from deepshield.services.label.watermarking import detect_watermark
from deepshield.services.spread.hashing import MediaSignals, hash_image, hash_media
from deepshield.settings import Settings
from deepshield.signals import keypoints as local_features
from deepshield.signals.pdq import pdq_distance, pdq_hex_to_bytes
from deepshield.signals.placed_regions import is_placed_region, placed_queries
from deepshield.signals.repost import Region, shrink
from deepshield.signals.vpdq import unique_good_frames
from deepshield.watermark import PUBLIC_KEY, Placement, WatermarkKey, detect
from deepshield.watermark.analysis import MIN_DETECT_SHORT_SIDE
from deepshield.watermark.detection import MAX_ASPECT
from deepshield.watermark.keys import PUBLIC_KEY_ID

VERDICTS = ("verified", "recovered", "invalid", "unknown")

#: The signed fingerprints (the whole image's and its 74 region crops', ``signals.repost.
#: region_hashes``) and the file's (with its dihedral and repost variants) must come this close
#: for a watermark's label to count as this file's. Measured over 40 photos
#: (docs/PROVENANCE.md): genuine copies after compression, resizing and rotation ≤ 24 bits,
#: after a 90 % crop ≤ 50, after a 75 % crop ≤ 74; unrelated images (a label copied onto other
#: content) ≥ 88, median 102.
CONSISTENCY_MAX_DISTANCE = 76
#: Attribution (``image_attribution``): nearer than 76 bits is not enough to say "this label's
#: picture". Alpha blends of 40-60 % with an unrelated photo come 14-112 bits from the whole image
#: and their best region alike (a region at most 22 bits nearer than the whole). A copy is attributed when its
#: whole-image fingerprint is near (genuine re-encodes, resizes, screenshots: at most 26 bits), when
#: one signed region is far nearer than the whole (genuine crops: 24-108 bits nearer), or when one
#: region is near-exact (2° rotations, straightened by the repost variants: at most 18; blends at
#: least 20). Measured on 40 real photos by bench/blend_calibration.py (docs/PROVENANCE.md).
WHOLE_MATCH_MAX_DISTANCE = 26
CROP_MATCH_MAX_DISTANCE = CONSISTENCY_MAX_DISTANCE
CROP_MIN_GAP = 26
NEAR_REGION_MAX_DISTANCE = 16
#: Repost and region queries weaker than PDQ's quality minimum (DEEPSHIELD_PDQ_MIN_QUALITY's
#: default) take no part in attribution (``attribution_candidates``).
ATTRIBUTION_MIN_QUALITY = 50
#: A region query (``repost.region_queries``) counts in attribution only within PDQ's own match
#: threshold of a signed region. Genuine crops and rotations meet theirs within 28 bits
#: (bench/fingerprint_recovery.py); but 56 queries against 94 regions also bring unrelated
#: content within 66-72 bits of some region, 26 nearer than its whole image, which the crop rule
#: would attribute (bench/blend_calibration.py: 3 of 1,140 impostors, on the watermark path).
REGION_QUERY_MAX_DISTANCE = 31
#: Placed attribution (``placed_attribution``): a watermark read from a crop places it in the
#: labelled output; the signed regions that lie wholly inside it (at least ``PLACED_MIN_REGIONS``
#: of them, PDQ quality ≥ ``ATTRIBUTION_MIN_QUALITY``) are compared with the file's own parts
#: where they lie, and their median distance must be within the whole image's bar. Only for a
#: file that covers at most ``PLACED_MAX_SPAN`` of the output on some side (uncropped copies
#: have the whole-image rule). Measured on 60 photos at 512 px and 40 at 1080p (crops keeping
#: 60 % and 70 % of each side at random places, as PNG and WebP 80, their mark read): the median
#: is within 26 bits for 89-100 % of them, within 31 for 92-100 %; for 70/30 blends with another
#: photo so cropped, 10-13 % and 20 %; for the label's mark made on another photo, none at any
#: bar. The whole image's own bar (26) is kept. bench/placed_crops.py runs it through verify.
PLACED_MIN_REGIONS = 2
PLACED_MATCH_MAX_DISTANCE = WHOLE_MATCH_MAX_DISTANCE
PLACED_MAX_SPAN = 0.95
#: Bounds on the work a manifest can ask of one verification (a label signs 143 regions and gives
#: one place): the first ``PLACED_MAX_REGIONS`` region blocks, the first ``PLACED_MAX_BOXES``
#: places, and outputs no longer than the detector's ``MAX_ASPECT`` times their short side.
PLACED_MAX_REGIONS = 256
PLACED_MAX_BOXES = 4
#: The copy of a file's pixels kept for placed comparison (long side, pixels): finer than the
#: signed regions' 256, so each region is cut to a pixel of the copy (``placed_queries``).
PLACED_PIXELS_MAX_SIDE = 512
#: Videos: a sampled frame matches a signed one within PDQ's own threshold, and at least half of
#: a copy's good frames must match (excerpts and re-encodes keep nearly all of theirs).
VIDEO_FRAME_MAX_DISTANCE = 31
VIDEO_CONSISTENT_SHARE = 0.5
VIDEO_MIN_QUALITY = 50
#: How many repository candidates a lookup considers (each one is fetched and validated).
_MAX_CANDIDATES = 5
#: How long one request to a remote repository may take before it counts as unreachable.
REMOTE_TIMEOUT_S = 10.0
_SOURCE_TYPE_AI = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
                   "algorithmicMedia")
_LABEL_ID = re.compile(r"^[0-9a-fA-F]{16}$")
_PDQ_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


@dataclass
class VerifyReport:
    verdict: str
    summary: str  # the verdict in plain words
    reasons: list[str]
    media: dict[str, Any]
    manifest: dict[str, Any] | None  # the embedded manifest, None when there is none
    watermark: dict[str, Any]
    repository: dict[str, Any]
    consistency: dict[str, Any] | None
    made_by: dict[str, Any] | None  # generator, model, signer, created_at: from whichever layer
    file: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        view = asdict(self)
        if self.file is None:
            view.pop("file")
        return view


def trust_anchors(settings: Settings) -> bytes:
    """The trusted roots: the configured bundle, else ``keys init``'s (empty if neither)."""
    path = settings.provenance.trust_anchors or settings.provenance_dir / "trust-anchors.pem"
    return load_trust_anchors(Path(path))


# --- Where manifests come from -------------------------------------------------------------


@dataclass(frozen=True)
class SourceMatch:
    manifest_id: str
    alg: str  # the soft-binding algorithm that found it
    similarity_score: int | None  # 0-100; None where a remote repository gives none


@dataclass(frozen=True)
class StoredManifest:
    manifest_id: str
    manifest_store: bytes  # application/c2pa, as registered
    registered_at: str | None  # ISO 8601; None where the repository does not say (remote)
    registered_by: str | None  # the registering actor; None for a remote repository


class ManifestSource(Protocol):
    """A manifest repository, as verification uses it: soft-binding lookups and store fetches.

    Only the manifest store is taken from a source; everything the report says about a recovered
    manifest (generator, model, created_at, label id, bindings, signer) is read from the store
    itself, so local and remote reports have the same shape and rest on the same signed facts.
    """

    @property
    def location(self) -> str:
        """``"local"``, or the remote repository's URL."""
        ...

    def matches(self, alg: str, value: str, max_results: int) -> list[SourceMatch]:
        """Manifests bound to ``value``, strongest first. A remote source raises
        ``RepositoryUnavailable`` (or ``RateLimited``) when it cannot answer."""
        ...

    def fetch(self, manifest_id: str) -> StoredManifest:
        """The registered manifest store; ``NotFound`` if there is none."""
        ...

    def fingerprint_matches(self, values: Sequence[str], data: bytes | None, content_type: str,
                            max_results: int) -> list[SourceMatch]:
        """Manifests with a PDQ binding near any of a file's query hashes (``values``, its own
        hash first: ``manifest_registry.fingerprint_queries``), strongest first. ``data``, the file
        itself, may go to a remote repository instead of the hashes (``None``: never)."""
        ...

    def close(self) -> None: ...


class LocalManifests:
    """This installation's manifest registry (reads are audit-logged under ``principal``; None:
    the public)."""

    location = "local"

    def __init__(self, ctx: ServiceContext, principal: Principal | None) -> None:
        self._ctx, self._principal = ctx, principal

    def matches(self, alg: str, value: str, max_results: int) -> list[SourceMatch]:
        return [SourceMatch(match.manifest_id, match.alg, match.similarity_score)
                for match in manifest_registry.matches_by_binding(self._ctx, alg, value, max_results,
                                                                  self._principal)]

    def fetch(self, manifest_id: str) -> StoredManifest:
        record = manifest_registry.get_manifest(self._ctx, manifest_id, self._principal)
        return StoredManifest(record.manifest_id, record.manifest_store, record.registered_at.isoformat(),
                              record.registered_by)

    def fingerprint_matches(self, values: Sequence[str], data: bytes | None, content_type: str,
                            max_results: int) -> list[SourceMatch]:
        """Every query hash against every PDQ binding, in one search of the registry."""
        return [SourceMatch(match.manifest_id, match.alg, match.similarity_score)
                for match in manifest_registry.matches_by_fingerprints(self._ctx, values, max_results,
                                                                       self._principal)]

    def placed_matches(self, copy: local_features.Keypoints, max_results: int
                       ) -> list[manifest_registry.PlacedMatch]:
        """Labelled outputs whose registered keypoints place the copy (``matches_by_keypoints``)."""
        return manifest_registry.matches_by_keypoints(self._ctx, copy, max_results, self._principal)

    def close(self) -> None:
        pass


class RemoteManifests:
    """A remote C2PA Soft Binding Resolution API, through ``RepositoryClient``.

    A match's ``endpoint`` (another repository holding the manifest) is not followed: the store
    is fetched from this repository only, so verification talks to one configured server.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = REMOTE_TIMEOUT_S,
                 client: RepositoryClient | None = None) -> None:
        self._client = client or RepositoryClient(base_url, api_key=api_key, timeout=timeout)
        self.location = self._client.base_url

    def matches(self, alg: str, value: str, max_results: int) -> list[SourceMatch]:
        return [SourceMatch(match.manifest_id, alg, match.similarity_score)
                for match in self._client.matches_by_binding(alg, value, max_results=max_results)]

    def fetch(self, manifest_id: str) -> StoredManifest:
        return StoredManifest(manifest_id, self._client.get_manifest(manifest_id), None, None)

    def fingerprint_matches(self, values: Sequence[str], data: bytes | None, content_type: str,
                            max_results: int) -> list[SourceMatch]:
        """The API takes one value per binding query, and a file has about 75 query hashes: so the
        file itself goes to ``byContent``, restricted to PDQ (a DeepShield repository derives the
        same queries from it, in memory); without ``data``, the file's own hash alone."""
        if data is None:
            return self.matches(PDQ_BINDING_ALG, values[0], max_results)
        return [SourceMatch(match.manifest_id, PDQ_BINDING_ALG, match.similarity_score)
                for match in self._client.matches_by_content(data, content_type=content_type,
                                                             alg=PDQ_BINDING_ALG, max_results=max_results)]

    def content_matches(self, data: bytes, content_type: str, max_results: int) -> list[SourceMatch]:
        """Manifests the repository finds by reading the file's watermark with the keys it holds
        (``byContent`` restricted to the watermark algorithm)."""
        return [SourceMatch(match.manifest_id, WATERMARK_BINDING_ALG, match.similarity_score)
                for match in self._client.matches_by_content(data, content_type=content_type,
                                                             alg=WATERMARK_BINDING_ALG,
                                                             max_results=max_results)]

    def close(self) -> None:
        self._client.close()


def manifest_source(ctx: ServiceContext, principal: Principal | None) -> ManifestSource:
    """The repository that settings name: remote at ``provenance.repository_url``, else local
    (whose reads are audit-logged under ``principal``)."""
    config = ctx.settings.provenance
    if config.repository_url:
        return RemoteManifests(config.repository_url, config.repository_key or None)
    return LocalManifests(ctx, principal)


@dataclass(frozen=True)
class _Recovered:
    """A candidate manifest fetched from the repository, with its own validation."""

    match: SourceMatch
    stored: StoredManifest
    report: ManifestReport  # read_manifest_store of the fetched bytes


class _Repository:
    """The source during one verification: lookups, fetches and reads, remembering whether the
    repository could be reached (after the first failure nothing more is asked)."""

    def __init__(self, source: ManifestSource, anchors: bytes, warnings: list[str]) -> None:
        self.source = source
        self.unreachable: str | None = None  # why, once a call failed
        self._anchors = anchors or None
        self._warnings = warnings
        self._fetched: dict[str, _Recovered | None] = {}

    def matches(self, alg: str, value: str) -> list[SourceMatch]:
        if self.unreachable is not None:
            return []
        try:
            return self.source.matches(alg, value, _MAX_CANDIDATES)
        except (RepositoryUnavailable, RateLimited) as error:
            self.unreachable = error.detail
        except (InvalidRequest, InvalidSignal) as error:  # e.g. a repository without this algorithm
            self._warnings.append(f"the manifest repository refused the {alg} lookup: {error.detail}")
        return []

    def fingerprint_matches(self, values: Sequence[str], data: bytes | None,
                            content_type: str) -> list[SourceMatch]:
        """Manifests found by a file's PDQ query hashes (see ``ManifestSource.fingerprint_matches``).
        A remote repository that refuses the file (its own limits) is asked for the file's own
        hash instead, with a warning."""
        if self.unreachable is not None or not values:
            return []
        try:
            return self.source.fingerprint_matches(values, data, content_type, _MAX_CANDIDATES)
        except (RepositoryUnavailable, RateLimited) as error:
            self.unreachable = error.detail
            return []
        except DeepShieldError as error:
            if data is None:
                self._warnings.append(f"the manifest repository refused the {PDQ_BINDING_ALG} lookup: "
                                      f"{error.detail}")
                return []
            self._warnings.append(f"the manifest repository at {self.source.location} did not look the "
                                  f"file's fingerprints up ({error.detail}); only its own hash was")
        return self.matches(PDQ_BINDING_ALG, values[0])

    def content_matches(self, data: bytes, content_type: str) -> list[SourceMatch] | None:
        """What a remote repository's keys read in the file (None: this source reads nothing
        remotely; it is the local one, whose keys the file was already read with)."""
        ask = getattr(self.source, "content_matches", None)
        if ask is None or self.unreachable is not None:
            return None
        try:
            return ask(data, content_type, _MAX_CANDIDATES)  # type: ignore[no-any-return]
        except (RepositoryUnavailable, RateLimited) as error:
            self.unreachable = error.detail
        except DeepShieldError as error:  # e.g. the file is over the repository's own limits
            self._warnings.append(f"the manifest repository at {self.source.location} did not read the "
                                  f"watermark: {error.detail}")
        return []

    def placed_matches(self, pixels: np.ndarray) -> list[manifest_registry.PlacedMatch] | None:
        """Labelled outputs whose registered local features place the file (its ``pixels``); None
        where the source keeps none (a remote repository: its API has no such lookup yet)."""
        ask = getattr(self.source, "placed_matches", None)
        if ask is None or self.unreachable is not None:
            return None
        copy = local_features.keypoints(pixels, local_features.QUERY_KEYPOINTS)
        return ask(copy, _MAX_CANDIDATES)  # type: ignore[no-any-return]

    def recovered(self, matches: Iterable[SourceMatch]) -> list[_Recovered]:
        """Each match's manifest store, fetched and validated; gone ones are skipped with a warning."""
        found = []
        for match in matches:
            if self.unreachable is not None:
                break
            if match.manifest_id not in self._fetched:
                self._fetched[match.manifest_id] = self._fetch(match)
            recovered = self._fetched[match.manifest_id]
            if recovered is not None:
                found.append(recovered)
        return found

    def _fetch(self, match: SourceMatch) -> _Recovered | None:
        try:
            stored = self.source.fetch(match.manifest_id)
        except NotFound:
            self._warnings.append(f"manifest {match.manifest_id} was matched but is no longer in the "
                                  "repository")
            return None
        except (RepositoryUnavailable, RateLimited) as error:
            self.unreachable = error.detail
            return None
        report = read_manifest_store(stored.manifest_store, trust_anchors_pem=self._anchors)
        if report.manifest_id is not None and report.manifest_id != match.manifest_id:
            self._warnings.append(f"the repository answered the request for manifest {match.manifest_id} "
                                  f"with manifest {report.manifest_id}: not used")
            return None
        return _Recovered(match, stored, report)

    def unavailable(self, detail: str) -> RepositoryUnavailable:
        return RepositoryUnavailable(f"{detail}, but the manifest repository at {self.source.location} "
                                     f"could not be reached: {self.unreachable}")


# --- The use case --------------------------------------------------------------------------


def verify_media(ctx: ServiceContext, data: bytes, *, principal: Principal | None,
                 file: str | None = None) -> VerifyReport:
    """The verification report for image or video bytes (never stored).

    Open to the public (``principal`` None) and to every key's role (``Action.VERIFY``); any
    other principal is ``Forbidden`` before any work. Raises ``RepositoryUnavailable`` when the
    file has no embedded manifest and its verdict depends on a remote repository that cannot be
    reached (see the module's docstring).
    """
    if principal is not None:
        authorize(principal, Action.VERIFY)
    if not data:
        raise InvalidRequest("the file is empty (0 bytes)")
    media_type = sniff_media_type(data[:64])
    settings = ctx.settings
    reasons: list[str] = []
    warnings: list[str] = []
    # An image is decoded once (reduced if huge: media/image.py) for its hashes and its watermark.
    decoded = decode_image(data, settings.limits, for_analysis=True) \
        if media_type.kind is MediaKind.IMAGE else None
    media = hash_image(data, decoded, derived_queries=True, region_queries=True) if decoded is not None else \
        hash_media(data, settings.limits, seconds_per_video_hash=settings.seconds_per_video_hash,
                   derived_queries=True)
    anchors = trust_anchors(settings)
    manifest = _embedded_manifest(data, media_type.mime, anchors, warnings)
    remote = bool(settings.provenance.repository_url)
    # Remote: no provider key is held here, so only the public key reads (the repository reads
    # with the providers' keys, below); local: the public key and every active provider key.
    placements: dict[tuple[str, str], Placement] = {}
    watermark = _watermark(data, settings, warnings, decoded,
                           (PUBLIC_KEY,) if remote else reading_keys(ctx),
                           "local: the public key only" if remote else
                           "local: the public key and every provider key this repository holds",
                           placements)
    # The pixels are done with before the repository is asked, but for a small copy (512 pixels
    # a side at most): where a mark, or the file's local features, place it in a labelled output,
    # the output's signed regions are cut from it (``placed_attribution``).
    small = shrink(decoded.pixels, PLACED_PIXELS_MAX_SIDE) if decoded is not None else None
    placed = _Placed(placements, small) if placements and small is not None else None
    del decoded
    fingerprint = media.pdq.hex if media.pdq is not None and \
        media.pdq.quality >= settings.match.pdq_min_quality else None
    # The fingerprint lookup's hashes: the file's own, its dihedral, repost and region queries.
    fingerprint_queries = manifest_registry.fingerprint_queries(media, settings.match.pdq_min_quality)

    source = manifest_source(ctx, principal)
    repo = _Repository(source, anchors, warnings)
    try:
        if manifest is None and watermark["checked"]:
            _read_remotely(repo, data, media_type.mime, watermark, warnings)
            if repo.unreachable is not None and not watermark["found"]:
                raise repo.unavailable("no manifest is embedded and no public watermark was found here; "
                                       "the providers' watermarks (only the repository reads them) and the "
                                       "fingerprint could not be looked up")
        by_label = _lookup_labels(repo, watermark, manifest, warnings)
        by_fingerprint = repo.fingerprint_matches(fingerprint_queries, data if manifest is None else None,
                                                  media_type.mime) if fingerprint else []
        repository: dict[str, Any] = {
            "source": source.location,
            "by_label_id": [_match_view(m) for m in _merged(by_label.values())],
            "by_fingerprint": [_match_view(m) for m in by_fingerprint],
            "recovered_manifest": None,
            "recovered_by": None,  # "watermark" or "fingerprint" when the verdict is recovered
        }
        consistency: dict[str, Any] | None = None
        made_by: dict[str, Any] | None = None
        via = "fingerprint"
        if manifest is not None:
            verdict, made_by = _judge_embedded(manifest, watermark, reasons)
        elif watermark["found"]:
            via = "watermark"
            verdict, chosen, consistency, judged = _judge_marks(repo, watermark, by_label, media, reasons,
                                                                placed)
            if verdict is None:  # no mark is registered under its key: the fingerprint may still
                verdict, chosen, consistency, via = _marks_then_fingerprint(
                    repo, judged, by_label, by_fingerprint if fingerprint else None, media, reasons,
                    warnings, small)
            if chosen is not None:
                repository["recovered_manifest"] = _recovered_view(chosen)
                made_by = _made_by_recovered(chosen)
        elif fingerprint is not None:
            judged_by: list[str] = []
            verdict, chosen, consistency = _judge_fingerprint(
                repo, by_fingerprint, media, judged_by, warnings, watermark_removed=watermark["checked"])
            if verdict == "unknown" and small is not None:
                verdict, chosen, consistency = _placed_by_features(
                    repo, small, (verdict, chosen, consistency), judged_by,
                    watermark_removed=watermark["checked"])
            reasons.extend(judged_by)
            if chosen is not None:
                repository["recovered_manifest"] = _recovered_view(chosen)
                made_by = _made_by_recovered(chosen)
        else:
            verdict = "unknown"
            reasons.append("no embedded manifest, no DeepShield watermark, and no image fingerprint to "
                           "look up")
    finally:
        source.close()
    repository["recovered_by"] = via if verdict == "recovered" else None
    if repo.unreachable is not None:  # only an embedded manifest's verdict gets here
        warnings.append(f"the manifest repository at {source.location} could not be reached "
                        f"({repo.unreachable}); its lookups are missing from this report")
    return VerifyReport(
        verdict=verdict, summary=_summary(verdict, made_by, repository, watermark, consistency),
        reasons=reasons,
        media={"kind": media.kind.value, "format": media_type.name, "mime_type": media_type.mime,
               "pdq": fingerprint, "sha256": media.sha256},
        manifest=manifest.to_dict() if manifest is not None else None,
        watermark=watermark, repository=repository, consistency=consistency, made_by=made_by,
        file=file, warnings=warnings)


def _embedded_manifest(data: bytes, mime_type: str, anchors: bytes,
                       warnings: list[str]) -> ManifestReport | None:
    if mime_type not in ("image/jpeg", "image/png", "image/webp", "video/mp4"):
        warnings.append(f"Content Credentials are not read from {mime_type} files")
        return None
    return read_content_credentials(data, mime_type, trust_anchors_pem=anchors or None)


def _watermark(data: bytes, settings: Settings, warnings: list[str],
               decoded: DecodedImage | None = None, keys: Sequence[WatermarkKey] = (PUBLIC_KEY,),
               reader: str = "local", placements: dict[tuple[str, str], Placement] | None = None
               ) -> dict[str, Any]:
    """The marks of ``keys`` in a video's bytes, or in an image's ``decoded`` pixels (decoded once).

    The report's watermark section: ``marks`` lists every mark read (label id, key id, slot,
    confidence, ``read_by``: ``local`` or the repository that read it, ``manifest_id``: the
    manifest it led to, filled in by the judging); ``label_id``, ``key_id`` and ``confidence`` are
    the leading mark's (the one the verdict rests on); ``read_by`` says who read with which keys.
    ``placements``, when given, gets where each image mark placed the file in the marked output,
    by (label id, key id).
    """
    try:
        if decoded is None:
            report = detect_watermark(data, settings.limits, keys)
            marks = [(mark.payload_hex, mark.key_id, mark.slot, mark.confidence) for mark in report.marks]
        else:
            detection = detect(_watermark_pixels(decoded), keys, place=placements is not None)
            marks = [(mark.payload_hex, mark.key_id, mark.slot, round(mark.confidence, 4))
                     for mark in detection.marks]
            if placements is not None:
                placements.update({(mark.payload_hex, mark.key_id): mark.placement
                                   for mark in detection.marks if mark.placement is not None})
    except InvalidRequest as error:  # e.g. too small to carry the mark
        warnings.append(f"watermark not checked: {error.detail}")
        return {"checked": False, "found": False, "label_id": None, "key_id": None, "confidence": 0.0,
                "marks": [], "read_by": []}
    watermark: dict[str, Any] = {
        "checked": True, "found": False, "label_id": None, "key_id": None, "confidence": 0.0,
        "marks": [{"label_id": label_id, "key_id": key_id, "slot": slot, "confidence": confidence,
                   "read_by": "local", "manifest_id": None} for label_id, key_id, slot, confidence in marks],
        "read_by": [reader]}
    if watermark["marks"]:
        _lead_with(watermark, watermark["marks"][0])
    return watermark


def _lead_with(watermark: dict[str, Any], mark: dict[str, Any]) -> None:
    """Put ``mark`` first in the watermark section, and make it the section's leading mark."""
    watermark["marks"] = [mark] + [other for other in watermark["marks"] if other is not mark]
    watermark.update(found=True, label_id=mark["label_id"], key_id=mark["key_id"],
                     confidence=mark["confidence"])


def _read_remotely(repo: _Repository, data: bytes, mime_type: str, watermark: dict[str, Any],
                   warnings: list[str]) -> None:
    """A remote repository reads the file with the providers' keys (``byContent``): each manifest
    it finds by the watermark adds the mark its signed label names (label id, and the key the
    manifest says made its mark), ``read_by`` the repository. Marks read here already are not
    repeated. Nothing happens for the local repository (its keys read the file already)."""
    found = repo.content_matches(data, mime_type)
    if found is None or repo.unreachable is not None:
        return
    watermark["read_by"].append(f"{repo.source.location}: the providers' keys it holds")
    known = {(mark["label_id"], mark["key_id"]) for mark in watermark["marks"]}
    for candidate in repo.recovered(found):
        label_id = (candidate.report.label_id or "").lower()
        if not _LABEL_ID.match(label_id):
            warnings.append(f"the repository found manifest {candidate.stored.manifest_id} by the "
                            "watermark, but that manifest names no DeepShield label id: not used")
            continue
        key_id = _signed_key(candidate.report)
        if (label_id, key_id) in known:
            continue
        known.add((label_id, key_id))
        watermark["marks"].append({"label_id": label_id, "key_id": key_id, "slot": None, "confidence": None,
                                   "read_by": repo.source.location, "manifest_id": None})
    if watermark["marks"] and not watermark["found"]:
        _lead_with(watermark, watermark["marks"][0])


def _watermark_pixels(decoded: DecodedImage) -> np.ndarray:
    """``decoded``'s pixels, refused as ``services.watermarking`` refuses an image too small."""
    height, width = decoded.pixels.shape[:2]
    if min(height, width) < MIN_DETECT_SHORT_SIDE:
        size = f"{decoded.width}×{decoded.height}" + \
            (f" (reduced to {width}×{height} for analysis)" if decoded.reduction > 1 else "")
        raise InvalidRequest(f"the image is {size}; the watermark needs a short side of at least "
                             f"{MIN_DETECT_SHORT_SIDE} pixels")
    return decoded.pixels


def _lookup_labels(repo: _Repository, watermark: dict[str, Any], manifest: ManifestReport | None,
                   warnings: list[str]) -> dict[str, list[SourceMatch]]:
    """``{label id: matches}`` for every mark's label id and the embedded manifest's."""
    label_ids = [mark["label_id"] for mark in watermark["marks"]]
    if manifest is not None and manifest.label_id:
        if _LABEL_ID.match(manifest.label_id):
            label_ids.append(manifest.label_id.lower())
        else:
            warnings.append("the embedded manifest's label id is not a DeepShield label id (16 hex "
                            "digits); it was not looked up")
    return {label_id: repo.matches(WATERMARK_BINDING_ALG, label_id)
            for label_id in dict.fromkeys(label_ids) if label_id}


def _merged(groups: Iterable[list[SourceMatch]]) -> list[SourceMatch]:
    found: dict[str, SourceMatch] = {}
    for matches in groups:
        for match in matches:
            found.setdefault(match.manifest_id, match)
    return list(found.values())


# --- Judging a stripped file by what the repository holds -----------------------------------


def _key_words(key_id: str) -> str:
    return "the public key" if key_id == PUBLIC_KEY_ID else f"key {key_id}"


def _signed_key(report: ManifestReport) -> str:
    """The key a manifest signs as its mark's (one that says none was made before keys: public)."""
    return (report.watermark_key_id or PUBLIC_KEY_ID).lower()


@dataclass(frozen=True)
class _Placed:
    """Where the file's marks placed it in their labelled outputs (by label id and key id), and a
    small copy of its pixels to cut the signed regions from (``placed_attribution``)."""

    placements: dict[tuple[str, str], Placement]
    pixels: np.ndarray


def _judge_watermark(repo: _Repository, mark: dict[str, Any], matches: list[SourceMatch], media: MediaSignals,
                     reasons: list[str], placed: _Placed | None = None
                     ) -> tuple[str, _Recovered | None, dict[str, Any] | None]:
    """One mark and no embedded manifest: the label stands only if a manifest in the repository
    names the label id in its own signed soft bindings, signs the key the mark was read with as
    its mark's key, is trusted, and fits the file. ``("invalid", None, None)``: no manifest of
    that key is registered for it."""
    label_id, key_id = mark["label_id"], mark["key_id"]
    if mark["read_by"] == "local":
        found = f"a DeepShield watermark with label id {label_id} ({_key_words(key_id)}) was found"
    else:
        found = (f"the manifest repository at {mark['read_by']}, which holds the providers' keys, read a "
                 f"DeepShield watermark with label id {label_id} ({_key_words(key_id)})")
    candidates = repo.recovered(matches)
    if repo.unreachable is not None:
        raise repo.unavailable(f"{found} and no manifest is embedded: only the repository can confirm "
                               "the label")
    if not candidates:
        reasons.append(f"{found}, but no manifest is registered for it: the label cannot be confirmed")
        return "invalid", None, None
    naming = [candidate for candidate in candidates if _names_label(candidate.report, label_id)]
    if not naming:
        reasons.append(f"{found}, but none of the {len(candidates)} manifest(s) the repository binds "
                       "to it confirms it: the label cannot be confirmed")
        reasons.extend(_unconfirmed(candidate, f"its signed soft bindings do not name label id {label_id}")
                       for candidate in candidates)
        return "invalid", None, None
    keyed = [candidate for candidate in naming if _signed_key(candidate.report) == key_id]
    if not keyed:
        reasons.append(f"{found}, but no manifest is registered for it under that key: a mark is only "
                       "attributed to labels of the key it was read with (anyone can put a label id "
                       "into a public-key mark)")
        reasons.extend(f"manifest {candidate.stored.manifest_id} names label id {label_id}, but signs "
                       f"{_key_words(_signed_key(candidate.report))} as its mark's key"
                       for candidate in naming)
        return "invalid", None, None
    checked = [(candidate, _placed_if_closer(candidate.report,
                                             _consistency(_signed_pdq(candidate.report), media),
                                             placed, (label_id, key_id)))
               for candidate in keyed]
    chosen, consistency = min(checked, key=lambda item: (not item[0].report.trusted,
                                                         item[1]["consistent"] is False))
    manifest_id = chosen.stored.manifest_id
    problems = _recovered_problems(chosen)
    if consistency["consistent"] is False:
        problems.append("the watermark's label belongs to different content: this file's "
                        f"fingerprint is {consistency['distance']} bits from the one signed in manifest "
                        f"{manifest_id} (at most {CONSISTENCY_MAX_DISTANCE} expected); a label copied "
                        "onto another image is never trusted")
    if problems:
        reasons.append(f"{found}; it leads to manifest {manifest_id} in the repository, but:")
        reasons.extend(problems)
        return "invalid", chosen, consistency
    if consistency.get("inconclusive"):  # a blend, a collage, an edit: not attributable
        reasons.append(f"{found}; it leads to manifest {manifest_id} in the repository, but "
                       f"{consistency['detail']}")
        return "unknown", None, consistency
    if mark["read_by"] != "local":
        reasons.append(f"the watermark was read by the manifest repository at {mark['read_by']}, which "
                       "holds the providers' keys")
    reasons.append(f"no manifest is embedded (the metadata was removed); the watermark's label id "
                   f"{label_id} leads to manifest {manifest_id} in the repository, which signs "
                   f"{_key_words(key_id)} as its mark's key, the key the mark was read with")
    reasons.extend(_recovered_strengths(chosen))
    if consistency.get("attribution") == "placed crop":
        reasons.append(consistency["detail"])
    elif consistency["consistent"]:
        reasons.append(f"the file's fingerprint is {consistency['distance']} bits from the one signed "
                       "in the manifest: the same content")
    return "recovered", chosen, consistency


_ORDINALS = ("first", "second", "third", "fourth")


#: A mark as judged: (the mark, its verdict, its manifest, its consistency, its reasons).
_Judged = tuple[dict[str, Any], str, _Recovered | None, dict[str, Any] | None, list[str]]


def _other_marks(judged: list[_Judged], lead: dict[str, Any], by_label: dict[str, list[SourceMatch]], *,
                 lead_is: str) -> list[str]:
    """A reason for each mark other than ``lead`` (the second, the third, ...). ``lead_is``:
    ``recovered`` (the lead mark recovered the label, so an unregistered other mark was added after
    labelling), ``registered`` (it led to a manifest), ``unregistered`` (nor did it)."""
    notes = []
    others = [item for item in judged if item[0] is not lead]
    for position, (mark, verdict, chosen, consistency, _) in enumerate(others, start=2):
        which = f"a {_ORDINALS[position - 1]}" if position <= len(_ORDINALS) else "another"
        said = f"{which} watermark (label id {mark['label_id']}, {_key_words(mark['key_id'])}) was also found"
        if chosen is None and consistency is None:
            registered = "registered under that key" if by_label.get(mark["label_id"]) else "registered"
            if lead_is == "recovered":
                notes.append(f"{said}: the image was marked again after it was labelled; that mark is not "
                             f"{registered}")
            else:
                notes.append(f"{said}; that mark is not {registered}"
                             + (" either" if lead_is == "unregistered" else ""))
        else:
            target = chosen.stored.manifest_id if chosen is not None else "a registered manifest"
            notes.append(f"{said}: it leads to {target}, which on its own reads {verdict}")
    return notes


def _judge_marks(repo: _Repository, watermark: dict[str, Any], by_label: dict[str, list[SourceMatch]],
                 media: MediaSignals, reasons: list[str], placed: _Placed | None = None
                 ) -> tuple[str | None, _Recovered | None, dict[str, Any] | None, list[_Judged]]:
    """Every mark found, judged on its own (``_judge_watermark``). A mark that recovers the label
    decides; else one whose manifest was found (invalid, or too unlike the file to attribute).
    The deciding mark leads the watermark section, and the reasons name the other marks. None as
    the verdict: no mark is registered under its key (the caller may try the fingerprint); the
    marks, as judged, with each one's reasons, come back for that."""
    judged: list[_Judged] = []
    for mark in watermark["marks"]:
        mark_reasons: list[str] = []
        verdict, chosen, consistency = _judge_watermark(repo, mark, by_label.get(mark["label_id"], []), media,
                                                        mark_reasons, placed)
        mark["manifest_id"] = chosen.stored.manifest_id if chosen is not None else None
        judged.append((mark, verdict, chosen, consistency, mark_reasons))
    deciding = next((item for item in judged if item[1] == "recovered"), None) or \
        next((item for item in judged if item[2] is not None or item[3] is not None), None)
    if deciding is None:
        return None, None, None, judged
    mark, verdict, chosen, consistency, mark_reasons = deciding
    _lead_with(watermark, mark)
    reasons.extend(mark_reasons)
    reasons.extend(_other_marks(judged, mark, by_label,
                                lead_is="recovered" if verdict == "recovered" else "registered"))
    return verdict, chosen, consistency, judged


def _marks_then_fingerprint(repo: _Repository, judged: list[_Judged], by_label: dict[str, list[SourceMatch]],
                            by_fingerprint: list[SourceMatch] | None, media: MediaSignals, reasons: list[str],
                            warnings: list[str], pixels: np.ndarray | None = None
                            ) -> tuple[str, _Recovered | None, dict[str, Any] | None, str]:
    """No mark leads to a label of its key. A mark anyone could add must not hide a label the
    fingerprint still finds: if the fingerprint recovers one (or, for a crop taken anywhere, the
    file's local features place it and the signed regions confirm: ``_placed_by_features`` on
    ``pixels``), that stands, and the marks are named as added after labelling, or forged;
    otherwise the first mark's refusal does. Returns the verdict, the manifest, the consistency
    and what the verdict rests on."""
    if by_fingerprint is not None:
        found: list[str] = []
        verdict, chosen, consistency = _judge_fingerprint(repo, by_fingerprint, media, found, warnings)
        if verdict == "unknown" and pixels is not None:
            verdict, chosen, consistency = _placed_by_features(repo, pixels, (verdict, chosen, consistency),
                                                               found, watermark_removed=False)
        if verdict == "recovered":
            # The fingerprint's own words assume no mark at all; here marks were read.
            reasons.extend(reason.replace("no watermark was found", "no watermark leads to a label")
                           for reason in found)
            reasons.append(f"{len(judged)} watermark(s) were found too, but none leads to a registered label "
                           "of its key: added after labelling, or forged")
            for item in judged:
                reasons.extend(item[4])
            return verdict, chosen, consistency, "fingerprint"
    first = judged[0]
    reasons.extend(first[4])
    reasons.extend(_other_marks(judged, first[0], by_label, lead_is="unregistered"))
    return "invalid", None, None, "watermark"


def _judge_fingerprint(repo: _Repository, matches: list[SourceMatch], media: MediaSignals,
                       reasons: list[str], warnings: list[str], *, watermark_removed: bool = False
                       ) -> tuple[str, _Recovered | None, dict[str, Any] | None]:
    """No embedded manifest, no watermark: a manifest whose own signed fingerprint is this file's
    recovers the label (weaker evidence); repository bindings the signature does not back are
    not used. ``watermark_removed``: the file was read for a watermark and none was there, so a
    recovered label says, in plain words, that the watermark appears to have been removed."""
    candidates = repo.recovered(matches)
    if repo.unreachable is not None:
        raise repo.unavailable("no manifest is embedded and no watermark was found; the fingerprint "
                               "could not be looked up to tell whether the file is a labelled output")
    backed = []
    resembling = []  # near, but not near enough to attribute (a blend, a collage, an edit)
    for candidate in candidates:
        consistency = _consistency(_signed_pdq(candidate.report), media)
        if consistency["consistent"]:
            backed.append((candidate, consistency))
        elif consistency.get("inconclusive"):
            resembling.append((candidate, consistency))
        else:
            why = (f"is {consistency['distance']} bits away" if consistency["distance"] is not None
                   else "is missing or unreadable")
            warnings.append(f"the repository binds this file's fingerprint to manifest "
                            f"{candidate.stored.manifest_id}, but the fingerprint signed in it {why}: "
                            "not used")
    if not backed and resembling:
        nearest, consistency = min(resembling, key=lambda item: item[1]["distance"])
        reasons.append("no embedded manifest and no DeepShield watermark; the fingerprint resembles "
                       f"labelled output (manifest {nearest.stored.manifest_id}), but "
                       f"{consistency['detail']}")
        return "unknown", None, consistency
    if not backed:
        reasons.append("no embedded manifest, no DeepShield watermark, and no registered fingerprint "
                       "match")
        return "unknown", None, None
    chosen, consistency = min(backed, key=lambda item: not item[0].report.trusted)  # stable: best score
    manifest_id = chosen.stored.manifest_id
    score = chosen.match.similarity_score
    return _found_without_mark(
        chosen, consistency, reasons,
        leads=f"the fingerprint matches manifest {manifest_id} in the repository",
        recovered=["no manifest is embedded and no watermark was found, but the fingerprint matches "
                   f"manifest {manifest_id}" + (f" (similarity {score}/100)" if score is not None else "")
                   + f", {consistency['distance']} bits from the fingerprint signed in it"],
        weaker="a fingerprint match means the content looks like a labelled output; it is weaker evidence "
               "than a watermark, because an edited copy of the same source picture can match too",
        watermark_removed=watermark_removed)


def _found_without_mark(candidate: _Recovered, consistency: dict[str, Any], reasons: list[str], *, leads: str,
                        recovered: list[str], weaker: str, watermark_removed: bool
                        ) -> tuple[str, _Recovered | None, dict[str, Any] | None]:
    """The verdict on a label the fingerprint layer found and attributed (its hashes, or local
    features and the signed regions), with no manifest embedded and no mark: ``invalid`` with the
    manifest's problems (``leads`` says what found it), else ``recovered`` with the words of how
    (``recovered``), that the mark appears removed, the manifest's strengths, and why it is weaker
    evidence than a watermark (``weaker``)."""
    problems = _recovered_problems(candidate)
    if problems:
        reasons.append(f"no manifest is embedded and no watermark was found; {leads}, but:")
        reasons.extend(problems)
        return "invalid", candidate, consistency
    reasons.extend(recovered)
    if watermark_removed:
        reasons.append(_removed_watermark(consistency))
    reasons.extend(_recovered_strengths(candidate))
    reasons.append(weaker)
    return "recovered", candidate, consistency


def _removed_watermark(consistency: dict[str, Any]) -> str:
    """The plain words for a labelled output found by its fingerprint alone."""
    how = ("the whole picture" if consistency.get("attribution") == "same picture" else
           "a part of it (a crop, or a rotated, mirrored or captioned copy)")
    return ("the watermark appears to have been removed from a labelled output: the file matches "
            f"{how} by the fingerprint signed in its manifest, yet carries no DeepShield watermark "
            "(it was removed, or the copy was altered too much for it to be read)")


def _names_label(report: ManifestReport, label_id: str) -> bool:
    named = {binding["value"].lower() for binding in report.soft_bindings
             if binding.get("alg") == WATERMARK_BINDING_ALG and isinstance(binding.get("value"), str)}
    if report.label_id:
        named.add(report.label_id.lower())
    return label_id.lower() in named


def _signed_pdq(report: ManifestReport) -> list[str]:
    """The signed PDQ hashes the fingerprint rules compare (``image_attribution``): the whole
    image's, then its regions', without the placed regions (``signals.placed_regions``), which only
    a watermark's placement compares."""
    return [binding["value"] for binding in _pdq_bindings(report)
            if not is_placed_region(binding.get("region"))]


def _pdq_bindings(report: ManifestReport) -> list[dict[str, Any]]:
    """The manifest's signed PDQ soft-binding blocks whose value is a PDQ hash, in order."""
    return [binding for binding in report.soft_bindings
            if binding.get("alg") == PDQ_BINDING_ALG and isinstance(binding.get("value"), str)
            and _PDQ_HEX.match(binding["value"])]


def _unreadable(candidate: _Recovered) -> str | None:
    report = candidate.report
    if UNREADABLE_CODE not in report.failure_codes:
        return None
    return f"manifest {candidate.stored.manifest_id} cannot be read as a C2PA manifest store ({report.error})"


def _unconfirmed(candidate: _Recovered, otherwise: str) -> str:
    return _unreadable(candidate) or f"manifest {candidate.stored.manifest_id}: {otherwise}"


def _recovered_problems(candidate: _Recovered) -> list[str]:
    """Why a recovered manifest's own signature does not hold up (empty when it is trusted).

    The file's content hash is never among them: a detached store has no asset to hash
    (see ``read_manifest_store``)."""
    report = candidate.report
    unreadable = _unreadable(candidate)
    if unreadable is not None:
        return [unreadable]
    return _trust_problems(report, "the recovered manifest")


def _trust_problems(report: ManifestReport, subject: str) -> list[str]:
    """Why a manifest (``subject`` names it in the sentences) is not trusted; empty if it is."""
    problems = []
    if report.tampered:
        problems.append(f"{subject} was changed after signing (" + ", ".join(
            code for code in report.failure_codes if code.endswith("mismatch")) + ")")
    if report.expired:
        problems.append(f"{subject}'s signing certificate has expired")
    if report.untrusted:
        problems.append(f"{subject}'s signer ({report.signer or 'unnamed'}) is not a trusted signer "
                        "of this installation")
    if not report.valid and not problems:
        problems.append(f"{subject}'s signature or hashes do not validate (" +
                        (", ".join(report.failure_codes) or report.validation_state) + ")")
    if not report.trusted and not problems:
        problems.append(f"{subject} is {report.validation_state}, not trusted")
    return problems


def _recovered_strengths(candidate: _Recovered) -> list[str]:
    report = candidate.report
    source_type = report.digital_source_type or ""
    stated = (f"it states the content was made by a trained algorithm ({source_type})"
              if source_type.rsplit("/", 1)[-1] in _SOURCE_TYPE_AI
              else f"its digitalSourceType is {source_type or 'not given'}")
    return [f"the recovered manifest is signed by {report.signer} (trusted) and its signature "
            "validates; the file itself is a copy without the signed bytes, so it is compared by "
            "fingerprint instead of by content hash", stated]


def _placed_if_closer(report: ManifestReport, consistency: dict[str, Any], placed: _Placed | None,
                      mark: tuple[str, str]) -> dict[str, Any]:
    """``consistency``, or the placed attribution of the file (``placed_attribution``) where the
    fingerprint rules could not attribute it and the mark ``mark`` placed it as a crop: the
    placed one when its regions confirm the crop, and also when the rules called the file
    different content but its placed parts are within ``CONSISTENCY_MAX_DISTANCE`` (then too near
    to call the label copied: inconclusive). Measured (60 photos at 512 px): a label's mark made
    on another photo and cropped has placed medians of 116-142 bits; genuine crops 0-52."""
    placement = placed.placements.get(mark) if placed is not None else None
    if consistency["consistent"] is True or placement is None or placed is None:
        return consistency
    view = placed_attribution(report, placement, placed.pixels)
    if view is None or not (view["consistent"] or (consistency["consistent"] is False
                                                   and view["distance"] <= CONSISTENCY_MAX_DISTANCE)):
        return consistency
    return {**view, "whole_distance": consistency.get("whole_distance"),
            "region_distance": consistency.get("region_distance"),
            "without_placement": consistency.get("attribution", "not compared")}


def placed_attribution(report: ManifestReport, placement: Placement | Sequence[Region], pixels: np.ndarray,
                       placed_by: str = "the watermark places") -> dict[str, Any] | None:
    """Is an image, which a watermark (or its local features) placed in the labelled output of
    ``report``, a crop of that output? ``placement``: the mark's ``Placement``, or the boxes
    (x, y, width, height, fractions of the output) the local features gave; ``placed_by`` says
    which, in the words ("the watermark places"). The output's size and regions as signed; the
    file's ``pixels`` (any size).

    For each place allowed (``Placement.boxes_in``; boxes within the output) where the file covers
    at most ``PLACED_MAX_SPAN`` of the output on some side, the signed regions wholly inside it
    are cut from the file where they lie and hashed (``signals.placed_regions``). The place with
    the nearest median decides: within ``PLACED_MATCH_MAX_DISTANCE`` over at least
    ``PLACED_MIN_REGIONS`` regions, ``consistent`` (attribution ``placed crop``); else not
    (``consistent`` None, with the figures). None: the manifest signs no size or regions, or no
    place fits."""
    height, width = report.labelled_height, report.labelled_width
    if not height or not width or max(height, width) > MAX_ASPECT * min(height, width):
        return None
    regions = [(tuple(binding["region"]), binding["value"]) for binding in _pdq_bindings(report)
               if binding.get("region")][:PLACED_MAX_REGIONS]
    boxes = placement.boxes_in(height, width) if isinstance(placement, Placement) else \
        [box for box in placement if _inside_output(box)]
    best: tuple[int, Region, list[int]] | None = None
    for box in boxes[:PLACED_MAX_BOXES]:
        if min(box[2], box[3]) > PLACED_MAX_SPAN:
            continue
        cuts = placed_queries(pixels, box, (height, width), [region for region, _ in regions])
        distances = sorted(pdq_distance(value.hex, regions[index][1]) for index, value in cuts
                           if value.quality >= ATTRIBUTION_MIN_QUALITY)
        if len(distances) >= PLACED_MIN_REGIONS:
            median = int(statistics.median_low(distances))
            if best is None or median < best[0]:
                best = (median, box, distances)
    if best is None:
        return None
    median, box, distances = best
    consistent = median <= PLACED_MATCH_MAX_DISTANCE
    kept = f"{box[2]:.0%} × {box[3]:.0%}"
    detail = (f"{placed_by} this file in the labelled output as a crop keeping {kept} of it; "
              f"the {len(distances)} signed regions that lie inside it are a median {median} bits from "
              f"this file's same parts (at most {PLACED_MATCH_MAX_DISTANCE}"
              + ("): the same content" if consistent else "): too far to attribute"))
    return {"consistent": True if consistent else None, "attribution": "placed crop" if consistent
            else "inconclusive", "distance": median, "max_distance": PLACED_MATCH_MAX_DISTANCE,
            "placed": {"box": [round(part, 4) for part in box], "regions": len(distances),
                       "distances": distances, "by": "watermark" if isinstance(placement, Placement)
                       else "local features"}, "detail": detail,
            **({} if consistent else {"inconclusive": True})}


def _inside_output(box: Region, tolerance: float = 0.01) -> bool:
    """Whether a box (fractions of the output) lies within the output: a crop does; a collage
    holding part of the output beside other pictures reaches beyond it."""
    x, y, w, h = box
    return (w > 0 and h > 0 and x >= -tolerance and y >= -tolerance
            and x + w <= 1 + tolerance and y + h <= 1 + tolerance)


def _placed_by_features(repo: _Repository, pixels: np.ndarray,
                        otherwise: tuple[str, _Recovered | None, dict[str, Any] | None], reasons: list[str],
                        *, watermark_removed: bool) -> tuple[str, _Recovered | None, dict[str, Any] | None]:
    """No manifest, no mark, and the fingerprint rules found no label: a crop taken anywhere of a
    labelled output whose watermark was removed. The repository's registered local features
    (``manifest_registry.matches_by_keypoints``) may place the file in a labelled output; the
    label is recovered only when that output's signed regions, cut from the file where they lie,
    confirm the crop (``placed_attribution``, the rule of a crop placed by a watermark).
    ``otherwise`` (the fingerprint rules' answer, whose words are ``reasons``) stands when nothing
    is confirmed; a confirmed crop's words replace them."""
    matches = repo.placed_matches(pixels)
    if not matches:
        return otherwise
    for match in matches:
        candidates = repo.recovered([SourceMatch(match.manifest_id, "keypoints", None)])
        if not candidates:
            continue
        candidate = candidates[0]
        view = placed_attribution(candidate.report, [match.box], pixels,
                                  placed_by="the file's local features place")
        if view is None or not view["consistent"]:
            continue
        del reasons[:]  # the fingerprint rules' "no match" no longer describes the file
        leads = (f"the file's local features place it in the labelled output of manifest "
                 f"{candidate.stored.manifest_id}")
        return _found_without_mark(
            candidate, {**view, "keypoints": match.inliers}, reasons, leads=leads,
            recovered=[f"no manifest is embedded and no watermark was found, but {leads} "
                       f"({match.inliers} matching keypoints agree)", view["detail"]],
            weaker="a crop found by its local features and confirmed by the signed regions means the "
                   "content looks like part of a labelled output; it is weaker evidence than a watermark, "
                   "because an edited copy of the same source picture can match too",
            watermark_removed=watermark_removed)
    return otherwise


def _consistency(registered: list[str], media: MediaSignals) -> dict[str, Any]:
    if not registered:
        return {"consistent": None, "distance": None,
                "detail": "no fingerprint is signed in the manifest for this label (a video): not compared"}
    if media.kind is MediaKind.VIDEO:
        return _video_consistency(registered, media)
    if media.pdq is None:
        return {"consistent": None, "distance": None,
                "detail": "this file has no image fingerprint to compare"}
    return image_attribution(registered, *attribution_candidates(media))


def attribution_candidates(media: MediaSignals) -> tuple[list[str], list[str]]:
    """The file's PDQ hashes that attribution compares with a label's signed ones, as
    ``image_attribution`` takes them: the whole file's forms (its own hash, its dihedral variants,
    its repost queries: trimmed, mirrored, caption cut, rotated back), and its region queries (its
    crops at the corners and the centre, rotated-back centres: ``repost.region_queries``). Repost
    and region queries below :data:`ATTRIBUTION_MIN_QUALITY` are left out: the hash of a flat crop
    (sky, a wall) says little about the picture, and two of them can be near."""
    assert media.pdq is not None
    derived = [h.hex for _, h in media.pdq_derived if h.quality >= ATTRIBUTION_MIN_QUALITY]
    whole = list(dict.fromkeys([media.pdq.hex] + [h.hex for _, h in media.pdq_variants] + derived))
    regions = [h.hex for _, h in media.pdq_region_queries if h.quality >= ATTRIBUTION_MIN_QUALITY]
    return whole, [value for value in dict.fromkeys(regions) if value not in whole]


def image_attribution(registered: list[str], candidates: list[str],
                      region_candidates: Sequence[str] = ()) -> dict[str, Any]:
    """Is an image the labelled output whose fingerprints a manifest signed? ``registered``: the
    signed PDQ hashes, the whole image's first, then its region crops'; ``candidates``: the
    file's PDQ hash with its dihedral and repost variants; ``region_candidates``: its region
    queries (``attribution_candidates``), compared with the signed regions only, under the crop
    rule's margin only, and only within :data:`REGION_QUERY_MAX_DISTANCE`. They are many (56 crops
    of the file against 94 regions), so the rules with a small margin (the whole image within 26
    bits, a region within 16) would give a blend more chances to pass by luck (measured: 3 more of
    40 blends 70 % the labelled picture did), and unrelated content comes within 76 bits of some
    region.

    * ``same picture``: the whole image's fingerprint is within
      :data:`WHOLE_MATCH_MAX_DISTANCE` (a re-encoded, resized or screenshotted copy);
    * ``crop``: one signed region is within :data:`CROP_MATCH_MAX_DISTANCE` *and* at least
      :data:`CROP_MIN_GAP` bits closer than the whole image (a crop keeps one region while the
      whole moves far; a blend or an edit drags the whole and every region partway together), or
      one region is within :data:`NEAR_REGION_MAX_DISTANCE` of the file's own forms (near-exact:
      a crop, or a slight rotation that the repost variants straighten);
    * ``inconclusive`` (``consistent`` None): nearer than :data:`CONSISTENCY_MAX_DISTANCE` but
      neither of the above: a blend, a collage, an edit of the same source, or a different
      picture. Too far to attribute, too near to call the label copied;
    * ``different content`` (``consistent`` False): beyond :data:`CONSISTENCY_MAX_DISTANCE`.

    Calibrated on real photos by ``bench/blend_calibration.py`` (docs/PROVENANCE.md).
    """
    own = _distances(registered, candidates)  # the signed hashes against the whole file's forms
    whole = int(own[0].min())
    near = int(own[1:].min()) if len(registered) > 1 else None
    queried = _distances(registered[1:], region_candidates)
    queried = queried[queried <= REGION_QUERY_MAX_DISTANCE]
    region = min([*([] if near is None else [near]), *([int(queried.min())] if queried.size else [])],
                 default=None)
    distance = whole if region is None else min(whole, region)
    view: dict[str, Any] = {"distance": distance, "whole_distance": whole, "region_distance": region,
                            "max_distance": CONSISTENCY_MAX_DISTANCE}
    if whole <= WHOLE_MATCH_MAX_DISTANCE:
        return {"consistent": True, "attribution": "same picture", **view}
    if (near is not None and near <= NEAR_REGION_MAX_DISTANCE) or \
            (region is not None and region <= CROP_MATCH_MAX_DISTANCE and whole - region >= CROP_MIN_GAP):
        return {"consistent": True, "attribution": "crop", **view}
    if distance <= CONSISTENCY_MAX_DISTANCE:
        return {"consistent": None, "attribution": "inconclusive", "inconclusive": True, **view,
                "detail": _too_far(view)}
    return {"consistent": False, "attribution": "different content", **view}


def _distances(rows: Sequence[str], columns: Sequence[str]) -> np.ndarray:
    """Hamming distances (rows × columns) of hex PDQ hashes, all at once: attribution compares
    about 95 signed hashes with about 75 of the file's."""
    if not rows or not columns:
        return np.empty((len(rows), len(columns)), dtype=np.int32)
    left = np.frombuffer(b"".join(pdq_hex_to_bytes(value) for value in rows), np.uint8).reshape(-1, 32)
    right = np.frombuffer(b"".join(pdq_hex_to_bytes(value) for value in columns), np.uint8).reshape(-1, 32)
    return np.unpackbits(left[:, None, :] ^ right[None, :, :], axis=2).sum(axis=2, dtype=np.int32)


def _too_far(view: dict[str, Any]) -> str:
    region = (f", its nearest signed region {view['region_distance']} bits"
              if view["region_distance"] is not None else "")
    return (f"the file's fingerprint resembles the labelled output at distance {view['distance']} "
            f"(the whole image {view['whole_distance']} bits{region}), too far to attribute: at most "
            f"{WHOLE_MATCH_MAX_DISTANCE} bits for the whole image, or a region at least {CROP_MIN_GAP} "
            f"bits nearer than the whole (a crop) or within {NEAR_REGION_MAX_DISTANCE} bits of the "
            "whole file; this may be an edit, a blend or a different picture")


def _video_consistency(registered: list[str], media: MediaSignals) -> dict[str, Any]:
    """A video's sampled frames against the frames its manifest signed: consistent when at
    least :data:`VIDEO_CONSISTENT_SHARE` of its good frames are within the PDQ threshold of a
    signed frame (a label copied onto another video matches none)."""
    frames = unique_good_frames(media.vpdq, VIDEO_MIN_QUALITY)
    if not frames:
        return {"consistent": None, "distance": None,
                "detail": "this video has no frame good enough to compare"}
    nearest = [min(pdq_distance(frame.pdq_hex, value) for value in registered) for frame in frames]
    share = sum(distance <= VIDEO_FRAME_MAX_DISTANCE for distance in nearest) / len(nearest)
    return {"consistent": share >= VIDEO_CONSISTENT_SHARE, "distance": int(statistics.median(nearest)),
            "matched_frame_share": round(share, 3), "min_share": VIDEO_CONSISTENT_SHARE,
            "max_distance": VIDEO_FRAME_MAX_DISTANCE}


# --- Judging an embedded manifest ----------------------------------------------------------


def _judge_embedded(manifest: ManifestReport, watermark: dict[str, Any],
                    reasons: list[str]) -> tuple[str, dict[str, Any]]:
    made_by = {"generator": manifest.generator, "model": manifest.model, "signer": manifest.signer,
               "created_at": manifest.created_at, "source": "embedded manifest"}
    problems = _trust_problems(manifest, "the embedded manifest")
    named = (manifest.label_id or "").lower()
    agreeing = [mark for mark in watermark["marks"] if mark["label_id"] == named]
    if agreeing:
        _lead_with(watermark, agreeing[0])
    elif watermark["found"] and named:
        problems.append(f"the watermark carries label id {watermark['label_id']}, but the manifest "
                        f"names {manifest.label_id}")
    source_type = manifest.digital_source_type or ""
    if not problems:
        reasons.append(f"an embedded C2PA manifest signed by {manifest.signer} (trusted) is intact")
        if source_type.rsplit("/", 1)[-1] in _SOURCE_TYPE_AI:
            reasons.append(f"it states the content was made by a trained algorithm ({source_type})")
        else:
            reasons.append(f"its digitalSourceType is {source_type or 'not given'}")
        if watermark["found"]:
            reasons.append(f"the watermark's label id {watermark['label_id']} agrees with the manifest")
        return "verified", made_by
    reasons.extend(problems)
    return "invalid", made_by


# --- Views ---------------------------------------------------------------------------------


def _made_by_recovered(candidate: _Recovered) -> dict[str, Any]:
    """Who made it, as the recovered manifest's signed assertions say; the signer only when trusted."""
    report = candidate.report
    return {"generator": report.generator, "model": report.model,
            "signer": report.signer if report.trusted else None,
            "created_at": report.created_at,
            "source": f"repository manifest {candidate.stored.manifest_id}",
            "registered_by": candidate.stored.registered_by}


def _recovered_view(candidate: _Recovered) -> dict[str, Any]:
    report = candidate.report
    return {"manifest_id": candidate.stored.manifest_id, "label_id": report.label_id,
            "generator": report.generator, "model": report.model, "created_at": report.created_at,
            "registered_at": candidate.stored.registered_at,
            "bindings": [{"alg": binding.get("alg")} for binding in report.soft_bindings],
            "signer": report.signer, "validation_state": report.validation_state,
            "trusted": report.trusted, "failure_codes": list(report.failure_codes)}


def _match_view(match: SourceMatch) -> dict[str, Any]:
    return {"manifest_id": match.manifest_id, "alg": match.alg, "similarity_score": match.similarity_score}


def _summary(verdict: str, made_by: dict[str, Any] | None, repository: dict[str, Any],
             watermark: dict[str, Any], consistency: dict[str, Any] | None = None) -> str:
    who = (made_by or {}).get("generator") or "an unnamed generator"
    if verdict == "verified":
        return f"Labelled as AI-generated by {who} (signature verified)"
    if verdict == "recovered":
        via = repository.get("recovered_by") or ("watermark" if watermark["found"] else "fingerprint")
        if via == "fingerprint" and watermark.get("checked") and not watermark["found"]:
            return ("AI label recovered from the fingerprint: the file matches a labelled AI output whose "
                    "watermark appears to have been removed, along with its metadata")
        return f"AI label recovered from the {via} after the metadata was removed"
    if verdict == "invalid":
        return "A label is present but invalid, tampered or untrusted"
    if consistency is not None and consistency.get("inconclusive"):
        via = "A watermark of a labelled output was found" if watermark["found"] else \
            "The file resembles a labelled output"
        return (f"{via}, but the file differs too much from it to attribute the label (a blend, a "
                "collage or an edit?). This does not mean the content is authentic")
    return "No label found. This does not mean the content is authentic"


def verify_upload(ctx: ServiceContext, data: bytes, principal: Principal | None) -> VerifyReport:
    """``verify_media`` for an API caller (None: the public, audit-logged as ``public``); the
    action and the verdict are audit-logged."""
    report = verify_media(ctx, data, principal=principal)
    ctx.read_audit.record(actor_of(principal), "verify", "", verdict=report.verdict)
    return report
