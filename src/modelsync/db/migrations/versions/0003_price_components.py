"""Every price of a model as components (units, context tiers, batch rates), with their sources.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelsync.db.types import JSONDoc

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("ai_model", sa.Column("prices", JSONDoc, nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("ai_model") as batch:
        batch.drop_column("prices")
