"""Manifest bindings keep their history and their owner (issue 12).

A binding that ``PUT /bindings`` re-points is no longer deleted: it stays, marked superseded
(when, by whom). The unique key (alg, value, manifest) therefore holds for current rows only.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deepshield.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_CURRENT = "superseded_at IS NULL"


def _sqlite_sequence() -> int | None:
    """SQLite's AUTOINCREMENT high-water mark of soft_bindings (None elsewhere, or if unset)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return None
    return bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'soft_bindings'")).scalar()


def _restore_sqlite_sequence(seq: int | None) -> None:
    # The rebuilt table starts its sequence at the highest id it copied; ids of rows that 0003's
    # PUT /bindings deleted must still never be reused (the PDQ index relies on it).
    if seq is not None:
        op.get_bind().execute(sa.text("UPDATE sqlite_sequence SET seq = MAX(seq, :seq) "
                                      "WHERE name = 'soft_bindings'"), {"seq": seq})


def upgrade() -> None:
    seq = _sqlite_sequence()
    # SQLite rebuilds the table (batch mode); AUTOINCREMENT is kept so ids are never reused.
    with op.batch_alter_table("soft_bindings", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("superseded_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(64), nullable=True))
        batch.drop_constraint("uq_soft_bindings_alg_value_manifest", type_="unique")
    _restore_sqlite_sequence(seq)
    op.create_index("uq_soft_bindings_current", "soft_bindings", ["alg", "value", "manifest_id"],
                    unique=True, sqlite_where=sa.text(_CURRENT), postgresql_where=sa.text(_CURRENT))


def downgrade() -> None:
    op.execute("DELETE FROM soft_bindings WHERE superseded_at IS NOT NULL")
    op.drop_index("uq_soft_bindings_current", "soft_bindings")
    seq = _sqlite_sequence()
    with op.batch_alter_table("soft_bindings", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.create_unique_constraint("uq_soft_bindings_alg_value_manifest", ["alg", "value", "manifest_id"])
        batch.drop_column("superseded_by")
        batch.drop_column("superseded_at")
    _restore_sqlite_sequence(seq)
