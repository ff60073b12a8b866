"""Sign a report PDF (PAdES, with pyHanko) so that tampering shows, and check such a PDF.

The signer is the installation's signing identity (``deepshield keys init`` makes one: a P-256
certificate issued by the installation's CA, the one that also signs Content Credentials).

Why the key-usage settings are explicit: that certificate follows the C2PA profile, whose
KeyUsage is ``digitalSignature`` only (C2PA forbids anything else). pyHanko by default wants
``nonRepudiation`` on a PDF signer, both when signing and when validating, and without it
reports the signer as untrusted. Signing and validation here therefore accept
``digitalSignature`` *or* ``nonRepudiation`` and refuse a certificate whose KeyUsage allows
certificate or CRL signing (a CA key must not sign documents). Nothing else is relaxed: the
chain must reach one of the configured trust anchors, the signature must verify over every
signed byte, and the signature must cover the whole file.

A check is ``valid`` only when all of these hold:

* ``intact``: the bytes in the signed range hash to the signed digest (one flipped byte fails);
* the signature itself verifies with the signer's key;
* ``trusted``: the signer's certificate chains to a trust anchor and its key usage fits;
* coverage is the entire file: anything appended after signing (an incremental update that
  changes a page, a new signature, even a harmless-looking one) counts as tampering;
* the embedded machine-readable evidence (``evidence.json``) is there.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from asn1crypto.algos import DSASignature, SignedDigestAlgorithm
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer, SimpleSigner
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import InvalidCertificateError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from deepshield.errors import Category, DeepShieldError, InvalidRequest
from deepshield.reports.evidence import EVIDENCE_ATTACHMENT

log = logging.getLogger("deepshield.reports")
_Result = TypeVar("_Result")

SIGNATURE_FIELD = "DeepShieldEvidence"
#: Key usages a report signer may have (one suffices) and must not have: see the module docstring.
SIGNER_KEY_USAGE = frozenset({"digital_signature", "non_repudiation"})
FORBIDDEN_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign"})
KEY_USAGE_POLICY = KeyUsageConstraints(key_usage=set(SIGNER_KEY_USAGE),
                                       key_usage_forbidden=set(FORBIDDEN_KEY_USAGE))
#: The PDF header may sit anywhere in the first 1024 bytes (ISO 32000-1, annex H).
_HEADER_WINDOW = 1024


class _DropReportedWarnings(logging.Filter):
    # pyHanko logs a warning with a full traceback when an update after signing is not one it can
    # explain, and when a signer's chain reaches no trust anchor. The check reports both as
    # problems in plain words; the tracebacks are only noise on a CLI user's terminal.
    _REPORTED = ("Error in diff operation", "Failed to build path")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._REPORTED)


for _name in ("pyhanko.sign.diff_analysis.policies", "pyhanko.sign.validation.generic_cms"):
    logging.getLogger(_name).addFilter(_DropReportedWarnings())


class ReportSigningError(DeepShieldError):
    """The report could not be signed: the signing identity is at fault (not the report)."""

    code = "report_signing_failed"
    category = Category.UNAVAILABLE


@dataclass(frozen=True)
class ReportCheck:
    """What ``check_pdf`` found. ``problems`` says in plain words why it is not ``valid``."""

    valid: bool
    intact: bool
    trusted: bool
    signer: str
    signed_at: datetime | None
    problems: list[str] = field(default_factory=list)
    #: The signed machine-readable evidence (``EvidencePack.to_dict``), read from the signed
    #: revision; None when the signed bytes are not intact or hold none.
    evidence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        view = asdict(self)
        view["signed_at"] = self.signed_at.isoformat() if self.signed_at else None
        return view


# --- Signing -------------------------------------------------------------------------------


class _CallbackSigner(Signer):
    """A pyHanko signer whose ECDSA key lives in a KMS or HSM behind a signing callback (the
    same ``DEEPSHIELD_SIGNING_CALLBACK`` that signs Content Credentials: it takes the bytes to
    sign and returns an ECDSA-with-SHA-256 signature, DER or raw r||s)."""

    def __init__(self, certificate: asn1_x509.Certificate, registry: SimpleCertificateStore,
                 callback: Callable[[bytes], bytes]) -> None:
        super().__init__(signing_cert=certificate, cert_registry=registry,
                         signature_mechanism=SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}))
        self._callback = callback
        # A DER ECDSA signature is at most 2 * (coordinate + 3) + 3 bytes; the dry run reserves that.
        coordinate = (certificate.public_key.bit_size + 7) // 8
        self._max_signature = 2 * (coordinate + 3) + 3

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return bytes(self._max_signature)
        signature = self._callback(data)
        coordinate = (self._max_signature - 9) // 2
        if len(signature) == 2 * coordinate:  # raw r||s: CMS wants DER
            signature = DSASignature.from_p1363(signature).dump()
        return signature


def _signer(certificate_chain_pem: bytes, private_key_pem: bytes | None,
            sign_callback: Callable[[bytes], bytes] | None) -> Signer:
    try:
        chain = list(load_certs_from_pemder_data(certificate_chain_pem))
    except ValueError as error:
        raise ReportSigningError(f"the signing certificate chain cannot be read: {error}") from None
    if not chain:
        raise ReportSigningError("the signing certificate file holds no certificate")
    try:
        # pyHanko checks the signer's key usage only when it builds a validation path at signing
        # time; check it here so a CA key can never sign a pack that would then fail every check.
        KEY_USAGE_POLICY.validate(chain[0])
    except InvalidCertificateError as error:
        raise ReportSigningError(f"the signing certificate may not sign documents: {error}") from None
    registry = SimpleCertificateStore.from_certs(chain[1:])
    if private_key_pem is not None:
        try:
            key: asn1_keys.PrivateKeyInfo = load_private_key_from_pemder_data(private_key_pem,
                                                                              passphrase=None)
        except (ValueError, TypeError) as error:
            raise ReportSigningError(f"the signing key cannot be read: {error}") from None
        return SimpleSigner(signing_cert=chain[0], signing_key=key, cert_registry=registry)
    if sign_callback is None:
        raise ReportSigningError("no signing key and no signing callback: nothing can sign the report")
    if chain[0].public_key.algorithm != "ec":
        raise ReportSigningError("a signing callback can sign reports only with an ECDSA certificate")
    return _CallbackSigner(chain[0], registry, sign_callback)


def _off_any_running_loop(call: Callable[[], _Result]) -> _Result:
    """``call()``, in a thread of its own when this thread runs an event loop.

    pyHanko's synchronous signing and validation wrap ``asyncio.run``, which refuses to start
    inside a running loop: a notebook, an async caller, or Playwright's synchronous API (which
    keeps one running in its thread) would get "cannot be called from a running event loop".
    A fresh thread has no loop, so ``asyncio.run`` works there; the caller waits for it, as it
    would for the work itself."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return call()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepshield-pdf") as pool:
        return pool.submit(call).result()


