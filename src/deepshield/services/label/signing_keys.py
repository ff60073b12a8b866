"""Use case: the development signing keys for Content Credentials (``deepshield keys init``)."""

from __future__ import annotations

from deepshield.provenance.certificates import DevelopmentKeys, init_development_keys
from deepshield.services.context import ServiceContext
from deepshield.store import audit_repository as audit


def init_signing_keys(ctx: ServiceContext, *, force: bool, actor: str) -> DevelopmentKeys:
    """Make the development CA and signer under ``$DEEPSHIELD_HOME/provenance`` and trust the CA."""
    keys = init_development_keys(ctx.settings.provenance_dir, force=force)
    with ctx.store.transaction() as session:
        audit.record_event(session, actor, "keys.init", "signer", replaced=force)
    return keys
