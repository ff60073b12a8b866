"""Labelled outputs' local features (issue 15): ``manifest_keypoints``.

One row per manifest: its output's ORB keypoints (``signals.keypoints``, at most 18 kB), which the
repository searches to place a copy cropped anywhere whose watermark was removed. Manifests
registered before have none.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deepshield.store.models import MAX_KEYPOINT_SET_BYTES, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "manifest_keypoints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("manifest_id", sa.String(200), sa.ForeignKey("manifests.manifest_id"), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(MAX_KEYPOINT_SET_BYTES), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("manifest_id", name="uq_manifest_keypoints_manifest_id"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("manifest_keypoints")