def sign_pdf(pdf: bytes, certificate_chain_pem: bytes, private_key_pem: bytes | None, *,
             sign_callback: Callable[[bytes], bytes] | None = None,
             reason: str = "DeepShield evidence pack", location: str = "") -> bytes:
    """``pdf`` with a PAdES signature over all of it, by the certificate chain (signer first)
    and its private key (or ``sign_callback`` for a key held elsewhere). The signing time comes
    from the local clock (no timestamp authority). Raises ``ReportSigningError`` when the
    identity cannot sign, ``InvalidRequest`` when ``pdf`` is not a PDF."""
    signer = _signer(certificate_chain_pem, private_key_pem, sign_callback)
    metadata = PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD, subfilter=SigSeedSubFilter.PADES, reason=reason,
        location=location or None, signer_key_usage=set(SIGNER_KEY_USAGE))
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except Exception as error:  # pyHanko raises many types for unreadable input
        raise InvalidRequest(f"the report to sign is not a readable PDF: {error}") from None
    output = io.BytesIO()
    try:
        _off_any_running_loop(lambda: PdfSigner(metadata, signer=signer).sign_pdf(writer, output=output))
    except DeepShieldError:
        raise
    except Exception as error:  # the identity's fault: wrong key for the certificate, bad usage...
        raise ReportSigningError(f"the report could not be signed: {error}") from None
    return output.getvalue()


# --- Checking ------------------------------------------------------------------------------


def _unsigned(problem: str) -> ReportCheck:
    return ReportCheck(valid=False, intact=False, trusted=False, signer="", signed_at=None,
                       problems=[problem])


def _read(pdf: bytes) -> PdfFileReader:
    if not isinstance(pdf, bytes | bytearray) or not pdf:
        raise InvalidRequest("the file is empty: give a PDF file")
    if b"%PDF-" not in bytes(pdf[:_HEADER_WINDOW]):
        raise InvalidRequest("not a PDF file (no %PDF- header); give the evidence pack PDF")
    try:
        return PdfFileReader(io.BytesIO(bytes(pdf)), strict=False)
    except Exception as error:  # untrusted input: any parse failure is the file's, not ours
        raise InvalidRequest(f"the PDF cannot be read; it is truncated or corrupt ({error})") from None


#: pyHanko's reasons a chain did not validate (AdES sub-indications), in plain words.
_TRUST_PROBLEMS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "its certificate does not chain to a trust anchor of this installation",
    "OUT_OF_BOUNDS_NO_POE": "its certificate has expired or is not yet valid",
    "OUT_OF_BOUNDS_NOT_REVOKED": "its certificate has expired or is not yet valid",
    "REVOKED_NO_POE": "its certificate was revoked",
    "REVOKED_CA_NO_POE": "a certificate in its chain was revoked",
    "CHAIN_CONSTRAINTS_FAILURE": "its certificate may not sign documents (key usage)",
}


