"""Signing: round trips in every format with real keys, callback signers, and clear refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media.errors import CorruptMedia
from deepshield.provenance import (
    PDQ_BINDING_ALG,
    TRAINED_ALGORITHMIC_MEDIA,
    WATERMARK_BINDING_ALG,
    SignedMedia,
    SigningError,
    SigningIdentity,
    create_ca,
    issue_signing_certificate,
    mime_type_of,
    read_content_credentials,
    sign_media,
)
from deepshield.provenance.c2pa_signing import active_manifest_label
from factories import encode_audio_only_mp4, encode_image, photo_pixels

MIME_TYPES = ["image/jpeg", "image/png", "image/webp", "video/mp4"]


@pytest.mark.parametrize("mime", MIME_TYPES)
def test_round_trip_is_trusted(
    mime: str, signed: dict[str, SignedMedia], media: dict[str, bytes], anchors: bytes, facts: Any
) -> None:
    result = signed[mime]
    assert mime_type_of(result.data) == mime
    assert len(result.data) > len(media[mime])
    assert result.manifest_store[4:8] == b"jumb"
    assert result.manifest_id.startswith("urn:c2pa:")
    report = read_content_credentials(result.data, mime, trust_anchors_pem=anchors)
    assert report is not None
    assert report.validation_state == "Trusted"
    assert report.trusted and report.valid
    assert not (report.tampered or report.untrusted or report.expired)
    assert report.failure_codes == []
    assert report.manifest_id == result.manifest_id
    assert report.generator == facts.generator
    assert report.model == facts.model
    assert report.digital_source_type == TRAINED_ALGORITHMIC_MEDIA
    assert report.label_id == facts.label_id
    assert report.pdq_hex == facts.pdq_hex
    assert report.created_at == "2026-03-01T12:30:05Z"
    assert report.visible_label == facts.visible_label
    assert report.claim_generator == "DeepShield"
    assert report.signer is not None and report.signer.startswith("DeepShield development signer (")
    assert report.signer_organization == "DeepShield development"
    assert report.soft_bindings == [
        {"alg": WATERMARK_BINDING_ALG, "value": facts.label_id},
        {"alg": PDQ_BINDING_ALG, "value": facts.pdq_hex},
    ]
    as_dict = report.to_dict()
    assert as_dict["trusted"] is True and as_dict["label_id"] == facts.label_id


@pytest.mark.parametrize("mime", MIME_TYPES)
def test_manifest_is_small(mime: str, signed: dict[str, SignedMedia], media: dict[str, bytes]) -> None:
    """No thumbnail: the manifest adds a few kB, not the ~45 kB of c2pa's default 1024 px thumbnail."""
    assert len(signed[mime].data) - len(media[mime]) < 8_000


def test_manifest_id_from_store_matches_reader(signed: dict[str, SignedMedia]) -> None:
    for result in signed.values():
        assert active_manifest_label(result.manifest_store) == result.manifest_id
    assert active_manifest_label(b"") is None
    assert active_manifest_label(b"\x00\x00\x00\x10free" + b"\x00" * 8) is None


def _raw_ecdsa(key: ec.EllipticCurvePrivateKey, der: bool) -> Callable[[bytes], bytes]:
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def sign(payload: bytes) -> bytes:
        signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
        if der:
            return signature
        r, s = decode_dss_signature(signature)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


