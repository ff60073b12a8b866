"""Settings and the service context for CLI commands that use the store."""

from __future__ import annotations

import getpass

from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.settings import load_settings


def open_context() -> ServiceContext:
    """Open the configured store (``DEEPSHIELD_DATABASE_URL`` or SQLite under ``DEEPSHIELD_HOME``)."""
    return ServiceContext.open(load_settings())


def local_operator() -> Principal:
    """The principal every CLI command passes to the services, which decide what it may do.
    Whoever runs the CLI has the database itself at hand, so acts as admin; audit names them."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in some containers
        user = "unknown"
    return Principal(actor=f"cli:{user}", role=Role.ADMIN)
