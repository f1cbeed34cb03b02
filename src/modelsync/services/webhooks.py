"""Webhook subscriptions: create (validated, secret encrypted at rest), list, remove, and their deliveries.

Rules:
- A subscription's URL is http or https with a host, no credentials and no fragment. Its event filter is a list
  of kinds (events.EVENT_KINDS; empty = all), its provider and model filters lists (empty = all).
- The signing secret must be read back to sign, so it is not hashed: it is encrypted with Fernet under a key
  derived from MODELSYNC_SECRET_KEY. Without that key, creating a subscription (and delivering) stops with a
  message saying what to set. The secret is never returned, logged or audit-logged: views carry a fingerprint
  (the first 12 hex digits of its SHA-256), which an operator can compare with the receiver's secret. A secret
  the user does not give is generated and returned once, by `create_subscription`.
- A new subscription starts at the newest stored event, so it never receives the history before it.
- Creating, pausing, resuming and removing are audit-logged in the same transaction (the URL's host only: a URL's
  path may itself be a credential, as chat services' incoming-webhook URLs are).
- A paused subscription (`active` false) gets no deliveries and its cursor stands still; resumed, it catches up
  from that cursor with every event still stored (the event retention never waits for a paused subscription, so
  events pruned while it was paused, and its pending batches of them, are skipped: services/event_retention.py).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import httpx
import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from modelsync.db import repo
from modelsync.db.tables import webhook_delivery, webhook_event, webhook_subscription
from modelsync.errors import ConfigError, NotFoundError, SecretKeyMissingError, UsageError
from modelsync.events import EVENT_KINDS
from modelsync.records import utc_now
from modelsync.settings import Settings

SECRET_SCHEME: Final = "whsec_"
MIN_SECRET_LENGTH: Final = 16
MAX_SECRET_LENGTH: Final = 256
MAX_URL_LENGTH: Final = 2048
MAX_FILTER_ITEMS: Final = 100
_UNPRINTABLE = re.compile(r"[\x00-\x20\x7f]")

MISSING_KEY = (
    "MODELSYNC_SECRET_KEY is not set: webhook secrets are stored encrypted under it. Set MODELSYNC_SECRET_KEY to a "
    "random string of at least 32 characters (python -c 'import secrets; print(secrets.token_urlsafe(32))') for "
    "every process that creates or delivers webhooks, and keep it: secrets encrypted under a lost key cannot be "
    "read back."
)
WRONG_KEY = (
    "a webhook secret cannot be decrypted with the current MODELSYNC_SECRET_KEY (it was encrypted under another "
    "one); after a rotation, put the old key in MODELSYNC_SECRET_KEY_PREVIOUS (and run `modelsync webhooks rekey`), "
    "or remove the subscription and add it again."
)


def _derived(key: SecretStr) -> Fernet:
    # Any string of 32 characters or more is accepted; Fernet wants 32 bytes, url-safe base64: derive them.
    digest = hashlib.sha256(b"modelsync webhook secrets\0" + key.get_secret_value().encode())
    return Fernet(base64.urlsafe_b64encode(digest.digest()))


def _fernet(settings: Settings) -> MultiFernet:
    """Encrypts under MODELSYNC_SECRET_KEY; decrypts under it or, during a rotation, the previous key."""
    if settings.secret_key is None:
        raise SecretKeyMissingError(MISSING_KEY)
    keys = [settings.secret_key, *([settings.secret_key_previous] if settings.secret_key_previous else [])]
    return MultiFernet([_derived(key) for key in keys])


def require_key(settings: Settings) -> None:
    """Raise ConfigError (saying what to set) when MODELSYNC_SECRET_KEY is missing."""
    _fernet(settings)


def encrypt_secret(settings: Settings, secret: str) -> str:
    """The stored form of a signing secret."""
    return _fernet(settings).encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt_secret(settings: Settings, stored: str) -> str:
    """A stored signing secret in clear (to sign); ConfigError when the key is missing or not the one used."""
    try:
        return _fernet(settings).decrypt(stored.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ConfigError(WRONG_KEY) from None


def rekey_secrets(
    engine: Engine, settings: Settings, *, actor: str | None = None, source_ip: str | None = None
) -> int:
    """Re-encrypt every stored secret under MODELSYNC_SECRET_KEY; return how many. All or nothing, audit-logged."""
    cipher = _fernet(settings)
    now = utc_now()
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(webhook_subscription.c.id, webhook_subscription.c.secret_encrypted)
            .order_by(webhook_subscription.c.id)
            .with_for_update()
        ).all()
        for pk, stored in rows:
            try:
                fresh = cipher.rotate(stored.encode("ascii")).decode("ascii")
            except InvalidToken:
                # Raised inside the transaction: no secret is rewritten when one cannot be read.
                raise ConfigError(
                    f"the secret of webhook {pk} cannot be decrypted with MODELSYNC_SECRET_KEY or "
                    "MODELSYNC_SECRET_KEY_PREVIOUS; set MODELSYNC_SECRET_KEY_PREVIOUS to the key it was created with "
                    "(nothing was changed)."
                ) from None
            conn.execute(
                webhook_subscription.update().where(webhook_subscription.c.id == pk).values(secret_encrypted=fresh)
            )
        repo.append_audit(
            conn, action="webhook.rekey", outcome="ok", now=now, actor=actor, source_ip=source_ip,
            target="webhooks", details={"subscriptions": len(rows)},
        )  # fmt: skip
    return len(rows)


def fingerprint(secret: str) -> str:
    """What views show of a secret: enough to compare with the receiver's, nothing to sign with."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:12]


