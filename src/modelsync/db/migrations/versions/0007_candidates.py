"""Every source's value of a model's prices and limits, for verification and conflicts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelsync.db.types import JSONDoc

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("ai_model", sa.Column("candidates", JSONDoc, nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("ai_model") as batch:
        batch.drop_column("candidates")
