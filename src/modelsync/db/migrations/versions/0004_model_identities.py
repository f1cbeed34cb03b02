"""Placeholder for revision 0004 (model identities), built on another branch; replaced by the real one at merge.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 13:00:00
"""

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (nothing, on this branch)."""


def downgrade() -> None:
    """Revert this revision (nothing, on this branch)."""