def validate_url(url: str) -> str:
    """The URL to POST to, checked: http(s), a host, no credentials or fragment; UsageError otherwise."""
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH or _UNPRINTABLE.search(text):
        raise UsageError(f"a webhook URL must be one http:// or https:// URL of at most {MAX_URL_LENGTH} characters.")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        raise UsageError(
            "the webhook URL is not a valid URL; give one such as https://hooks.example.com/modelsync."
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError("a webhook URL must start with http:// or https:// and name a host.")
    if parsed.userinfo:
        raise UsageError("a webhook URL must not carry a user name or password; authenticate with the signature.")
    if parsed.fragment:
        raise UsageError("a webhook URL must not have a #fragment (it is never sent).")
    return text


def _names(values: Sequence[str] | None, what: str) -> list[str]:
    found = list(dict.fromkeys(value.strip() for value in values or () if value.strip()))
    if len(found) > MAX_FILTER_ITEMS:
        raise UsageError(f"at most {MAX_FILTER_ITEMS} {what} per subscription.")
    return found


def check_filters(
    settings: Settings, events: Sequence[str] | None, providers: Sequence[str] | None, models: Sequence[str] | None
) -> tuple[list[str], list[str], list[str]]:
    """Validated (kinds, providers, models) filters; UsageError naming what is wrong."""
    kinds = _names(events, "event kinds")
    unknown = [kind for kind in kinds if kind not in EVENT_KINDS]
    if unknown:
        raise UsageError(f"unknown event kind {', '.join(map(repr, unknown))}; use any of {', '.join(EVENT_KINDS)}.")
    names = [name.lower() for name in _names(providers, "providers")]
    unknown = [name for name in names if name not in settings.registry]
    if unknown:
        raise UsageError(
            f"unknown provider {', '.join(map(repr, unknown))}; use any of {', '.join(settings.registry)}."
        )
    ids = _names(models, "models")
    if any(len(model) > 600 for model in ids):
        raise UsageError("a model filter is a model id or PROVIDER/MODEL_ID of at most 600 characters.")
    return kinds, names, ids


def _check_secret(secret: str) -> str:
    if not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH or _UNPRINTABLE.search(secret):
        raise UsageError(
            f"a webhook secret must be {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} printable characters without "
            "spaces; leave it out to have one generated."
        )
    return secret


def view(row: Any) -> dict[str, Any]:
    """A subscription as the API and CLI show it: never its secret, only the fingerprint."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events) or list(EVENT_KINDS),
        "providers": list(row.providers),
        "models": list(row.models),
        "active": bool(row.active),
        "secretFingerprint": row.secret_fingerprint,
        "lastEventId": row.last_event_id,
        "createdBy": row.created_by,
        "createdAt": row.created_at.isoformat(),
    }


@dataclass(frozen=True, slots=True)
class Created:
    """A subscription just created, and its secret when modelsync generated it (shown this once)."""

    subscription: dict[str, Any]
    generated_secret: str | None


def create_subscription(
    engine: Engine,
    settings: Settings,
    url: str,
    *,
    events: Sequence[str] | None = None,
    providers: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    secret: str | None = None,
    actor: str | None = None,
    source_ip: str | None = None,
    user_id: int | None = None,
) -> Created:
    """Validate and store a subscription starting at the newest stored event; audit-logged without the secret."""
    target = validate_url(url)
    kinds, names, ids = check_filters(settings, events, providers, models)
    generated = None
    if secret is None:
        generated = secret = SECRET_SCHEME + secrets.token_urlsafe(32)
    sealed = encrypt_secret(settings, _check_secret(secret))
    now = utc_now()
    with engine.begin() as conn:
        newest = conn.execute(sa.select(sa.func.max(webhook_event.c.id))).scalar_one_or_none() or 0
        new_id = conn.execute(
            sa.insert(webhook_subscription)
            .values(url=target, secret_encrypted=sealed, secret_fingerprint=fingerprint(secret), events=kinds,
                    providers=names, models=ids, active=True, last_event_id=newest, created_by=actor,
                    created_at=now)
            .returning(webhook_subscription.c.id)
        ).scalar_one()  # fmt: skip
        repo.append_audit(
            conn, action="webhook.create", outcome="ok", now=now, actor=actor, user_id=user_id, source_ip=source_ip,
            target=f"webhook {new_id}",
            details={"subscriptionId": new_id, "host": httpx.URL(target).host, "events": kinds, "providers": names,
                     "models": ids, "secretGenerated": generated is not None},
        )  # fmt: skip
        row = conn.execute(sa.select(webhook_subscription).where(webhook_subscription.c.id == new_id)).one()
    return Created(view(row), generated)


def list_subscriptions(engine: Engine) -> list[dict[str, Any]]:
    """Every subscription, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(webhook_subscription).order_by(webhook_subscription.c.id)).all()
    return [view(row) for row in rows]


