"""The last good copy of each catalog feed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelsync.db.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "catalog_feed",
        sa.Column("catalog", sa.String(32), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("body_digest", sa.String(64), nullable=True),
        sa.Column("etag", sa.String(512), nullable=True),
        sa.Column("last_modified", sa.String(64), nullable=True),
        sa.Column("data_date", sa.Date(), nullable=True),
        sa.Column("model_count", sa.Integer(), nullable=True),
        sa.Column("stored_at", UTCDateTime(), nullable=True),
        sa.Column("checked_at", UTCDateTime(), nullable=True),
        sa.Column("attempted_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("catalog", name="pk_catalog_feed"),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("catalog_feed")
