"""Why a model has no price, when it has none and the reason is known.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("ai_model", sa.Column("price_note", sa.String(length=512), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("ai_model") as batch:
        batch.drop_column("price_note")
