"""Placeholder for revision 0003 (price components), built on another branch; replaced by the real one at merge.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (nothing, on this branch)."""


def downgrade() -> None:
    """Revert this revision (nothing, on this branch)."""
