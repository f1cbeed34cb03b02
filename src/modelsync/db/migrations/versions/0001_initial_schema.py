"""Initial schema: models, change history, sync runs, provider state, users, API tokens, audit log, sync lease.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 03:59:35.742001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from modelsync.db.types import JSONDoc, Money, PrimaryKey, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "ai_model",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=512), nullable=False),
        sa.Column("display_name", sa.String(length=512), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("replacement_model", sa.String(length=512), nullable=True),
        sa.Column("deprecated_at", UTCDateTime(), nullable=True),
        sa.Column("shutdown_date", sa.Date(), nullable=True),
        sa.Column("context_window", sa.BigInteger(), nullable=True),
        sa.Column("max_output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("input_price", Money(), nullable=True),
        sa.Column("output_price", Money(), nullable=True),
        sa.Column("cache_read_price", Money(), nullable=True),
        sa.Column("cache_write_price", Money(), nullable=True),
        sa.Column("capabilities", JSONDoc, nullable=False),
        sa.Column("modalities_in", JSONDoc, nullable=False),
        sa.Column("modalities_out", JSONDoc, nullable=False),
        sa.Column("release_date", sa.String(length=10), nullable=True),
        sa.Column("knowledge_cutoff", sa.String(length=32), nullable=True),
        sa.Column("recommended", sa.Boolean(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("is_allowed", sa.Boolean(), nullable=False),
        sa.Column("tags", JSONDoc, nullable=False),
        sa.Column("provenance", JSONDoc, nullable=False),
        sa.Column("manual", JSONDoc, nullable=True),
        sa.Column("extra", JSONDoc, nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("last_verified", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'deprecated')", name=op.f("ck_ai_model_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_model")),
        sa.UniqueConstraint("provider", "model_id", name=op.f("uq_ai_model_provider_model_id")),
    )
    op.create_index(op.f("ix_ai_model_status_provider"), "ai_model", ["status", "provider"], unique=False)
    op.create_table(
        "app_user",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("name", name=op.f("uq_app_user_name")),
    )
    op.create_table(
        "sync_lease",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("run_id", PrimaryKey, nullable=True),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_lease")),
    )
    op.create_table(
        "sync_run",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("providers", JSONDoc, nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", JSONDoc, nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_run")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("user_id", PrimaryKey, nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_api_token_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("user_id", PrimaryKey, nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("details", JSONDoc, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_audit_log_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_created_at"), "audit_log", ["created_at"], unique=False)
    op.create_table(
        "model_change",
        sa.Column("id", PrimaryKey, autoincrement=True, nullable=False),
        sa.Column("run_id", PrimaryKey, nullable=True),
        sa.Column("model_pk", PrimaryKey, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("changes", JSONDoc, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["model_pk"], ["ai_model.id"], name=op.f("fk_model_change_model_pk_ai_model")),
        sa.ForeignKeyConstraint(["run_id"], ["sync_run.id"], name=op.f("fk_model_change_run_id_sync_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_change")),
    )
    op.create_index(op.f("ix_model_change_created_at"), "model_change", ["created_at"], unique=False)
    op.create_index(op.f("ix_model_change_model_pk_id"), "model_change", ["model_pk", "id"], unique=False)
    op.create_index(op.f("ix_model_change_run_id"), "model_change", ["run_id"], unique=False)
    op.create_index(op.f("ix_model_change_provider_id"), "model_change", ["provider", "id"], unique=False)
    op.create_table(
        "provider_state",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("listing", sa.String(length=16), nullable=False),
        sa.Column("model_count", sa.Integer(), nullable=False),
        sa.Column("last_run_id", PrimaryKey, nullable=True),
        sa.Column("verified_at", UTCDateTime(), nullable=False),
        sa.Column("input_digest", sa.String(length=64), nullable=True),
        sa.Column("change_mark", PrimaryKey, nullable=True),
        sa.ForeignKeyConstraint(["last_run_id"], ["sync_run.id"], name=op.f("fk_provider_state_last_run_id_sync_run")),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_state")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("provider_state")
    op.drop_index(op.f("ix_model_change_provider_id"), table_name="model_change")
    op.drop_index(op.f("ix_model_change_run_id"), table_name="model_change")
    op.drop_index(op.f("ix_model_change_model_pk_id"), table_name="model_change")
    op.drop_index(op.f("ix_model_change_created_at"), table_name="model_change")
    op.drop_table("model_change")
    op.drop_index(op.f("ix_audit_log_created_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_token")
    op.drop_table("sync_run")
    op.drop_table("sync_lease")
    op.drop_table("app_user")
    op.drop_index(op.f("ix_ai_model_status_provider"), table_name="ai_model")
    op.drop_table("ai_model")
