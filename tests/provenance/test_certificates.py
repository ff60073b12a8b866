"""Development keys (``deepshield keys init``): certificate profiles, files, modes, trust anchors."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from deepshield.errors import Conflict, InvalidRequest
from deepshield.provenance import (
    C2PA_CLAIM_SIGNING_EKU,
    DevelopmentKeys,
    SigningKeysMissing,
    add_trust_anchor,
    create_ca,
    init_development_keys,
    issue_signing_certificate,
    load_signing_identity,
    load_trust_anchors,
    signing_certificate_problems,
)


def _extension(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> object:
    return certificate.extensions.get_extension_for_oid(oid).value


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_modes(dev_keys: DevelopmentKeys) -> None:
    directory = dev_keys.directory
    names = sorted(path.name for path in directory.iterdir())
    assert names == ["dev-ca.key", "dev-ca.pem", "signer.key", "signer.pem", "trust-anchors.pem"]
    assert _mode(dev_keys.ca_key) == 0o600
    assert _mode(dev_keys.signer_key) == 0o600
    for key_path in (dev_keys.ca_key, dev_keys.signer_key):
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == "secp256r1"


def test_signer_chain_is_leaf_then_ca(dev_keys: DevelopmentKeys) -> None:
    chain = x509.load_pem_x509_certificates(dev_keys.signer_certificate_chain.read_bytes())
    ca = x509.load_pem_x509_certificate(dev_keys.ca_certificate.read_bytes())
    assert len(chain) == 2
    leaf, issuer = chain
    assert issuer == ca
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    assert leaf.fingerprint(hashes.SHA256()).hex() == dev_keys.signer_fingerprint
    assert leaf.subject.rfc4514_string() == dev_keys.signer_subject
    signer_key = serialization.load_pem_private_key(dev_keys.signer_key.read_bytes(), password=None)
    assert signer_key.public_key() == leaf.public_key()


def test_ca_profile(dev_keys: DevelopmentKeys) -> None:
    ca = x509.load_pem_x509_certificate(dev_keys.ca_certificate.read_bytes())
    assert ca.issuer == ca.subject  # self-signed
    ca.verify_directly_issued_by(ca)
    constraints = _extension(ca, ExtensionOID.BASIC_CONSTRAINTS)
    assert isinstance(constraints, x509.BasicConstraints) and constraints.ca
    usage = _extension(ca, ExtensionOID.KEY_USAGE)
    assert isinstance(usage, x509.KeyUsage)
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert _extension(ca, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"


def test_signer_profile(dev_keys: DevelopmentKeys) -> None:
    leaf = x509.load_pem_x509_certificates(dev_keys.signer_certificate_chain.read_bytes())[0]
    ca = x509.load_pem_x509_certificate(dev_keys.ca_certificate.read_bytes())
    assert leaf.version is x509.Version.v3
    public_key = leaf.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"
    constraints = _extension(leaf, ExtensionOID.BASIC_CONSTRAINTS)
    assert isinstance(constraints, x509.BasicConstraints) and not constraints.ca
    usage = _extension(leaf, ExtensionOID.KEY_USAGE)
    assert isinstance(usage, x509.KeyUsage)
    assert usage.digital_signature
    assert not (usage.key_cert_sign or usage.crl_sign or usage.key_encipherment or usage.content_commitment)
    ekus = _extension(leaf, ExtensionOID.EXTENDED_KEY_USAGE)
    assert isinstance(ekus, x509.ExtendedKeyUsage)
    assert list(ekus) == [ExtendedKeyUsageOID.EMAIL_PROTECTION, C2PA_CLAIM_SIGNING_EKU]
    aki = _extension(leaf, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    ca_ski = _extension(ca, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    assert isinstance(aki, x509.AuthorityKeyIdentifier) and isinstance(ca_ski, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ca_ski.digest
    assert _extension(leaf, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    common_name = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    organization = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert str(common_name).startswith("DeepShield development signer (") and len(str(common_name)) <= 64
    assert organization == "DeepShield development"
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime >= dt.timedelta(days=3649)  # long-lived: there is no TSA offline
    assert dev_keys.not_after == leaf.not_valid_after_utc
    assert signing_certificate_problems(dev_keys.signer_certificate_chain.read_bytes()) == []


def test_trust_anchors_hold_the_ca(dev_keys: DevelopmentKeys) -> None:
    anchors = x509.load_pem_x509_certificates(load_trust_anchors(dev_keys.trust_anchors))
    ca = x509.load_pem_x509_certificate(dev_keys.ca_certificate.read_bytes())
    assert anchors == [ca]


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    directory = tmp_path / "provenance"
    first = init_development_keys(directory)
    before = {path.name: path.read_bytes() for path in directory.iterdir()}
    with pytest.raises(Conflict) as caught:
        init_development_keys(directory)
    assert "already exist" in caught.value.detail and "--force" in caught.value.detail
    assert {path.name: path.read_bytes() for path in directory.iterdir()} == before
    assert first.signer_fingerprint


def test_force_replaces_keys_and_keeps_old_anchor(tmp_path: Path) -> None:
    directory = tmp_path / "provenance"
    first = init_development_keys(directory)
    second = init_development_keys(directory, force=True)
    assert second.signer_fingerprint != first.signer_fingerprint
    assert second.ca_fingerprint != first.ca_fingerprint
    anchors = x509.load_pem_x509_certificates(load_trust_anchors(second.trust_anchors))
    assert [a.fingerprint(hashes.SHA256()).hex() for a in anchors] == [
        first.ca_fingerprint, second.ca_fingerprint,
    ]
    assert _mode(second.signer_key) == 0o600
    assert not [path for path in directory.iterdir() if path.name.endswith(".tmp")]
    identity = load_signing_identity(directory)
    leaf = x509.load_pem_x509_certificates(identity.certificate_chain_pem)[0]
    assert leaf.fingerprint(hashes.SHA256()).hex() == second.signer_fingerprint


def test_anchors_appended_to_existing_bundle_without_duplicates(tmp_path: Path) -> None:
    directory = tmp_path / "provenance"
    directory.mkdir()
    other = create_ca(common_name="Partner CA", organization="Partner")
    bundle = directory / "trust-anchors.pem"
    original = other.certificate_pem().rstrip(b"\n")  # no final newline: appending must add one
    bundle.write_bytes(original)
    keys = init_development_keys(directory)
    text = bundle.read_bytes()
    assert text.startswith(original + b"\n")
    anchors = x509.load_pem_x509_certificates(text)
    assert len(anchors) == 2 and anchors[0] == other.certificate
    ca = x509.load_pem_x509_certificate(keys.ca_certificate.read_bytes())
    assert add_trust_anchor(bundle, ca) is False
    assert add_trust_anchor(bundle, other.certificate) is False
    assert bundle.read_bytes() == text


def test_garbage_trust_anchor_file_is_not_overwritten(tmp_path: Path) -> None:
    bundle = tmp_path / "trust-anchors.pem"
    bundle.write_bytes(b"not a certificate\n")
    with pytest.raises(InvalidRequest):
        add_trust_anchor(bundle, create_ca().certificate)
    assert bundle.read_bytes() == b"not a certificate\n"


def test_load_trust_anchors_missing_file_is_empty(tmp_path: Path) -> None:
    assert load_trust_anchors(tmp_path / "nope.pem") == b""


def test_load_signing_identity_names_keys_init(tmp_path: Path) -> None:
    with pytest.raises(SigningKeysMissing) as caught:
        load_signing_identity(tmp_path / "provenance")
    assert "deepshield keys init" in caught.value.detail
    assert "signer.pem" in caught.value.detail


def test_profile_problems_are_named() -> None:
    ca = create_ca()
    assert any("CA certificate" in problem for problem in signing_certificate_problems(ca.certificate_pem()))
    now = dt.datetime.now(dt.UTC)
    expired = issue_signing_certificate(
        ca.certificate, ca.private_key, not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    assert any("expired" in problem for problem in signing_certificate_problems(expired.certificate_pem()))
    no_eku = issue_signing_certificate(ca.certificate, ca.private_key, extended_key_usages=())
    assert any("ExtendedKeyUsage" in p for p in signing_certificate_problems(no_eku.certificate_pem()))
    assert signing_certificate_problems(b"garbage") == [
        "the certificate chain is not PEM-encoded X.509 certificates"
    ]


def test_validity_must_be_ordered_and_aware() -> None:
    now = dt.datetime.now(dt.UTC)
    with pytest.raises(InvalidRequest):
        create_ca(not_before=now, not_after=now - dt.timedelta(seconds=1))
    with pytest.raises(InvalidRequest):
        create_ca(not_before=dt.datetime(2026, 1, 1), not_after=dt.datetime(2027, 1, 1))
