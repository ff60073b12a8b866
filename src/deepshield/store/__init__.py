"""Persistence: SQLAlchemy models, repositories and Alembic migrations (SQLite or PostgreSQL).

Only ``deepshield.services`` imports this room.
"""

from deepshield.store.database import Store

__all__ = ["Store"]
