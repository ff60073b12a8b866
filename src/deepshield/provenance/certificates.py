"""The development CA and signing certificate behind ``deepshield keys init``, and certificate helpers.

C2PA signing certificates must follow a profile (X.509 v3, an allowed key such as ECDSA P-256,
KeyUsage digitalSignature only, an EKU, an AuthorityKeyIdentifier, not a CA). c2pa-rs rejects
anything else with a bare "the certificate is invalid", so :func:`signing_certificate_problems`
names what is wrong in plain words.

There is no timestamp authority offline, so c2pa checks the signer's validity at *read* time: once
the signing certificate expires, every asset it signed reads Invalid. Development certificates are
therefore long-lived (ten years by default). Production deployments should configure a TSA.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID, ObjectIdentifier

from deepshield.errors import Conflict, InvalidRequest

#: The C2PA claim-signing extended key usage (C2PA 2.x, section "Certificate profile").
C2PA_CLAIM_SIGNING_EKU = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")

CA_CERTIFICATE_FILE = "dev-ca.pem"
CA_KEY_FILE = "dev-ca.key"
SIGNER_CERTIFICATE_FILE = "signer.pem"  # the signing certificate followed by the CA certificate
SIGNER_KEY_FILE = "signer.key"
TRUST_ANCHORS_FILE = "trust-anchors.pem"

DEV_ORGANIZATION = "DeepShield development"
_MAX_COMMON_NAME = 64  # X.509 upper bound (ub-common-name)
_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key (P-256)."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (the form c2pa reads)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


@dataclass(frozen=True)
class DevelopmentKeys:
    """Where ``init_development_keys`` wrote the development CA and signer, and who the signer is."""

    directory: Path
    ca_certificate: Path
    ca_key: Path
    signer_certificate_chain: Path
    signer_key: Path
    trust_anchors: Path
    signer_subject: str  # RFC 4514, e.g. "O=DeepShield development,CN=DeepShield development signer (host)"
    signer_fingerprint: str  # SHA-256 of the signing certificate (DER), lowercase hex
    ca_fingerprint: str
    not_after: dt.datetime  # when the signing certificate expires (UTC)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, as lowercase hex."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name[:_MAX_COMMON_NAME]),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization[:_MAX_COMMON_NAME]),
    ])


def _validity(not_before: dt.datetime | None, not_after: dt.datetime | None,
              valid_days: int) -> tuple[dt.datetime, dt.datetime]:
    start = not_before if not_before is not None else dt.datetime.now(dt.UTC) - _CLOCK_SKEW
    end = not_after if not_after is not None else start + dt.timedelta(days=valid_days)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequest("certificate validity times must be timezone-aware")
    if end <= start:
        raise InvalidRequest("a certificate's not_after must be later than its not_before")
    return start, end


def create_ca(
    *,
    common_name: str = "DeepShield development CA",
    organization: str = DEV_ORGANIZATION,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    valid_days: int = 3650,
) -> IssuedCertificate:
    """A self-signed P-256 root CA: BasicConstraints CA=true, KeyUsage keyCertSign+cRLSign, SKI."""
    start, end = _validity(not_before, not_after, valid_days)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, organization)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedCertificate(certificate, key)


def issue_signing_certificate(
    ca_certificate: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    valid_days: int = 3650,
    common_name: str | None = None,
    organization: str = DEV_ORGANIZATION,
    extended_key_usages: tuple[ObjectIdentifier, ...] = (
        ExtendedKeyUsageOID.EMAIL_PROTECTION, C2PA_CLAIM_SIGNING_EKU,
    ),
) -> IssuedCertificate:
    """A P-256 C2PA claim-signing certificate issued by ``ca_certificate``.

    KeyUsage digitalSignature only; EKU emailProtection plus the C2PA claim-signing EKU (c2pa-rs
    accepts emailProtection without extra trust configuration); AKI and SKI; BasicConstraints CA=false.
    ``not_before``/``not_after`` let tests build expired or not-yet-valid signers.
    """
    start, end = _validity(not_before, not_after, valid_days)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name or development_signer_name(), organization))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if extended_key_usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usages)), critical=False)
    return IssuedCertificate(builder.sign(ca_key, hashes.SHA256()), key)


def development_signer_name() -> str:
    """``DeepShield development signer (<hostname>)``, within the 64-character CN limit."""
    prefix, suffix = "DeepShield development signer (", ")"
    try:
        host = socket.gethostname().strip() or "local"
    except OSError:
        host = "local"
    return prefix + host[: _MAX_COMMON_NAME - len(prefix) - len(suffix)] + suffix


def signing_certificate_problems(chain_pem: bytes, *, at: dt.datetime | None = None) -> list[str]:
    """What keeps the first certificate of ``chain_pem`` from being a C2PA signing certificate.

    An empty list means the profile looks right (c2pa-rs has the last word). Used to explain
    c2pa's bare "the certificate is invalid".
    """
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        return ["the certificate chain is not PEM-encoded X.509 certificates"]
    leaf = chain[0]
    when = at or dt.datetime.now(dt.UTC)
    problems: list[str] = []
    if leaf.version is not x509.Version.v3:
        problems.append("it is not an X.509 v3 certificate")
    public_key = leaf.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name not in (
        "secp256r1", "secp384r1", "secp521r1"
    ):
        problems.append(f"its EC curve {public_key.curve.name} is not one C2PA allows")
    if leaf.not_valid_after_utc < when:
        problems.append(f"it expired on {leaf.not_valid_after_utc.isoformat()}")
    if leaf.not_valid_before_utc > when:
        problems.append(f"it is not valid before {leaf.not_valid_before_utc.isoformat()}")
    if leaf.issuer == leaf.subject:
        problems.append("it is self-signed (a C2PA signer must be issued by a CA)")
    extensions = {ext.oid: ext.value for ext in leaf.extensions}
    constraints = extensions.get(ExtensionOID.BASIC_CONSTRAINTS)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        problems.append("it is a CA certificate (BasicConstraints CA=true); CA certificates cannot sign")
    usage = extensions.get(ExtensionOID.KEY_USAGE)
    if not isinstance(usage, x509.KeyUsage) or not usage.digital_signature:
        problems.append("its KeyUsage lacks digitalSignature")
    elif usage.key_cert_sign:
        problems.append("its KeyUsage includes keyCertSign")
    ekus = extensions.get(ExtensionOID.EXTENDED_KEY_USAGE)
    if not isinstance(ekus, x509.ExtendedKeyUsage):
        problems.append("it has no ExtendedKeyUsage (use emailProtection plus 1.3.6.1.4.1.62558.2.1)")
    elif ExtendedKeyUsageOID.EMAIL_PROTECTION not in ekus:
        problems.append(
            "its ExtendedKeyUsage lacks emailProtection (c2pa accepts other EKUs only with a trust_config)"
        )
    if ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in extensions:
        problems.append("it has no AuthorityKeyIdentifier")
    return problems


# --- files -------------------------------------------------------------------------------------------


def write_file_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``: all or nothing."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_trust_anchors(path: Path) -> bytes:
    """The PEM bundle of trust anchors at ``path``; empty bytes when the file does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def add_trust_anchor(path: Path, certificate: x509.Certificate) -> bool:
    """Append ``certificate`` to the PEM bundle at ``path`` unless it is already there.

    Anchors already in the file are kept byte for byte. Returns True when the file changed.
    """
    existing = load_trust_anchors(path)
    if existing.strip():
        try:
            anchors = x509.load_pem_x509_certificates(existing)
        except ValueError as exc:
            raise InvalidRequest(
                f"{path} is not a PEM bundle of certificates; fix or remove it and run the command again"
            ) from exc
        if any(anchor == certificate for anchor in anchors):
            return False
        if not existing.endswith(b"\n"):
            existing += b"\n"
    else:
        existing = b""
    write_file_atomically(path, existing + certificate.public_bytes(serialization.Encoding.PEM))
    return True