@pytest.mark.parametrize("der", [False, True], ids=["raw-r-s", "der"])
def test_callback_signer(
    der: bool, identity: SigningIdentity, sign: Callable[..., SignedMedia], anchors: bytes
) -> None:
    """A KMS/HSM-style callback: the key never reaches c2pa."""
    assert identity.private_key_pem is not None
    key = serialization.load_pem_private_key(identity.private_key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    remote = SigningIdentity(
        certificate_chain_pem=identity.certificate_chain_pem, private_key_pem=None,
        sign_callback=_raw_ecdsa(key, der),
    )
    result = sign("image/jpeg", remote)
    report = read_content_credentials(result.data, "image/jpeg", trust_anchors_pem=anchors)
    assert report is not None and report.trusted


def test_failing_callback_is_reported(identity: SigningIdentity, sign: Callable[..., SignedMedia]) -> None:
    def broken(payload: bytes) -> bytes:
        raise RuntimeError("HSM offline")

    remote = SigningIdentity(identity.certificate_chain_pem, None, sign_callback=broken)
    with pytest.raises(SigningError, match="HSM offline"):
        sign("image/png", remote)


def test_sec1_private_key_is_accepted(identity: SigningIdentity, sign: Callable[..., SignedMedia]) -> None:
    assert identity.private_key_pem is not None
    key = serialization.load_pem_private_key(identity.private_key_pem, password=None)
    sec1 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert sec1.startswith(b"-----BEGIN EC PRIVATE KEY-----")
    assert sign("image/jpeg", dataclasses.replace(identity, private_key_pem=sec1)).manifest_id


def test_private_key_is_not_in_repr(identity: SigningIdentity) -> None:
    assert "PRIVATE KEY" not in repr(identity)


def test_wrong_key_for_certificate(identity: SigningIdentity, sign: Callable[..., SignedMedia]) -> None:
    other = create_ca().private_key_pem()
    with pytest.raises(SigningError, match="does not belong to the signing certificate"):
        sign("image/jpeg", dataclasses.replace(identity, private_key_pem=other))


def test_ca_certificate_cannot_sign(sign: Callable[..., SignedMedia]) -> None:
    ca = create_ca()
    identity = SigningIdentity(ca.certificate_pem(), ca.private_key_pem())
    with pytest.raises(SigningError) as caught:
        sign("image/jpeg", identity)
    assert "certificate" in caught.value.detail and "CA" in caught.value.detail


def test_expired_signer_is_refused(sign: Callable[..., SignedMedia]) -> None:
    """c2pa refuses to sign with a certificate outside its validity (there is no TSA to vouch)."""
    ca = create_ca()
    now = dt.datetime.now(dt.UTC)
    expired = issue_signing_certificate(
        ca.certificate, ca.private_key, not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    identity = SigningIdentity(expired.certificate_pem() + ca.certificate_pem(), expired.private_key_pem())
    with pytest.raises(SigningError) as caught:
        sign("image/jpeg", identity)
    assert "expired" in caught.value.detail


def test_unknown_algorithm_and_missing_key(
    identity: SigningIdentity, sign: Callable[..., SignedMedia]
) -> None:
    with pytest.raises(SigningError, match="unknown signing algorithm"):
        sign("image/jpeg", dataclasses.replace(identity, algorithm="rs1"))
    with pytest.raises(SigningError, match="neither a private key nor a signing callback"):
        sign("image/jpeg", dataclasses.replace(identity, private_key_pem=None))
    with pytest.raises(SigningError, match="could not be loaded"):
        sign("image/jpeg", dataclasses.replace(identity, private_key_pem=b"nope"))


def test_unreachable_tsa_fails_clearly(identity: SigningIdentity, sign: Callable[..., SignedMedia]) -> None:
    """Offline, a TSA cannot be reached; signing must fail with a DeepShield error, not hang or crash."""
    unreachable = dataclasses.replace(identity, tsa_url="http://127.0.0.1:9/tsa")
    with pytest.raises(SigningError):
        sign("image/jpeg", unreachable)


@pytest.mark.parametrize("mime", ["image/gif", "video/quicktime", "application/pdf", ""])
def test_unsupported_type(mime: str, media: dict[str, bytes], identity: SigningIdentity,
                          definition: Callable[..., dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequest, match="supported are"):
        sign_media(media["image/jpeg"], mime, definition("image/jpeg"), identity)


def test_content_must_match_declared_type(
    media: dict[str, bytes], identity: SigningIdentity, definition: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(InvalidRequest, match="looks like image/png"):
        sign_media(media["image/png"], "image/jpeg", definition("image/jpeg"), identity)
    with pytest.raises(InvalidRequest, match="not a JPEG, PNG, WebP or MP4"):
        sign_media(b"hello world", "image/jpeg", definition("image/jpeg"), identity)
    gif = encode_image(photo_pixels(1, 32, 32), "GIF")
    with pytest.raises(InvalidRequest):
        sign_media(gif, "image/jpeg", definition("image/jpeg"), identity)


def test_definition_format_follows_the_data(
    media: dict[str, bytes], identity: SigningIdentity, definition: Callable[..., dict[str, Any]],
    anchors: bytes,
) -> None:
    result = sign_media(media["image/png"], "image/png", definition("image/jpeg"), identity)
    report = read_content_credentials(result.data, "image/png", trust_anchors_pem=anchors)
    assert report is not None and report.trusted


def test_corrupt_media_is_refused(
    media: dict[str, bytes], identity: SigningIdentity, definition: Callable[..., dict[str, Any]]
) -> None:
    with pytest.raises(DeepShieldError) as caught:
        sign_media(media["image/jpeg"][:300], "image/jpeg", definition("image/jpeg"), identity)
    assert isinstance(caught.value, CorruptMedia | SigningError)


def test_audio_only_mp4_signs(identity: SigningIdentity, definition: Callable[..., dict[str, Any]],
                              anchors: bytes) -> None:
    """An MP4 is an MP4 to c2pa (BMFF hash), whatever its tracks."""
    audio = encode_audio_only_mp4(0.5)
    result = sign_media(audio, "video/mp4", definition("video/mp4"), identity)
    report = read_content_credentials(result.data, "video/mp4", trust_anchors_pem=anchors)
    assert report is not None and report.trusted
