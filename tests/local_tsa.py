"""A local RFC 3161 timestamp authority for tests, whose clock is set by the test.

c2pa judges a signing certificate at the trusted time of signing: the timestamp's time when the
manifest carries one (otherwise the wall clock at read time). A timestamp authority issued by the
installation's own CA, stamping a chosen time, is therefore an honest way to inject the clock into
c2pa's own validity check, with no sleep: stamp a time after the signer's ``notAfter`` and c2pa
reports ``signingCredential.expired``; stamp a time inside the window and the same signer is
trusted.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from deepshield.provenance.c2pa_signing import SigningIdentity
from deepshield.provenance.certificates import (
    CA_CERTIFICATE_FILE,
    CA_KEY_FILE,
    IssuedCertificate,
    issue_signing_certificate,
)


def installation_ca(provenance_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA that ``keys init`` made (its certificate is in the installation's trust anchors)."""
    certificate = x509.load_pem_x509_certificate((provenance_dir / CA_CERTIFICATE_FILE).read_bytes())
    key = serialization.load_pem_private_key((provenance_dir / CA_KEY_FILE).read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return certificate, key


def _tsa_certificate(ca_certificate: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                     key: rsa.RSAPrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DeepShield test TSA")]))
            .issuer_name(ca_certificate.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=30)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


@contextmanager
def timestamp_authority(ca_certificate: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                        at: dt.datetime) -> Iterator[str]:
    """Serve, on 127.0.0.1, a timestamp authority certified by the given CA whose tokens all say
    ``at``; yields its URL."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's stamper is RSA-only
    certificate = _tsa_certificate(ca_certificate, ca_key, key)
    stamper = DummyTimeStamper(
        asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(key.private_bytes(serialization.Encoding.DER,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption())),
        fixed_dt=at)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            reply = stamper.request_tsa_response(request).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def short_lived_signer(provenance_dir: Path, *, valid_for: dt.timedelta = dt.timedelta(hours=1)
                       ) -> tuple[IssuedCertificate, bytes]:
    """A signing certificate from the installation's own CA, valid from a day ago for
    ``valid_for`` more, and its chain (signer, then CA) in PEM."""
    ca_certificate, ca_key = installation_ca(provenance_dir)
    now = dt.datetime.now(dt.UTC)
    signer = issue_signing_certificate(ca_certificate, ca_key, not_before=now - dt.timedelta(days=1),
                                       not_after=now + valid_for)
    return signer, signer.certificate_pem() + ca_certificate.public_bytes(serialization.Encoding.PEM)


@contextmanager
def identity_stamped_at(provenance_dir: Path, signer: IssuedCertificate, chain_pem: bytes,
                        at: dt.datetime) -> Iterator[SigningIdentity]:
    """A signing identity whose signatures carry a trusted timestamp saying ``at``."""
    ca_certificate, ca_key = installation_ca(provenance_dir)
    with timestamp_authority(ca_certificate, ca_key, at) as url:
        yield SigningIdentity(chain_pem, signer.private_key_pem(), tsa_url=url)
