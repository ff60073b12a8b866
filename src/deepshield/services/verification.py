"""Use case: verify any image or video. Does it carry a label, valid or forged? Who made it,
and when? One report per file, with a verdict in plain words and the reasons behind it.

The four verdicts (the exit codes of ``deepshield verify`` follow them):

* ``verified``: an embedded C2PA manifest, signed by a trusted signer, intact, stating the
  content was made by a trained algorithm, and agreeing with any watermark found;
* ``recovered``: no manifest in the file, but the watermark's label id or the fingerprint
  leads to a manifest in the repository, and the file is consistent with it;
* ``invalid``: a label is there but something is wrong: an untrusted, expired or forged
  signature, tampered content, a watermark whose label is not registered, or a watermark
  copied onto different content;
* ``unknown``: no label found. This never means the content is authentic.

A forged, untrusted, expired, copied or tampered label never yields ``verified``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deepshield.errors import InvalidRequest
from deepshield.media import MediaKind
from deepshield.media.sniff import sniff_media_type
from deepshield.provenance.certificates import load_trust_anchors
from deepshield.provenance.manifest import PDQ_BINDING_ALG, WATERMARK_BINDING_ALG
from deepshield.provenance.reading import ManifestReport, read_content_credentials
from deepshield.services import manifest_registry
from deepshield.services.context import ServiceContext
from deepshield.services.hashing import MediaSignals, hash_media
from deepshield.services.watermarking import detect_watermark
from deepshield.settings import Settings
from deepshield.signals.pdq import pdq_distance

VERDICTS = ("verified", "recovered", "invalid", "unknown")

#: The registered fingerprint and the file's must be this close (over the file's dihedral and
#: repost variants) for a watermark's label to count as this file's. Unrelated images sit near
#: 128 bits apart (σ ≈ 8), so a label copied onto other content lands far above this; the
#: expected edits (compression, resizing, moderate crops) stay below it. See docs/PROVENANCE.md.
CONSISTENCY_MAX_DISTANCE = 64
#: How many repository candidates a fingerprint lookup considers.
_MAX_CANDIDATES = 5
_SOURCE_TYPE_AI = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia",
                   "algorithmicMedia")


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


def verify_media(ctx: ServiceContext, data: bytes, *, actor: str, file: str | None = None) -> VerifyReport:
    """The verification report for image or video bytes (never stored)."""
    if not data:
        raise InvalidRequest("the file is empty (0 bytes)")
    media_type = sniff_media_type(data[:64])
    settings = ctx.settings
    reasons: list[str] = []
    warnings: list[str] = []
    media = hash_media(data, settings.limits, seconds_per_video_hash=settings.seconds_per_video_hash,
                       derived_queries=True)
    manifest = _embedded_manifest(data, media_type.mime, trust_anchors(settings), warnings)
    watermark = _watermark(data, settings, warnings)
    fingerprint = media.pdq.hex if media.pdq is not None and \
        media.pdq.quality >= settings.match.pdq_min_quality else None

    label_ids = [value for value in (watermark.get("label_id"), manifest.label_id if manifest else None)
                 if value]
    by_label = _lookup_labels(ctx, label_ids, actor)
    by_fingerprint = (manifest_registry.matches_by_binding(ctx, PDQ_BINDING_ALG, fingerprint,
                                                           _MAX_CANDIDATES, actor)
                      if fingerprint else [])
    repository: dict[str, Any] = {
        "by_label_id": [_match_view(m) for m in by_label],
        "by_fingerprint": [_match_view(m) for m in by_fingerprint],
        "recovered_manifest": None,
    }
    consistency: dict[str, Any] | None = None
    made_by: dict[str, Any] | None = None

    if manifest is not None:
        verdict, made_by = _judge_embedded(manifest, watermark, reasons)
    elif watermark["found"]:
        record = _record_for_label(ctx, watermark["label_id"], by_label, actor)
        if record is None:
            verdict = "invalid"
            reasons.append(f"a DeepShield watermark with label id {watermark['label_id']} was found, "
                           "but no manifest is registered for it: the label cannot be confirmed")
        else:
            consistency = _consistency(record, media)
            repository["recovered_manifest"] = _record_view(record)
            made_by = _made_by_record(record)
            if consistency["consistent"] is False:
                verdict = "invalid"
                reasons.append("the watermark's label belongs to different content: this file's "
                               f"fingerprint is {consistency['distance']} bits from the registered "
                               f"one (at most {CONSISTENCY_MAX_DISTANCE} expected); a label copied "
                               "onto another image is never trusted")
            else:
                verdict = "recovered"
                reasons.append("no manifest is embedded (the metadata was removed); the watermark's "
                               f"label id {watermark['label_id']} leads to manifest {record.manifest_id}")
                if consistency["consistent"]:
                    reasons.append(f"the file's fingerprint is {consistency['distance']} bits from "
                                   "the registered one: the same content")
    elif by_fingerprint:
        record = manifest_registry.get_manifest(ctx, by_fingerprint[0].manifest_id, actor)
        repository["recovered_manifest"] = _record_view(record)
        made_by = _made_by_record(record)
        verdict = "recovered"
        reasons.append("no manifest is embedded and no watermark was found, but the fingerprint "
                       f"matches manifest {record.manifest_id} (similarity "
                       f"{by_fingerprint[0].similarity_score}/100)")
        reasons.append("a fingerprint match means the content looks like a labelled output; it is "
                       "weaker evidence than a watermark, because an edited copy of the same source "
                       "picture can match too")
    else:
        verdict = "unknown"
        reasons.append("no embedded manifest, no DeepShield watermark, and no registered fingerprint "
                       "match")
    return VerifyReport(
        verdict=verdict, summary=_summary(verdict, made_by, repository, watermark),
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


def _watermark(data: bytes, settings: Settings, warnings: list[str]) -> dict[str, Any]:
    try:
        report = detect_watermark(data, settings.limits)
    except InvalidRequest as error:  # e.g. too small to carry the mark
        warnings.append(f"watermark not checked: {error.detail}")
        return {"checked": False, "found": False, "label_id": None, "confidence": 0.0}
    return {"checked": True, "found": report.found, "label_id": report.payload_hex if report.found else None,
            "confidence": report.confidence}


def _lookup_labels(ctx: ServiceContext, label_ids: list[str],
                   actor: str) -> list[manifest_registry.BindingMatch]:
    found: dict[str, manifest_registry.BindingMatch] = {}
    for label_id in dict.fromkeys(label_ids):
        for match in manifest_registry.matches_by_binding(ctx, WATERMARK_BINDING_ALG, label_id,
                                                          _MAX_CANDIDATES, actor):
            found.setdefault(match.manifest_id, match)
    return list(found.values())


def _record_for_label(ctx: ServiceContext, label_id: str,
                      by_label: list[manifest_registry.BindingMatch],
                      actor: str) -> manifest_registry.ManifestRecord | None:
    for match in by_label:
        record = manifest_registry.get_manifest(ctx, match.manifest_id, actor)
        if any(alg == WATERMARK_BINDING_ALG and value == label_id for alg, value in record.bindings):
            return record
    return None


def _consistency(record: manifest_registry.ManifestRecord, media: MediaSignals) -> dict[str, Any]:
    registered = [value for alg, value in record.bindings if alg == PDQ_BINDING_ALG]
    if not registered:
        return {"consistent": None, "distance": None,
                "detail": "no fingerprint is registered for this label (a video): not compared"}
    if media.pdq is None or media.kind is MediaKind.VIDEO:
        return {"consistent": None, "distance": None,
                "detail": "this file has no image fingerprint to compare"}
    candidates = [media.pdq.hex] + [h.hex for _, h in media.pdq_variants] + \
        [h.hex for _, h in media.pdq_derived]
    distance = min(pdq_distance(a, b) for a in registered for b in candidates)
    return {"consistent": distance <= CONSISTENCY_MAX_DISTANCE, "distance": distance,
            "max_distance": CONSISTENCY_MAX_DISTANCE}


def _judge_embedded(manifest: ManifestReport, watermark: dict[str, Any],
                    reasons: list[str]) -> tuple[str, dict[str, Any]]:
    made_by = {"generator": manifest.generator, "model": manifest.model, "signer": manifest.signer,
               "created_at": manifest.created_at, "source": "embedded manifest"}
    problems: list[str] = []
    if manifest.tampered:
        problems.append("the content was changed after signing (" + ", ".join(
            code for code in manifest.failure_codes if code.endswith("mismatch")) + ")")
    if manifest.expired:
        problems.append("the signing certificate has expired")
    if manifest.untrusted:
        problems.append(f"the signer ({manifest.signer or 'unnamed'}) is not a trusted signer of "
                        "this installation")
    if not manifest.valid and not problems:
        problems.append("the manifest's signature or hashes do not validate (" +
                        (", ".join(manifest.failure_codes) or manifest.validation_state) + ")")
    if not manifest.trusted and not problems:
        problems.append(f"the manifest is {manifest.validation_state}, not trusted")
    if watermark["found"] and manifest.label_id and watermark["label_id"] != manifest.label_id:
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


def _made_by_record(record: manifest_registry.ManifestRecord) -> dict[str, Any]:
    return {"generator": record.generator, "model": record.model, "signer": None,
            "created_at": record.created_at.isoformat() if record.created_at else None,
            "source": f"repository manifest {record.manifest_id}",
            "registered_by": record.registered_by}


def _record_view(record: manifest_registry.ManifestRecord) -> dict[str, Any]:
    return {"manifest_id": record.manifest_id, "label_id": record.label_id,
            "generator": record.generator, "model": record.model,
            "created_at": record.created_at.isoformat() if record.created_at else None,
            "registered_at": record.registered_at.isoformat(),
            "bindings": [{"alg": alg} for alg, _ in record.bindings]}


def _match_view(match: manifest_registry.BindingMatch) -> dict[str, Any]:
    return {"manifest_id": match.manifest_id, "alg": match.alg, "similarity_score": match.similarity_score}


def _summary(verdict: str, made_by: dict[str, Any] | None, repository: dict[str, Any],
             watermark: dict[str, Any]) -> str:
    who = (made_by or {}).get("generator") or "an unnamed generator"
    if verdict == "verified":
        return f"Labelled as AI-generated by {who} (signature verified)"
    if verdict == "recovered":
        via = "watermark" if watermark["found"] else "fingerprint"
        return f"AI label recovered from the {via} after the metadata was removed"
    if verdict == "invalid":
        return "A label is present but invalid, tampered or untrusted"
    return "No label found. This does not mean the content is authentic"


def verify_upload(ctx: ServiceContext, data: bytes, actor: str) -> VerifyReport:
    """``verify_media`` for an API caller; the action and the verdict are audit-logged."""
    report = verify_media(ctx, data, actor=actor)
    ctx.read_audit.record(actor, "verify", "", verdict=report.verdict)
    return report


