"""Partners' feedback on exchanged hashes (Blocked, NotBlocked, PendingReview).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from deepshield.store.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "partner_feedback",
        sa.Column("id", _BIGINT, primary_key=True, autoincrement=True),
        sa.Column("partner", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.Integer(), sa.ForeignKey("bank_entries.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_partner_feedback_entry", "partner_feedback", ["entry_id", "partner"])


def downgrade() -> None:
    op.drop_index("ix_partner_feedback_entry", "partner_feedback")
    op.drop_table("partner_feedback")
