"""Content Credentials (C2PA): the development CA, the manifest DeepShield writes, signing and reading.

A plain library on bytes and paths: no CLI, HTTP or database here. See docs/PROVENANCE.md.
"""

from deepshield.provenance.c2pa_signing import (
    SignedMedia,
    SigningError,
    SigningIdentity,
    SigningKeysMissing,
    load_signing_identity,
    mime_type_of,
    sign_media,
)
from deepshield.provenance.certificates import (
    C2PA_CLAIM_SIGNING_EKU,
    DevelopmentKeys,
    IssuedCertificate,
    add_trust_anchor,
    create_ca,
    init_development_keys,
    issue_signing_certificate,
    load_trust_anchors,
    signing_certificate_problems,
)
from deepshield.provenance.manifest import (
    LABEL_ASSERTION,
    PDQ_BINDING_ALG,
    SIGNABLE_MIME_TYPES,
    TRAINED_ALGORITHMIC_MEDIA,
    WATERMARK_BINDING_ALG,
    WATERMARKED_BOUND_ACTION,
    build_manifest_definition,
)
from deepshield.provenance.reading import (
    ManifestReport,
    parse_manifest_store,
    read_content_credentials,
    read_manifest_store,
)

__all__ = [
    "C2PA_CLAIM_SIGNING_EKU",
    "LABEL_ASSERTION",
    "PDQ_BINDING_ALG",
    "SIGNABLE_MIME_TYPES",
    "TRAINED_ALGORITHMIC_MEDIA",
    "WATERMARKED_BOUND_ACTION",
    "WATERMARK_BINDING_ALG",
    "DevelopmentKeys",
    "IssuedCertificate",
    "ManifestReport",
    "SignedMedia",
    "SigningError",
    "SigningIdentity",
    "SigningKeysMissing",
    "add_trust_anchor",
    "build_manifest_definition",
    "create_ca",
    "init_development_keys",
    "issue_signing_certificate",
    "load_signing_identity",
    "load_trust_anchors",
    "mime_type_of",
    "parse_manifest_store",
    "read_content_credentials",
    "read_manifest_store",
    "sign_media",
    "signing_certificate_problems",
]
