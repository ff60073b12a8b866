"""A stand-in for a KMS or HSM signing callback, for tests: it signs with a PEM key whose path
is in ``DEEPSHIELD_TEST_KMS_KEY``, so the key itself never reaches DeepShield's signer."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

CALLS: list[int] = []


def sign(payload: bytes) -> bytes:
    key = serialization.load_pem_private_key(Path(os.environ["DEEPSHIELD_TEST_KMS_KEY"]).read_bytes(),
                                             password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    CALLS.append(len(payload))
    return key.sign(payload, ec.ECDSA(hashes.SHA256()))
