"""Sign media with a C2PA manifest (Content Credentials), in memory, with c2pa-python.

Every call creates its own c2pa ``Context``, ``Signer`` and ``Builder``: nothing native is shared
between threads or survives a ``fork()`` (c2pa objects are not fork-safe). c2pa failures come back
as DeepShield errors with plain-words messages, never as raw ``C2paError`` tracebacks.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa
from cryptography.hazmat.primitives import serialization

from deepshield.errors import Category, DeepShieldError, InvalidRequest, NotFound
from deepshield.media.errors import CorruptMedia, MediaError
from deepshield.media.sniff import sniff_media_type
from deepshield.provenance.certificates import (
    SIGNER_CERTIFICATE_FILE,
    SIGNER_KEY_FILE,
    signing_certificate_problems,
)
from deepshield.provenance.jumbf import InvalidManifestStore, active_manifest_id
from deepshield.provenance.manifest import SIGNABLE_MIME_TYPES

_ALGORITHMS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ps256": c2pa.C2paSigningAlg.PS256,
    "ps384": c2pa.C2paSigningAlg.PS384,
    "ps512": c2pa.C2paSigningAlg.PS512,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}

#: Builder settings: no thumbnail (c2pa's default 1024 px JPEG would add ~45 kB to every file).
_BUILDER_SETTINGS: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}


class SigningError(DeepShieldError):
    """Signing could not be done: the signing identity (certificate, key, TSA, callback) is at fault."""

    code = "signing_failed"
    category = Category.UNAVAILABLE


class SigningKeysMissing(NotFound):
    """No signing certificate or key where DeepShield looked for them."""

    code = "signing_keys_missing"


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs: a PEM certificate chain (signer first) and either its private key or a callback.

    ``sign_callback`` is for keys held in a KMS or HSM: it receives the bytes to sign and returns the
    signature (for ECDSA, DER or raw r||s both work). With a callback, ``private_key_pem`` may be None.
    ``tsa_url`` is an RFC 3161 timestamp authority; when it cannot be reached, signing fails.
    """

    certificate_chain_pem: bytes
    private_key_pem: bytes | None = field(repr=False)
    algorithm: str = "es256"
    tsa_url: str | None = None
    sign_callback: Callable[[bytes], bytes] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SignedMedia:
    data: bytes  # the signed asset
    manifest_store: bytes  # the raw C2PA manifest store (JUMBF) that Builder.sign returned
    manifest_id: str  # the active manifest's label, e.g. "urn:c2pa:4a1b...-..."


def load_signing_identity(directory: Path) -> SigningIdentity:
    """The signing identity in ``directory`` (``signer.pem`` and ``signer.key``)."""
    directory = Path(directory)
    chain_path, key_path = directory / SIGNER_CERTIFICATE_FILE, directory / SIGNER_KEY_FILE
    missing = [path.name for path in (chain_path, key_path) if not path.is_file()]
    if missing:
        raise SigningKeysMissing(
            f"no signing keys in {directory} (missing {', '.join(missing)}); "
            "run `deepshield keys init` to create development keys"
        )
    return SigningIdentity(
        certificate_chain_pem=chain_path.read_bytes(), private_key_pem=key_path.read_bytes()
    )


def mime_type_of(data: bytes) -> str | None:
    """The MIME type of ``data`` when it is JPEG, PNG, WebP or MP4 (by magic bytes), else None."""
    try:
        mime = sniff_media_type(data[:64]).mime
    except MediaError:
        return None
    return mime if mime in SIGNABLE_MIME_TYPES else None


def sign_media(
    data: bytes, mime_type: str, manifest_definition: dict[str, Any], identity: SigningIdentity
) -> SignedMedia:
    """Embed a signed C2PA manifest built from ``manifest_definition`` into ``data``.

    Supported are image/jpeg, image/png, image/webp and video/mp4; the content must be of the
    declared type. Raises ``InvalidRequest`` for an unsupported or mismatched type, ``CorruptMedia``
    when c2pa cannot parse the asset, and ``SigningError`` when the identity is at fault.
    """
    mime = mime_type.strip().lower()
    if mime not in SIGNABLE_MIME_TYPES:
        raise InvalidRequest(
            f"cannot add Content Credentials to {mime_type!r}; supported are {', '.join(SIGNABLE_MIME_TYPES)}"
        )
    actual = mime_type_of(data)
    if actual != mime:
        found = f"looks like {actual}" if actual else "is not a JPEG, PNG, WebP or MP4 file"
        raise InvalidRequest(f"the content {found}, but it was declared {mime}")
    definition = copy.deepcopy(manifest_definition)
    definition["format"] = mime

    callback_failures: list[BaseException] = []
    try:
        signer = _make_signer(identity, callback_failures)
    except c2pa.C2paError as exc:
        raise _signing_failure(exc, identity, callback_failures) from None
    destination = io.BytesIO()  # read back by c2pa after writing (the w+b requirement)
    try:
        with (
            c2pa.Context.from_dict(_BUILDER_SETTINGS) as context,
            c2pa.Builder(definition, context) as builder,
        ):
            manifest_store = builder.sign(signer, mime, io.BytesIO(data), destination)
    except c2pa.C2paError as exc:
        raise _signing_failure(exc, identity, callback_failures) from None
    finally:
        signer.close()
    signed = destination.getvalue()
    manifest_id = active_manifest_label(manifest_store) or _manifest_id_by_reading(signed, mime)
    return SignedMedia(data=signed, manifest_store=manifest_store, manifest_id=manifest_id)


