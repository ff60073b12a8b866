"""The manifest repository: C2PA manifest stores and the soft bindings that find them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from deepshield.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_MAX_MANIFEST_STORE_BYTES = 2 * 1024 * 1024


def upgrade() -> None:
    op.create_table(
        "manifests",
        sa.Column("manifest_id", sa.String(200), primary_key=True),
        sa.Column("manifest_store", sa.LargeBinary(_MAX_MANIFEST_STORE_BYTES), nullable=False),
        sa.Column("store_sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("label_id", sa.String(64), nullable=True),
        sa.Column("generator", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=True),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_manifests_label_id", "manifests", ["label_id"])
    op.create_table(
        "soft_bindings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("manifest_id", sa.String(200), sa.ForeignKey("manifests.manifest_id"), nullable=False),
        sa.Column("alg", sa.String(100), nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("alg", "value", "manifest_id", name="uq_soft_bindings_alg_value_manifest"),
        # Ids are never reused (see models.SoftBinding).
        sqlite_autoincrement=True,
    )
    op.create_index("ix_soft_bindings_lookup", "soft_bindings", ["alg", "value"])
    op.create_index("ix_soft_bindings_manifest", "soft_bindings", ["manifest_id"])


def downgrade() -> None:
    op.drop_index("ix_soft_bindings_manifest", "soft_bindings")
    op.drop_index("ix_soft_bindings_lookup", "soft_bindings")
    op.drop_table("soft_bindings")
    op.drop_index("ix_manifests_label_id", "manifests")
    op.drop_table("manifests")