def _trust_roots(trust_anchors_pem: bytes) -> list[asn1_x509.Certificate]:
    try:
        return list(load_certs_from_pemder_data(trust_anchors_pem)) if trust_anchors_pem.strip() else []
    except ValueError:
        raise InvalidRequest("the trust anchors are not PEM certificates") from None


def _signed_evidence(embedded: Any) -> dict[str, Any] | None:
    """The ``evidence.json`` attachment as it was in the signed revision (later updates ignored)."""
    resolver = embedded.reader.get_historical_resolver(embedded.signed_revision)
    root = resolver.trailer_view["/Root"]
    try:
        names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError:
        return None
    for index in range(0, len(names) - 1, 2):
        if str(names[index]) != EVIDENCE_ATTACHMENT:
            continue
        stream = names[index + 1].get_object()["/EF"]["/F"].get_object()
        if not isinstance(stream, generic.StreamObject):
            return None
        value = json.loads(stream.data.decode("utf-8"))
        return value if isinstance(value, dict) else None
    return None


def check_pdf(pdf: bytes, trust_anchors_pem: bytes, *, now: datetime | None = None) -> ReportCheck:
    """Check a signed report: intact, trusted, whole file covered, evidence present (see the
    module docstring). Raises ``InvalidRequest`` only for input that is not a readable PDF
    (garbage, truncated); a readable PDF that fails any check comes back with ``valid`` False
    and its ``problems``."""
    reader = _read(pdf)
    try:
        signatures = sorted(reader.embedded_signatures, key=lambda sig: sig.signed_revision)
    except Exception as error:  # a readable PDF whose signature dictionary was mangled
        log.info("unreadable signature dictionary: %s", error)
        return _unsigned("the signature cannot be read: the document was altered")
    if not signatures:
        return _unsigned("the PDF carries no signature: it is not a signed DeepShield report")
    embedded = signatures[0]
    problems: list[str] = []
    roots = _trust_roots(trust_anchors_pem)
    if not roots:
        problems.append("no trust anchors are configured, so no signer can be trusted; run "
                        "`deepshield keys init` or set DEEPSHIELD_TRUST_ANCHORS")
    context = ValidationContext(trust_roots=roots, allow_fetching=False,
                                moment=now or datetime.now(UTC))
    try:
        status = _off_any_running_loop(
            lambda: validate_pdf_signature(embedded, context, key_usage_settings=KEY_USAGE_POLICY))
    except Exception as error:  # a mangled signature blob: the signature area was altered
        return ReportCheck(valid=False, intact=False, trusted=False, signer="", signed_at=None,
                           problems=[*problems, f"the signature cannot be read or checked ({error}); "
                                     "the document was altered"])
    signer = status.signing_cert.subject.human_friendly if status.signing_cert is not None else ""
    if not status.intact:
        problems.append("the signed content was changed after signing: its digest no longer matches "
                        "the signature")
    elif not status.valid:
        problems.append("the signature does not verify with the signer's key")
    elif roots and not status.trusted:
        indication = getattr(status.trust_problem_indic, "name", "")
        why = _TRUST_PROBLEMS.get(indication, "its certificate does not chain to a trust anchor of this "
                                  "installation, or may not sign documents")
        problems.append(f"the signer ({signer or 'unknown'}) is not trusted: {why}")
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        extra = len(pdf) - _signed_end(embedded)
        level = getattr(status.modification_level, "name", "NONE")
        changed = ("" if level == "NONE" else
                   f"; it changes the document ({level.lower().replace('_', ' ')})")
        problems.append(f"content was added after signing ({extra} bytes past the signed part"
                        f"{changed}): the file is not the one that was signed")
    if len(signatures) > 1:
        problems.append(f"the PDF has {len(signatures)} signatures; a DeepShield report has one")
    evidence = None
    if status.intact:
        try:
            evidence = _signed_evidence(embedded)
        except (KeyError, ValueError, TypeError, AttributeError):
            evidence = None
        if evidence is None:
            problems.append(f"the signed PDF holds no readable {EVIDENCE_ATTACHMENT}: it is not a "
                            "DeepShield evidence pack")
    signed_at = status.signer_reported_dt
    return ReportCheck(valid=not problems, intact=bool(status.intact), trusted=bool(status.trusted),
                       signer=signer, signed_at=signed_at.astimezone(UTC) if signed_at else None,
                       problems=problems, evidence=evidence)


def _signed_end(embedded: Any) -> int:
    byte_range = list(embedded.byte_range)
    return int(byte_range[-2]) + int(byte_range[-1])
