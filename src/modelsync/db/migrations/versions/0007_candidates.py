"""Placeholder for the candidates migration (replaced by the real one when the branches are merged).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 15:15:00
"""

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (nothing: a placeholder)."""


def downgrade() -> None:
    """Revert this revision (nothing: a placeholder)."""
