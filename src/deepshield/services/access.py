"""Who may do what. The doors ask here; they hold no rules of their own."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deepshield.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"  # runs the installation: banks, keys, everything
    PLATFORM = "platform"  # matches its uploads against the banks
    HELPLINE = "helpline"  # files victims' hashes into banks and withdraws them
    PARTNER = "partner"  # another hash-sharing service: fetches the exchange feed, sends feedback
    PROVIDER = "provider"  # a generative-AI provider: labels its output, registers manifests


class Action(StrEnum):
    HASH = "hash"
    MATCH = "match"
    BANK_LIST = "bank.list"
    BANK_CREATE = "bank.create"
    BANK_ADD = "bank.add"
    BANK_WITHDRAW = "bank.withdraw"
    BANK_DISABLE = "bank.disable"
    BANK_EXPORT = "bank.export"
    BANK_IMPORT = "bank.import"
    KEYS_MANAGE = "keys.manage"
    WATERMARK_DETECT = "watermark.detect"
    EXCHANGE_FETCH = "exchange.fetch"
    EXCHANGE_FEEDBACK = "exchange.feedback"
    LABEL = "label"  # watermark, sign and register an output
    MANIFEST_WRITE = "manifest.write"  # POST /manifests, POST|PUT /bindings
    VERIFY = "verify"  # a verification report (also open to callers without a key)


_ALLOWED: dict[Action, frozenset[Role]] = {
    Action.HASH: frozenset(Role),
    Action.MATCH: frozenset({Role.ADMIN, Role.PLATFORM, Role.HELPLINE}),
    Action.BANK_LIST: frozenset(Role),
    Action.BANK_CREATE: frozenset({Role.ADMIN}),
    Action.BANK_ADD: frozenset({Role.ADMIN, Role.HELPLINE}),
    Action.BANK_WITHDRAW: frozenset({Role.ADMIN, Role.HELPLINE}),
    Action.BANK_DISABLE: frozenset({Role.ADMIN}),
    # Hashes can be inverted into images: bulk reads stay with the operator.
    Action.BANK_EXPORT: frozenset({Role.ADMIN}),
    Action.BANK_IMPORT: frozenset({Role.ADMIN}),
    Action.KEYS_MANAGE: frozenset({Role.ADMIN}),
    Action.WATERMARK_DETECT: frozenset(Role),
    # The exchange hands out every bank's hashes in bulk: partners (and the operator) only.
    Action.EXCHANGE_FETCH: frozenset({Role.ADMIN, Role.PARTNER}),
    Action.EXCHANGE_FEEDBACK: frozenset({Role.PARTNER}),
    Action.LABEL: frozenset({Role.ADMIN, Role.PROVIDER}),
    Action.MANIFEST_WRITE: frozenset({Role.ADMIN, Role.PROVIDER}),
    Action.VERIFY: frozenset(Role),
}


@dataclass(frozen=True)
class Principal:
    """Whoever is acting: an API key, or the local operator at the CLI (``cli:<user>``)."""

    actor: str
    role: Role


def roles_for(action: Action) -> frozenset[Role]:
    return _ALLOWED[action]


def authorize(principal: Principal, action: Action) -> None:
    """Raise ``Forbidden`` unless ``principal``'s role may perform ``action``."""
    if principal.role not in _ALLOWED[action]:
        raise Forbidden(f"the {principal.role.value} role may not perform {action.value}")
