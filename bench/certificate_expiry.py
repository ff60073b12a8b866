"""Check, against the real wall clock: a file signed without a timestamp turns Invalid
(``signingCredential.expired``) once its signing certificate expires.

Usage::

    .venv/bin/python bench/certificate_expiry.py [--seconds 2]

Without a trusted timestamp c2pa judges the signer's validity at read time, so this can only be
shown by waiting. The unit tests inject the clock through a local timestamp authority instead
(``tests/local_tsa.py``) and never sleep; this script keeps the wall-clock case, which takes
``--seconds`` plus about one second. It signs with the installation's own CA (a fresh development
CA in a temporary directory), reads the file before and after expiry, and exits 1 if the verdict
is not Trusted before and expired after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deepshield.provenance import (
    SigningIdentity,
    build_manifest_definition,
    init_development_keys,
    issue_signing_certificate,
    load_trust_anchors,
    sign_media,
)
from deepshield.provenance.reading import read_content_credentials


def _photo_jpeg() -> bytes:
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    pixels = (rng.random((240, 320, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="the signer's remaining validity")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        keys = init_development_keys(Path(home) / "provenance")
        ca_certificate = x509.load_pem_x509_certificate(keys.ca_certificate.read_bytes())
        ca_key = serialization.load_pem_private_key(keys.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        now = dt.datetime.now(dt.UTC)
        signer = issue_signing_certificate(ca_certificate, ca_key, not_before=now - dt.timedelta(minutes=1),
                                           not_after=now + dt.timedelta(seconds=args.seconds))
        identity = SigningIdentity(signer.certificate_pem() + keys.ca_certificate.read_bytes(),
                                   signer.private_key_pem())
        definition = build_manifest_definition(label_id="0123456789abcdef", generator="bench",
                                               model=None, created_at=now, pdq_hex=None,
                                               title="expiry.jpg", format="image/jpeg")
        signed = sign_media(_photo_jpeg(), "image/jpeg", definition, identity)
        anchors = load_trust_anchors(keys.trust_anchors)
        before = read_content_credentials(signed.data, "image/jpeg", trust_anchors_pem=anchors)
        remaining = (signer.certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()
        time.sleep(max(0.0, remaining) + 1.1)
        after = read_content_credentials(signed.data, "image/jpeg", trust_anchors_pem=anchors)
    assert before is not None and after is not None
    result = {"before": {"state": before.validation_state, "trusted": before.trusted},
              "after": {"state": after.validation_state, "expired": after.expired,
                        "failure_codes": after.failure_codes}}
    print(json.dumps(result, indent=2))
    return 0 if before.trusted and after.expired and not after.trusted else 1


if __name__ == "__main__":
    sys.exit(main())
