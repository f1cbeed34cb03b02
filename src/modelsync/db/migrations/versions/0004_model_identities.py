"""Model identities: family, alias of, snapshot of, base model.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = ("family", "alias_of", "snapshot_of", "base_model")


def upgrade() -> None:
    """Apply this revision."""
    for name in _COLUMNS:
        op.add_column("ai_model", sa.Column(name, sa.String(length=512), nullable=True))
    op.create_index(op.f("ix_ai_model_family"), "ai_model", ["family"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_ai_model_family"), table_name="ai_model")
    with op.batch_alter_table("ai_model") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
