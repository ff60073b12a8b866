"""Audit events of reads in a slim table of their own: ``audit_read_events`` (issue 17).

Every lookup adds a read event; they are written in batches by one writer per process (store/
audit_group_commit.py) and join the one hash chain, each with its own ``seq`` taken from
``audit_chain_head``. ``seq`` is the table's only key. Append-only by trigger, like
``audit_events``. Read events written before stay in ``audit_events``: the chain is the union of
both tables in ``seq`` order. The downgrade moves the read events back into ``audit_events``, so
the older code still finds the whole chain there.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deepshield.store.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_read_events_append_only_update BEFORE UPDATE ON audit_read_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_read_events is append-only'); END",
    "CREATE TRIGGER audit_read_events_append_only_delete BEFORE DELETE ON audit_read_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_read_events is append-only'); END",
]
_POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION deepshield_audit_reads_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_read_events is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_read_events_append_only BEFORE UPDATE OR DELETE ON audit_read_events "
    "FOR EACH ROW EXECUTE FUNCTION deepshield_audit_reads_append_only()",
]
_COLUMNS = "seq, at, actor, action, target, detail, automated, prev_hash, entry_hash"


def upgrade() -> None:
    op.create_table(
        "audit_read_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    for statement in (_POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql"
                      else _SQLITE_TRIGGERS):
        op.execute(statement)


def downgrade() -> None:
    # The read events go back where 0010's code looks for the chain (audit_events only accepts
    # inserts, which is all this is), then their table goes.
    op.execute(f"INSERT INTO audit_events ({_COLUMNS}) SELECT {_COLUMNS} FROM audit_read_events "
               "ORDER BY seq")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_read_events_append_only ON audit_read_events")
        op.execute("DROP FUNCTION IF EXISTS deepshield_audit_reads_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_read_events_append_only_update")
        op.execute("DROP TRIGGER IF EXISTS audit_read_events_append_only_delete")
    op.drop_table("audit_read_events")
