"""Use case: is the installation able to serve?"""

from __future__ import annotations

from sqlalchemy import text

from deepshield.services.context import ServiceContext


def check_store(ctx: ServiceContext) -> None:
    """Raise ``StoreUnavailable`` unless the database answers a trivial query."""
    with ctx.store.transaction() as session:
        session.execute(text("SELECT 1"))