def init_development_keys(directory: Path, *, force: bool = False, valid_days: int = 3650) -> DevelopmentKeys:
    """Create a development CA and a C2PA signing certificate under ``directory``.

    Writes ``dev-ca.pem``, ``dev-ca.key`` (0600), ``signer.pem`` (signing certificate then CA
    certificate), ``signer.key`` (0600), and appends the CA to ``trust-anchors.pem`` (earlier
    anchors are kept, so assets signed with replaced keys still read as trusted). Each file is
    written atomically. Raises ``Conflict`` when keys exist and ``force`` is false.
    """
    directory = Path(directory)
    paths = {name: directory / name for name in (
        CA_CERTIFICATE_FILE, CA_KEY_FILE, SIGNER_CERTIFICATE_FILE, SIGNER_KEY_FILE,
    )}
    existing = sorted(name for name, path in paths.items() if path.exists())
    if existing and not force:
        raise Conflict(
            f"development signing keys already exist in {directory} ({', '.join(existing)}); "
            "run `deepshield keys init --force` to replace them (the old CA stays in "
            f"{TRUST_ANCHORS_FILE}, so files signed before still read as trusted)"
        )
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = create_ca(valid_days=valid_days + 1)
    signer = issue_signing_certificate(ca.certificate, ca.private_key, valid_days=valid_days)
    trust_anchors = directory / TRUST_ANCHORS_FILE
    # Anchor first: a crash later leaves at most an extra trusted CA, never an untrusted signer.
    add_trust_anchor(trust_anchors, ca.certificate)
    write_file_atomically(paths[CA_KEY_FILE], ca.private_key_pem(), mode=0o600)
    write_file_atomically(paths[CA_CERTIFICATE_FILE], ca.certificate_pem())
    write_file_atomically(paths[SIGNER_KEY_FILE], signer.private_key_pem(), mode=0o600)
    write_file_atomically(paths[SIGNER_CERTIFICATE_FILE], signer.certificate_pem() + ca.certificate_pem())
    return DevelopmentKeys(
        directory=directory,
        ca_certificate=paths[CA_CERTIFICATE_FILE],
        ca_key=paths[CA_KEY_FILE],
        signer_certificate_chain=paths[SIGNER_CERTIFICATE_FILE],
        signer_key=paths[SIGNER_KEY_FILE],
        trust_anchors=trust_anchors,
        signer_subject=signer.certificate.subject.rfc4514_string(),
        signer_fingerprint=fingerprint(signer.certificate),
        ca_fingerprint=fingerprint(ca.certificate),
        not_after=signer.certificate.not_valid_after_utc,
    )
