"""Change webhooks: stored events, subscriptions, deliveries and once-only marks.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelsync.db.types import JSONDoc, PrimaryKey, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "webhook_event",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("run_id", PrimaryKey, nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(64), nullable=True),
        sa.Column("model_id", sa.String(512), nullable=True),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["sync_run.id"], name=op.f("fk_webhook_event_run_id_sync_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_event")),
    )
    op.create_index(op.f("ix_webhook_event_run_id"), "webhook_event", ["run_id"])
    op.create_table(
        "webhook_subscription",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("secret_fingerprint", sa.String(32), nullable=False),
        sa.Column("events", JSONDoc, nullable=False),
        sa.Column("providers", JSONDoc, nullable=False),
        sa.Column("models", JSONDoc, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_event_id", PrimaryKey, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("subscription_id", PrimaryKey, nullable=False),
        sa.Column("event_ids", JSONDoc, nullable=False),
        sa.Column("last_event_id", PrimaryKey, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("claim", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f("ck_webhook_delivery_status")),
        sa.ForeignKeyConstraint(
            ["subscription_id"], ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_webhook_delivery_subscription_id_status_id"), "webhook_delivery", ["subscription_id", "status", "id"]
    )
    op.create_table(
        "webhook_mark",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(700), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_webhook_mark")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("webhook_mark")
    op.drop_index(op.f("ix_webhook_delivery_subscription_id_status_id"), table_name="webhook_delivery")
    op.drop_table("webhook_delivery")
    op.drop_table("webhook_subscription")
    op.drop_index(op.f("ix_webhook_event_run_id"), table_name="webhook_event")
    op.drop_table("webhook_event")
