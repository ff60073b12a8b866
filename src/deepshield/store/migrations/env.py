"""Alembic environment: runs against the engine DeepShield passes in (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from deepshield.store.models import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
