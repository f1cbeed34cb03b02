"""The schema. Migrations in `migrations/versions` create exactly this; a test compares the two.

Rules: a model row is never deleted (vanished models become deprecated); `ai_model.id` is a stable surrogate key
that never changes; history, audit and sync runs are append-only through the application.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from modelsync.db.types import JSONDoc, Money, PrimaryKey, UTCDateTime
from modelsync.fieldspec import FIELDS, FieldType, RecordField

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _column_type(field: RecordField) -> sa.types.TypeEngine[Any] | Any:
    """The column type of a catalogue field."""
    if field.type in (FieldType.TEXT, FieldType.CHOICE):
        return sa.String(field.max_length) if field.max_length <= 512 else sa.Text()
    return {
        FieldType.COUNT: sa.BigInteger(),
        FieldType.MONEY: Money(),
        FieldType.BOOL: sa.Boolean(),
        FieldType.DATE: sa.Date(),
        FieldType.TIMESTAMP: UTCDateTime(),
        FieldType.NAMES: JSONDoc,
        FieldType.FLAGS: JSONDoc,
        FieldType.SOURCES: JSONDoc,
        FieldType.PRICES: JSONDoc,
    }[field.type]


# The record's fields (fieldspec.FIELDS, in order) between the identity columns and the bookkeeping columns.
ai_model = sa.Table(
    "ai_model",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model_id", sa.String(512), nullable=False),
    *(sa.Column(field.name, _column_type(field), nullable=field.nullable) for field in FIELDS),
    sa.Column("manual", JSONDoc),
    sa.Column("extra", JSONDoc),
    # Every source's value of the prices and limits (sync/verify.py); bookkeeping, kept out of history.
    sa.Column("candidates", JSONDoc),
    sa.Column("content_hash", sa.String(32), nullable=False),
    sa.Column("last_verified", UTCDateTime()),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("provider", "model_id"),
    sa.CheckConstraint("status IN ('active', 'deprecated')", name="status"),
)
sa.Index(None, ai_model.c.status, ai_model.c.provider)
# Resolving an id finds its family's members (services/resolve.py).
sa.Index(None, ai_model.c.family)

sync_run = sa.Table(
    "sync_run",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(128)),
    sa.Column("providers", JSONDoc, nullable=False),
    sa.Column("dry_run", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", JSONDoc),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime()),
)

model_change = sa.Table(
    "model_change",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("run_id", PrimaryKey, sa.ForeignKey("sync_run.id")),
    sa.Column("model_pk", PrimaryKey, sa.ForeignKey("ai_model.id"), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model_id", sa.String(512), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("changes", JSONDoc, nullable=False),
    sa.Column("actor", sa.String(128)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
sa.Index(None, model_change.c.model_pk, model_change.c.id)
sa.Index(None, model_change.c.created_at)
sa.Index(None, model_change.c.run_id)
sa.Index(None, model_change.c.provider, model_change.c.id)

provider_state = sa.Table(
    "provider_state",
    metadata,
    sa.Column("provider", sa.String(64), primary_key=True),
    sa.Column("listing", sa.String(16), nullable=False),
    sa.Column("model_count", sa.Integer(), nullable=False),
    sa.Column("last_run_id", PrimaryKey, sa.ForeignKey("sync_run.id")),
    sa.Column("verified_at", UTCDateTime(), nullable=False),
    # Digest of everything the provider's rows were computed from, and the newest history id after that sync:
    # when both still match, a sync knows nothing can change and skips merge, policy and diff.
    sa.Column("input_digest", sa.String(64)),
    sa.Column("change_mark", PrimaryKey),
)

app_user = sa.Table(
    "app_user",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("disabled_at", UTCDateTime()),
)

api_token = sa.Table(
    "api_token",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("user_id", PrimaryKey, sa.ForeignKey("app_user.id"), nullable=False),
    sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("last_used_at", UTCDateTime()),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(128)),
    sa.Column("user_id", PrimaryKey, sa.ForeignKey("app_user.id")),
    sa.Column("source_ip", sa.String(64)),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(512)),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("details", JSONDoc),
)
sa.Index(None, audit_log.c.created_at)

# One row while a sync runs: the lease that keeps syncs one at a time across processes and replicas.
sync_lease = sa.Table(
    "sync_lease",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("run_id", PrimaryKey),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("acquired_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

# The last good copy of each catalog feed (models-dev, genai-prices, LiteLLM), compressed, with its HTTP
# validators for conditional requests, and the outcome of the latest attempt to fetch it.
catalog_feed = sa.Table(
    "catalog_feed",
    metadata,
    sa.Column("catalog", sa.String(32), primary_key=True),
    sa.Column("url", sa.Text()),
    sa.Column("body", sa.LargeBinary()),
    sa.Column("body_digest", sa.String(64)),
    sa.Column("etag", sa.String(512)),
    sa.Column("last_modified", sa.String(64)),
    sa.Column("data_date", sa.Date()),
    sa.Column("model_count", sa.Integer()),
    sa.Column("stored_at", UTCDateTime()),
    sa.Column("checked_at", UTCDateTime()),
    sa.Column("attempted_at", UTCDateTime()),
    sa.Column("outcome", sa.String(16)),
    sa.Column("message", sa.Text()),
)

# Dated list prices a catalog announces before they start (the price ledger's future). Past prices are the
# `prices` changes in model_change; a scheduled price that has started is applied by the normal sync.
price_schedule = sa.Table(
    "price_schedule",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model_id", sa.String(512), nullable=False),
    sa.Column("effective_from", UTCDateTime(), nullable=False),
    sa.Column("prices", JSONDoc, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("first_seen", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("provider", "model_id", "effective_from", "source"),
)

# Changes a sync held instead of applying (sync/quarantine.py): one open (pending) entry per model and field, with
# the stored and proposed values as JSON text and the evidence; closed by an admin or by a later sync.
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("model_id", sa.String(512), nullable=False),
    sa.Column("field", sa.String(128), nullable=False),
    sa.Column("old_value", sa.Text(), nullable=False),
    sa.Column("proposed_value", sa.Text(), nullable=False),
    sa.Column("evidence", JSONDoc, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("run_id", PrimaryKey, sa.ForeignKey("sync_run.id")),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("decided_at", UTCDateTime()),
    sa.Column("decided_by", sa.String(128)),
)
sa.Index(None, quarantine.c.provider, quarantine.c.status)

# Change webhooks (services/webhooks.py, services/events.py, services/delivery.py).
# What each sync stored, as events: kept with the run, so a receiver that was down catches up from its cursor.
webhook_event = sa.Table(
    "webhook_event",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("run_id", PrimaryKey, sa.ForeignKey("sync_run.id")),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(64)),
    sa.Column("model_id", sa.String(512)),
    sa.Column("payload", JSONDoc, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
sa.Index(None, webhook_event.c.run_id)

# Subscriptions: the secret is encrypted (Fernet under MODELSYNC_SECRET_KEY), only its fingerprint is shown;
# `last_event_id` is the newest event already batched into one of its deliveries (its cursor).
webhook_subscription = sa.Table(
    "webhook_subscription",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret_encrypted", sa.Text(), nullable=False),
    sa.Column("secret_fingerprint", sa.String(32), nullable=False),
    sa.Column("events", JSONDoc, nullable=False),
    sa.Column("providers", JSONDoc, nullable=False),
    sa.Column("models", JSONDoc, nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("last_event_id", PrimaryKey, nullable=False),
    sa.Column("created_by", sa.String(128)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

# One batch of a subscription's events and every attempt to POST it; `claimed_until` is the lease of the
# process sending it (a compare-and-set claim, so two replicas never send one attempt twice).
webhook_delivery = sa.Table(
    "webhook_delivery",
    metadata,
    sa.Column("id", PrimaryKey, primary_key=True, autoincrement=True),
    sa.Column("subscription_id", PrimaryKey, sa.ForeignKey("webhook_subscription.id"), nullable=False),
    sa.Column("event_ids", JSONDoc, nullable=False),
    sa.Column("last_event_id", PrimaryKey, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_status_code", sa.Integer()),
    sa.Column("last_error", sa.String(512)),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_until", UTCDateTime()),
    sa.Column("claim", sa.String(32)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("delivered_at", UTCDateTime()),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
)
sa.Index(None, webhook_delivery.c.subscription_id, webhook_delivery.c.status, webhook_delivery.c.id)

# Events that fire once ever (shutdown_soon per model and threshold) or while a condition holds (an open
# conflict): which ones were already recorded.
webhook_mark = sa.Table(
    "webhook_mark",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(700), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
