"""Per-address daily caps on public filings (issue 12).

``public_filing_counts`` counts the new cases one address files through the public door on one
UTC day, keyed by an HMAC of the day and the address (never the address itself).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_filing_counts",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("public_filing_counts")
