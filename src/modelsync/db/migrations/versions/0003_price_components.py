"""Placeholder for the price components revision (issue 9, items 1-2), which another branch adds.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:50:00
"""

from __future__ import annotations

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision (nothing on this branch)."""


def downgrade() -> None:
    """Revert this revision (nothing on this branch)."""
