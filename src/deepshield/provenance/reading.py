"""Read and validate the Content Credentials (C2PA manifest) in a file, offline.

c2pa reports one of three validation states: ``Invalid`` (a hash, signature or certificate check
failed), ``Valid`` (signature and hashes fine, but the signer does not chain to a trust anchor) and
``Trusted``. Only ``Trusted`` with no failure codes may ever be shown as verified; ``Valid`` with
``signingCredential.untrusted`` is how a forger's self-made certificate reads.

Reading never touches the network: remote manifests and OCSP are switched off. The trust anchors
passed in are the only roots trusted (c2pa's default trust store is empty).

``read_manifest_store`` validates a detached manifest store (``application/c2pa`` bytes, as a
manifest repository serves it): its claim signature, its signer's trust and every assertion's hash,
but not the asset's content hash, since there is no asset to hash (see ``HARD_BINDING_CODES``).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import c2pa
from cryptography import x509

from deepshield.errors import InvalidRequest
from deepshield.media.errors import CorruptMedia, EmptyMedia, UnsupportedMedia
from deepshield.media.sniff import sniff_media_type
from deepshield.provenance.c2pa_signing import active_manifest_label
from deepshield.provenance.manifest import (
    CREATED_ACTION,
    LABEL_ASSERTION,
    MODEL_KEY,
    PDQ_BINDING_ALG,
    SOFT_BINDING_ASSERTION,
    WATERMARK_BINDING_ALG,
)

TRUSTED, VALID, INVALID = "Trusted", "Valid", "Invalid"
UNTRUSTED_CODE = "signingCredential.untrusted"
EXPIRED_CODE = "signingCredential.expired"
#: Our code for a manifest that is present but too damaged for c2pa to validate.
UNREADABLE_CODE = "org.deepshield.manifest.unreadable"
#: Our code for a detached store whose claim signature c2pa did not report as validated.
SIGNATURE_UNVALIDATED_CODE = "org.deepshield.claimSignature.unvalidated"
SIGNATURE_VALIDATED_CODE = "claimSignature.validated"
TRUSTED_CODE = "signingCredential.trusted"
#: The hard-binding checks: the hash of the asset the manifest was signed into. A detached store has
#: no asset, so c2pa reports one of these for every store (``dataHash``: "the exclusion range exceeds
#: the data length"; ``bmffHash``: "file level hash mismatch"). They say nothing about the store, and
#: ``read_manifest_store`` ignores them, only where they name the active manifest's own hash assertion.
#: The assertion itself is still covered: changing it fails ``assertion.hashedURI.mismatch``.
HARD_BINDING_CODES = frozenset({"assertion.dataHash.mismatch", "assertion.bmffHash.mismatch",
                                "assertion.boxesHash.mismatch", "assertion.collectionHash.mismatch"})
MANIFEST_STORE_MIME = "application/c2pa"

_READ_SETTINGS: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


@dataclass(frozen=True)
class ManifestReport:
    """What the active manifest of a file says, and whether it holds up."""

    manifest_id: str | None  # None only when the manifest was too damaged to read
    validation_state: str  # "Trusted", "Valid" or "Invalid"
    trusted: bool  # Trusted and no failure at all: the only state to show as verified
    valid: bool  # signature and hashes fine (the signer may still be untrusted)
    tampered: bool  # a *.mismatch failure: content or manifest changed after signing
    untrusted: bool  # signingCredential.untrusted: the signer does not chain to a trust anchor
    expired: bool  # signingCredential.expired
    failure_codes: list[str] = field(default_factory=list)
    signer: str | None = None  # signing certificate subject CN, as c2pa reports it
    signer_organization: str | None = None  # signing certificate subject O
    generator: str | None = None  # softwareAgent of the created action, else the claim generator
    model: str | None = None
    created_at: str | None = None
    digital_source_type: str | None = None
    label_id: str | None = None  # watermark soft binding, else the org.deepshield.label assertion
    #: The watermark key the label's mark was made with (org.deepshield.label); None when the
    #: manifest does not say (made before keys: the public key).
    watermark_key_id: str | None = None
    #: The labelled output's size in pixels as the label signs it (org.deepshield.label); None
    #: when the manifest does not say (labels made before it was signed, or not by DeepShield).
    labelled_width: int | None = None
    labelled_height: int | None = None
    pdq_hex: str | None = None  # PDQ soft binding
    #: [{"alg", "value"}], and "region" ([x, y, width, height] fractions) for a region's block.
    soft_bindings: list[dict[str, Any]] = field(default_factory=list)
    visible_label: str | None = None
    claim_generator: str | None = None
    error: str | None = None  # c2pa's message when the manifest could not be read at all

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _settings(trust_anchors_pem: bytes | None) -> dict[str, Any]:
    settings = json.loads(json.dumps(_READ_SETTINGS))
    if trust_anchors_pem and trust_anchors_pem.strip():
        try:
            x509.load_pem_x509_certificates(trust_anchors_pem)
        except ValueError as exc:
            # c2pa ignores unparsable anchors silently; a typo must not quietly disable trust.
            raise InvalidRequest("the trust anchors are not a PEM bundle of X.509 certificates") from exc
        settings["trust"] = {
            "anchors": [{"trust_kind": "manifest", "trust_anchors": trust_anchors_pem.decode("ascii")}]
        }
    return settings


def read_content_credentials(
    data: bytes, mime_type: str | None, *, trust_anchors_pem: bytes | None
) -> ManifestReport | None:
    """Validate the C2PA manifest in ``data``; None when the file has none.

    The type is sniffed from the bytes; ``mime_type`` (the declared type) is not trusted. Raises
    ``EmptyMedia`` for no bytes, ``UnsupportedMedia`` for content that is not an image or video,
    ``CorruptMedia`` for a file too broken to parse, and ``InvalidRequest`` for trust anchors that
    are not PEM certificates.
    A manifest that is present but too damaged to validate reads as ``Invalid`` with the failure code
    ``org.deepshield.manifest.unreadable`` (never as "no manifest", never as an exception).
    """
    if not data:
        raise EmptyMedia("the file is empty (0 bytes)")
    media_type = sniff_media_type(data[:64])  # raises UnsupportedMedia for non-media content
    mime = media_type.mime  # the bytes decide; a wrong declared type is ignored, as c2pa itself does
    settings = _settings(trust_anchors_pem)
    try:
        with c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader(mime, io.BytesIO(data), None, context)
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return None
    except c2pa.C2paError.NotSupported as exc:
        raise UnsupportedMedia(f"c2pa cannot read Content Credentials from {media_type.name} files: {exc}") \
            from None
    except c2pa.C2paError as exc:
        message = str(exc)
        if "asset could not be parsed" in message.lower() or isinstance(exc, c2pa.C2paError.Io):
            raise CorruptMedia(f"the {media_type.name} file is corrupt or truncated: {message}") from None
        return _unreadable(message)
    return parse_manifest_store(store)


def read_manifest_store(store: bytes, *, trust_anchors_pem: bytes | None) -> ManifestReport:
    """Validate a detached C2PA manifest store (``application/c2pa`` bytes) on its own.

    c2pa reads the store as a sidecar and checks the claim signature, the signing certificate
    (trust, expiry) and each assertion's hashed URI. The asset's content hash cannot be checked
    without the asset it was signed into, so the hard-binding failures in ``HARD_BINDING_CODES``
    are dropped (only where they point at the active manifest's hash assertion) and the validation
    state is recomputed from what is left: ``Trusted`` needs c2pa's ``signingCredential.trusted``
    and no failure; only ``signingCredential.untrusted`` left is ``Valid``; anything else is
    ``Invalid``. A store whose claim signature c2pa did not report as validated reads ``Invalid``
    with ``org.deepshield.claimSignature.unvalidated``.

    Never raises for the bytes: anything that is not a readable store reads ``Invalid`` with
    ``org.deepshield.manifest.unreadable``. Raises ``InvalidRequest`` for trust anchors that are
    not PEM certificates. The report says nothing about which content the manifest belongs to;
    compare its soft bindings (``pdq_hex``, ``label_id``) with the content for that.
    """
    if not store:
        return _unreadable("the manifest store is empty")
    store = bytes(store)
    if active_manifest_label(store) is None:
        # Checked first: c2pa would read a whole JPEG or MP4 handed to it as a store, by its bytes.
        return _unreadable("not a C2PA manifest store (one JUMBF superbox labelled 'c2pa' holding manifests)")
    settings = _settings(trust_anchors_pem)
    try:
        with c2pa.Context.from_dict(settings) as context:
            reader = c2pa.Reader(MANIFEST_STORE_MIME, io.BytesIO(store), None, context)
            with reader:
                parsed = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return _unreadable(str(exc) or type(exc).__name__)
    except ValueError as exc:  # not JSON: never expected from c2pa
        return _unreadable(f"c2pa's report could not be parsed: {exc}")
    return parse_manifest_store(_without_hard_binding(_dict(parsed)))


def _without_hard_binding(store: dict[str, Any]) -> dict[str, Any]:
    """``Reader.json()`` of a detached store, minus the hard-binding failures, with the state
    recomputed (see ``read_manifest_store``)."""
    active = _text(store.get("active_manifest"))
    prefix = f"self#jumbf=/c2pa/{active}/c2pa.assertions/c2pa.hash." if active else None

    def kept(entry: Any) -> bool:
        entry = _dict(entry)
        url = entry.get("url")
        return not (prefix and entry.get("code") in HARD_BINDING_CODES
                    and isinstance(url, str) and url.startswith(prefix))

    results = _dict(store.get("validation_results"))
    active_results = _dict(results.get("activeManifest"))
    status = [entry for entry in _list(store.get("validation_status")) if kept(entry)]
    failures = [entry for entry in _list(active_results.get("failure")) if kept(entry)]
    successes = {_dict(entry).get("code") for entry in _list(active_results.get("success"))}
    dropped = (len(status) != len(_list(store.get("validation_status")))
               or len(failures) != len(_list(active_results.get("failure"))))
    if SIGNATURE_VALIDATED_CODE not in successes:
        status.append({"code": SIGNATURE_UNVALIDATED_CODE,
                       "explanation": "c2pa did not report the claim signature as validated"})
    cleaned = {**store, "validation_status": status,
               "validation_results": {**results, "activeManifest": {**active_results, "failure": failures}}}
    codes = _codes(cleaned)
    state = store.get("validation_state")
    if dropped or state not in (TRUSTED, VALID, INVALID):
        if not codes and TRUSTED_CODE in successes:
            state = TRUSTED
        elif not codes or codes == [UNTRUSTED_CODE]:
            state = VALID
        else:
            state = INVALID
    elif any(code != UNTRUSTED_CODE for code in codes):
        state = INVALID
    elif codes and state == TRUSTED:
        state = VALID
    cleaned["validation_state"] = state
    return cleaned


def _unreadable(message: str) -> ManifestReport:
    return ManifestReport(
        manifest_id=None, validation_state=INVALID, trusted=False, valid=False, tampered=False,
        untrusted=False, expired=False, failure_codes=[UNREADABLE_CODE], error=message,
    )


def _codes(store: dict[str, Any]) -> list[str]:
    """Failure codes: validation_status plus the active manifest's failures, in order, once each."""
    codes: list[str] = []
    results = _dict(store.get("validation_results"))
    entries = _list(store.get("validation_status"))
    entries += _list(_dict(results.get("activeManifest")).get("failure"))
    for delta in map(_dict, _list(results.get("ingredientDeltas"))):
        entries += _list(_dict(delta.get("validationDeltas")).get("failure"))
    for entry in map(_dict, entries):
        code = entry.get("code")
        if isinstance(code, str) and code not in codes:
            codes.append(code)
    return codes


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _pixels(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 1 << 20 else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _region(scope: dict[str, Any]) -> list[float] | None:
    """A block's rectangle in percent (C2PA's region of interest, as ``manifest.region_block``
    writes it) as [x, y, width, height] fractions of the image; None for any other scope."""
    shapes = _list(_dict(scope.get("region")).get("region"))
    shape = _dict(_dict(shapes[0]).get("shape")) if len(shapes) == 1 else {}
    origin = _dict(shape.get("origin"))
    if shape.get("type") != "rectangle" or shape.get("unit") != "percent":
        return None
    values = [origin.get("x"), origin.get("y"), shape.get("width"), shape.get("height")]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 100
               for value in values):
        return None
    return [float(value) / 100 for value in values]


def _binding_value(value: Any) -> str | None:
    """A soft-binding value as text: ours are hex strings; byte strings from others may be lists."""
    if isinstance(value, str):
        return value
    if value and isinstance(value, list) and all(isinstance(item, int) and 0 <= item < 256 for item in value):
        return bytes(value).hex()
    return None


def parse_manifest_store(store: dict[str, Any]) -> ManifestReport:
    """A ``ManifestReport`` from what ``c2pa.Reader.json()`` returns (already parsed from JSON).

    Third-party manifests may hold anything in their assertions; odd shapes are skipped, not trusted.
    """
    store = _dict(store)
    manifest_id = _text(store.get("active_manifest"))
    manifest = _dict(_dict(store.get("manifests")).get(manifest_id or ""))
    state = store.get("validation_state")
    codes = _codes(store)
    if state not in (TRUSTED, VALID, INVALID):
        state = INVALID if codes else VALID
    tampered = any(code.endswith(".mismatch") for code in codes)
    untrusted = UNTRUSTED_CODE in codes
    expired = EXPIRED_CODE in codes

    created: dict[str, Any] = {}
    label_data: dict[str, Any] = {}
    bindings: list[dict[str, Any]] = []
    for assertion in map(_dict, _list(manifest.get("assertions"))):
        label = assertion.get("label")
        data = _dict(assertion.get("data"))
        if label in ("c2pa.actions", "c2pa.actions.v2") and not created:
            actions = map(_dict, _list(data.get("actions")))
            created = next((action for action in actions if action.get("action") == CREATED_ACTION), {})
        elif label == SOFT_BINDING_ASSERTION:
            alg = _text(data.get("alg"))
            for block in map(_dict, _list(data.get("blocks"))):
                binding = {"alg": alg, "value": _binding_value(block.get("value"))}
                region = _region(_dict(block.get("scope")))
                if region is not None:
                    binding["region"] = region
                bindings.append(binding)
        elif label == LABEL_ASSERTION:
            label_data = data

    agent = created.get("softwareAgent")
    agent_name = _text(agent.get("name")) if isinstance(agent, dict) else _text(agent)
    generator_info = _list(manifest.get("claim_generator_info"))
    claim_generator = (
        _text(_dict(generator_info[0]).get("name")) if generator_info else None
    ) or _text(manifest.get("claim_generator"))
    model = _text(label_data.get("model"))
    if model is None and isinstance(agent, dict):
        model = _text(agent.get(MODEL_KEY))
    signature = _dict(manifest.get("signature_info"))

    def binding(alg: str) -> str | None:
        return next((b["value"] for b in bindings if b["alg"] == alg and b["value"]), None)

    return ManifestReport(
        manifest_id=manifest_id,
        validation_state=state,
        trusted=state == TRUSTED and not codes,
        valid=state in (TRUSTED, VALID) and not tampered,
        tampered=tampered,
        untrusted=untrusted,
        expired=expired,
        failure_codes=codes,
        signer=_text(signature.get("common_name")),
        signer_organization=_text(signature.get("issuer")),
        generator=agent_name or _text(label_data.get("generator")) or claim_generator,
        model=model,
        created_at=_text(created.get("when")) or _text(label_data.get("created_at")),
        digital_source_type=_text(created.get("digitalSourceType")),
        label_id=binding(WATERMARK_BINDING_ALG) or _text(label_data.get("label_id")),
        watermark_key_id=_text(label_data.get("watermark_key_id")),
        labelled_width=_pixels(label_data.get("width")),
        labelled_height=_pixels(label_data.get("height")),
        pdq_hex=binding(PDQ_BINDING_ALG),
        soft_bindings=bindings,
        visible_label=_text(label_data.get("visible_label")),
        claim_generator=claim_generator,
    )