def remove_subscription(
    engine: Engine,
    subscription_id: int,
    *,
    actor: str | None = None,
    source_ip: str | None = None,
    user_id: int | None = None,
) -> None:
    """Delete a subscription and its deliveries (nothing more is sent to it); audit-logged."""
    now = utc_now()
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(webhook_subscription.c.url).where(webhook_subscription.c.id == subscription_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no webhook subscription {subscription_id}; `modelsync webhooks list` shows them.")
        conn.execute(webhook_delivery.delete().where(webhook_delivery.c.subscription_id == subscription_id))
        conn.execute(webhook_subscription.delete().where(webhook_subscription.c.id == subscription_id))
        repo.append_audit(
            conn, action="webhook.remove", outcome="ok", now=now, actor=actor, user_id=user_id, source_ip=source_ip,
            target=f"webhook {subscription_id}",
            details={"subscriptionId": subscription_id, "host": httpx.URL(row.url).host},
        )  # fmt: skip


def set_active(
    engine: Engine,
    subscription_id: int,
    active: bool,
    *,
    actor: str | None = None,
    source_ip: str | None = None,
    user_id: int | None = None,
) -> dict[str, Any]:
    """Pause (False) or resume (True) a subscription and return it; audit-logged (also when already so)."""
    now = utc_now()
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(webhook_subscription).where(webhook_subscription.c.id == subscription_id).with_for_update()
        ).first()
        if row is None:
            raise NotFoundError(f"no webhook subscription {subscription_id}; `modelsync webhooks list` shows them.")
        conn.execute(
            webhook_subscription.update().where(webhook_subscription.c.id == subscription_id).values(active=active)
        )
        repo.append_audit(
            conn, action="webhook.enable" if active else "webhook.disable", outcome="ok", now=now, actor=actor,
            user_id=user_id, source_ip=source_ip, target=f"webhook {subscription_id}",
            details={"subscriptionId": subscription_id, "host": httpx.URL(row.url).host, "was": bool(row.active),
                     "lastEventId": row.last_event_id},
        )  # fmt: skip
        changed = conn.execute(sa.select(webhook_subscription).where(webhook_subscription.c.id == subscription_id))
        return view(changed.one())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def delivery_view(row: Any) -> dict[str, Any]:
    """One delivery (a batch and its attempts) as the API and CLI show it."""
    return {
        "id": row.id,
        "subscriptionId": row.subscription_id,
        "status": row.status,
        "events": len(row.event_ids),
        "eventIds": list(row.event_ids),
        "lastEventId": row.last_event_id,
        "attempts": row.attempts,
        "lastStatusCode": row.last_status_code,
        "lastError": row.last_error,
        "nextAttemptAt": _iso(row.next_attempt_at) if row.status == "pending" else None,
        "createdAt": _iso(row.created_at),
        "deliveredAt": _iso(row.delivered_at),
    }


def list_deliveries(engine: Engine, subscription_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Deliveries, newest first (of one subscription, which must exist, when given)."""
    query = sa.select(webhook_delivery).order_by(webhook_delivery.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        if subscription_id is not None:
            found = conn.execute(
                sa.select(webhook_subscription.c.id).where(webhook_subscription.c.id == subscription_id)
            ).first()
            if found is None:
                raise NotFoundError(f"no webhook subscription {subscription_id}; `modelsync webhooks list` shows them.")
            query = query.where(webhook_delivery.c.subscription_id == subscription_id)
        rows = conn.execute(query).all()
    return [delivery_view(row) for row in rows]
