"""Providers' watermark keys (issue 15): ``watermark_keys``, and which key made a manifest's mark.

``watermark_keys`` holds one row per provider key: its public id (a digest of the secret), the
secret sealed at rest like bank hashes (``watermark_keys.secret``, docs/HASHES_AT_REST.md), its
owner (the provider's actor), and when it was made and retired. ``manifests.watermark_key_id``
names the key of each registered label's mark; manifests registered before are NULL, read as the
public key (docs/WATERMARK_KEYS.md).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deepshield.store.models import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "watermark_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),  # sealed (SealedText) by the model
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("key_id", name="uq_watermark_keys_key_id"),
    )
    op.create_index("ix_watermark_keys_owner", "watermark_keys", ["owner"])
    op.add_column("manifests", sa.Column("watermark_key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("manifests") as batch:
        batch.drop_column("watermark_key_id")
    op.drop_index("ix_watermark_keys_owner", "watermark_keys")
    op.drop_table("watermark_keys")