def _make_signer(identity: SigningIdentity, callback_failures: list[BaseException]) -> c2pa.Signer:
    algorithm = identity.algorithm.strip().lower()
    if algorithm not in _ALGORITHMS:
        raise SigningError(
            f"unknown signing algorithm {identity.algorithm!r}; use one of {', '.join(_ALGORITHMS)}"
        )
    if not identity.certificate_chain_pem.strip():
        raise SigningError("the signing identity has no certificate chain")
    if identity.sign_callback is not None:
        user_callback = identity.sign_callback

        def callback(payload: bytes) -> bytes:
            try:
                return user_callback(payload)
            except Exception as exc:  # c2pa swallows it; keep it to report
                callback_failures.append(exc)
                raise

        return c2pa.Signer.from_callback(
            callback, _ALGORITHMS[algorithm], identity.certificate_chain_pem.decode("ascii", "replace"),
            identity.tsa_url,
        )
    if identity.private_key_pem is None:
        raise SigningError("the signing identity has neither a private key nor a signing callback")
    info = c2pa.C2paSignerInfo(
        algorithm.encode(), identity.certificate_chain_pem, _pkcs8(identity.private_key_pem),
        identity.tsa_url.encode() if identity.tsa_url else None,
    )
    return c2pa.Signer.from_info(info)


def _pkcs8(private_key_pem: bytes) -> bytes:
    """The key as unencrypted PKCS#8 PEM, the only form c2pa reads (SEC1 "EC PRIVATE KEY" is converted)."""
    try:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"the signing private key could not be loaded: {exc}") from None
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _signing_failure(
    exc: c2pa.C2paError, identity: SigningIdentity, callback_failures: list[BaseException]
) -> DeepShieldError:
    message = str(exc)
    lowered = message.lower()
    if callback_failures:
        failure = callback_failures[0]
        return SigningError(f"the signing callback failed: {type(failure).__name__}: {failure}")
    if isinstance(exc, c2pa.C2paError.NotSupported):
        return InvalidRequest(f"c2pa cannot sign this kind of file: {message}")
    if "could not be parsed" in lowered or isinstance(exc, c2pa.C2paError.Io | c2pa.C2paError.Decoding):
        return CorruptMedia(f"the file could not be parsed for signing (corrupt or truncated?): {message}")
    if "does not match the provided data or public key" in lowered:
        return SigningError("the private key does not belong to the signing certificate (or the "
                            "signing callback used another key)")
    if identity.tsa_url and ("timestamp" in lowered or "tsa" in lowered or "http" in lowered):
        return SigningError(f"the timestamp authority {identity.tsa_url} could not be used: {message}")
    if "certificate" in lowered:
        problems = signing_certificate_problems(identity.certificate_chain_pem)
        detail = "; ".join(problems) if problems else "no profile problem found locally"
        return SigningError(
            f"c2pa refused the signing certificate ({message}): {detail}. A C2PA signing certificate "
            "needs X.509 v3, an allowed key (e.g. ECDSA P-256), KeyUsage digitalSignature only, "
            "EKU emailProtection (plus 1.3.6.1.4.1.62558.2.1), an AuthorityKeyIdentifier, must not be a "
            "CA and must be valid now; `deepshield keys init --force` makes development keys that fit"
        )
    if isinstance(exc, c2pa.C2paError.Json | c2pa.C2paError.Manifest | c2pa.C2paError.Assertion):
        return InvalidRequest(f"the manifest definition was refused by c2pa: {message}")
    return SigningError(f"signing the Content Credentials failed: {message}")


def _manifest_id_by_reading(signed: bytes, mime: str) -> str:
    with c2pa.Context() as context, c2pa.Reader(mime, io.BytesIO(signed), None, context) as reader:
        manifest = reader.get_active_manifest() or {}
    label = manifest.get("label")
    if not isinstance(label, str):
        raise SigningError("the signed file has no active manifest label")
    return label


def active_manifest_label(manifest_store: bytes) -> str | None:
    """The label of the last (active) manifest in a C2PA manifest store, or None if it is not one."""
    try:
        return active_manifest_id(manifest_store)
    except InvalidManifestStore:
        return None
