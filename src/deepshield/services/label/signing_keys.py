"""Use case: the development signing keys for Content Credentials (``deepshield keys init``)."""

from __future__ import annotations

from deepshield.provenance.certificates import DevelopmentKeys, init_development_keys
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.store import audit_repository as audit


def init_signing_keys(ctx: ServiceContext, *, force: bool, principal: Principal) -> DevelopmentKeys:
    """Make the development CA and signer under ``$DEEPSHIELD_HOME/provenance`` and trust the CA.
    ``Forbidden`` unless ``principal`` manages keys (``Action.KEYS_MANAGE``: the operator)."""
    authorize(principal, Action.KEYS_MANAGE)
    keys = init_development_keys(ctx.settings.provenance_dir, force=force)
    with ctx.store.transaction() as session:
        audit.record_event(session, principal.actor, "keys.init", "signer", replaced=force)
    return keys
