"""Persistence: SQLAlchemy models, repositories and Alembic migrations (SQLite or PostgreSQL).

Only ``deepshield.services`` imports this room. ``Store`` is loaded on first use, so importing
one repository does not pull in the engine (and the engine's module may import repositories).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deepshield.store.database import Store

__all__ = ["Store"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from deepshield.store.database import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
