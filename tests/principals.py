"""Principals for tests that call the services directly. The services decide who may act, so a
test's set-up (keys, banks, imports) passes the operator's principal, as the CLI does."""

from __future__ import annotations

from deepshield.services.access import Principal, Role

#: A test's set-up: API keys, banks, imports. An admin, like the CLI's local operator.
SETUP = Principal("test:setup", Role.ADMIN)


def operator(actor: str) -> Principal:
    """An admin principal named ``actor`` (audit rows name it so): the operator's rights, which a
    bare actor string used to stand for."""
    return Principal(actor, Role.ADMIN)
