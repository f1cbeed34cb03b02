"""The price ledger: dated list prices announced before they start.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 15:16:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelsync.db.types import JSONDoc, PrimaryKey, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "price_schedule",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("model_id", sa.String(512), nullable=False),
        sa.Column("effective_from", UTCDateTime(), nullable=False),
        sa.Column("prices", JSONDoc, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_schedule")),
        sa.UniqueConstraint(
            "provider", "model_id", "effective_from", "source",
            name=op.f("uq_price_schedule_provider_model_id_effective_from_source"),
        ),
    )  # fmt: skip


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("price_schedule")
