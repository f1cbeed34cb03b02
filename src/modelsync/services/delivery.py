"""Deliver stored change events to webhook subscriptions: batch, claim, POST signed, retry with backoff.

Rules:
- Never part of a sync: deliveries run after a sync committed (the CLI's `sync` for a short budget, the server's
  delivery loop, `modelsync webhooks deliver`), and whatever is not sent stays pending for the next of those.
- Batching: each active subscription's cursor (`last_event_id`) moves over the events stored after it; the ones
  its filters match become deliveries of at most `webhook_batch_size` events. The cursor moves by compare-and-set
  (`UPDATE ... WHERE last_event_id = <the value read>`), so two processes never batch the same events twice.
- Claiming: only a subscription's oldest pending delivery is sent (batches arrive in order; a later one waits
  while an earlier one is retried). A process claims it by compare-and-set on its lease (`claimed_until`), so two
  replicas never send the same attempt; a process that dies mid-send loses the lease and another one retries.
  Together: at-least-once delivery. A receiver that got a batch whose answer was lost gets it again with the same
  `X-Modelsync-Delivery` id, which is what it de-duplicates on.
- An attempt fails on a connection error, a timeout or any answer but 2xx (redirects are not followed). The next
  attempt waits `webhook_backoff` seconds, doubled after each failure up to `webhook_max_backoff`; after
  `webhook_max_attempts` attempts the delivery is `failed` (given up) and the next batch goes.
- Signed as `X-Modelsync-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>` with the timestamp in
  `X-Modelsync-Timestamp` (events.sign). Errors recorded on a delivery never contain its URL or secret.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.db.tables import webhook_delivery, webhook_event, webhook_subscription
from modelsync.errors import ConfigError, NotFoundError
from modelsync.events import matches, sign
from modelsync.records import utc_now
from modelsync.services.webhooks import decrypt_secret
from modelsync.settings import Settings

log = logging.getLogger("modelsync.webhooks")

Clock = Callable[[], datetime]
_SCAN: Final = 5000  # events read per step while batching
_LEASE_MARGIN: Final = 30.0  # seconds a claim outlives the request's own timeout
HEADER_DELIVERY: Final = "X-Modelsync-Delivery"
HEADER_TIMESTAMP: Final = "X-Modelsync-Timestamp"
HEADER_SIGNATURE: Final = "X-Modelsync-Signature"
HEADER_ATTEMPT: Final = "X-Modelsync-Attempt"


@dataclass(slots=True)
class DeliveryRun:
    """What one pass of delivering did."""

    batched: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    pending: int = 0
    blocked: str | None = None  # why nothing could be sent (no MODELSYNC_SECRET_KEY)


def _write(engine: Engine) -> Any:
    # SQLite: BEGIN IMMEDIATE, so what the transaction read cannot change before it writes (PostgreSQL: the
    # compare-and-set statements do the guarding). Not the catalog lock: deliveries never wait for a sync's apply.
    return engine.connect().execution_options(catalog_write=True)


def _batch_one(conn: Connection, sub: Any, batch_size: int, now: datetime) -> tuple[int, bool]:
    """Batch a subscription's events after its cursor; (deliveries made, whether more events may remain)."""
    rows = conn.execute(
        sa.select(webhook_event.c.id, webhook_event.c.kind, webhook_event.c.provider, webhook_event.c.model_id)
        .where(webhook_event.c.id > sub.last_event_id)
        .order_by(webhook_event.c.id)
        .limit(_SCAN)
    ).all()
    if not rows:
        return 0, False
    wanted = [
        row.id for row in rows if matches(row.kind, row.provider, row.model_id, sub.events, sub.providers, sub.models)
    ]
    moved = conn.execute(
        webhook_subscription.update()
        .where(webhook_subscription.c.id == sub.id, webhook_subscription.c.last_event_id == sub.last_event_id)
        .values(last_event_id=rows[-1].id)
    )
    if moved.rowcount != 1:
        return 0, False  # another process batched these events first
    batches = [wanted[start : start + batch_size] for start in range(0, len(wanted), batch_size)]
    if batches:
        conn.execute(
            sa.insert(webhook_delivery),
            [
                {"subscription_id": sub.id, "event_ids": ids, "last_event_id": ids[-1], "status": "pending",
                 "attempts": 0, "next_attempt_at": now, "created_at": now}
                for ids in batches
            ],
        )  # fmt: skip
    return len(batches), len(rows) == _SCAN


def batch_events(engine: Engine, settings: Settings, now: datetime) -> int:
    """Turn events stored since each active subscription's cursor into pending deliveries; return how many."""
    with engine.connect() as conn:
        ids = list(
            conn.execute(sa.select(webhook_subscription.c.id).where(webhook_subscription.c.active.is_(True))).scalars()
        )
    made = 0
    for sub_id in ids:
        more = True
        while more:
            with _write(engine) as conn, conn.begin():
                sub = conn.execute(sa.select(webhook_subscription).where(webhook_subscription.c.id == sub_id)).first()
                if sub is None or not sub.active:
                    break
                count, more = _batch_one(conn, sub, settings.webhook_batch_size, now)
                made += count
    return made


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this process holds the lease of, with what it takes to send it."""

    id: int
    subscription_id: int
    url: str
    secret_encrypted: str
    event_ids: list[int]
    attempts: int
    claim: str


def _due(conn: Connection, now: datetime) -> Sequence[Any]:
    oldest = (
        sa.select(sa.func.min(webhook_delivery.c.id))
        .where(webhook_delivery.c.status == "pending")
        .group_by(webhook_delivery.c.subscription_id)
    )
    return conn.execute(
        sa.select(webhook_delivery, webhook_subscription.c.url, webhook_subscription.c.secret_encrypted)
        .join(webhook_subscription, webhook_subscription.c.id == webhook_delivery.c.subscription_id)
        .where(webhook_delivery.c.id.in_(oldest), webhook_subscription.c.active.is_(True))
        .where(webhook_delivery.c.next_attempt_at <= now)
        .where(sa.or_(webhook_delivery.c.claimed_until.is_(None), webhook_delivery.c.claimed_until < now))
        .order_by(webhook_delivery.c.next_attempt_at, webhook_delivery.c.id)
    ).all()


def claim_next(engine: Engine, now: datetime, lease: float) -> Claimed | None:
    """Claim the next due delivery (the oldest pending one of its subscription), or None when nothing is due."""
    with engine.connect() as conn:
        candidates = _due(conn, now)
    for row in candidates:
        token = secrets.token_hex(8)
        with _write(engine) as conn, conn.begin():
            taken = conn.execute(
                webhook_delivery.update()
                .where(webhook_delivery.c.id == row.id, webhook_delivery.c.status == "pending")
                .where(sa.or_(webhook_delivery.c.claimed_until.is_(None), webhook_delivery.c.claimed_until < now))
                .values(claim=token, claimed_until=now + timedelta(seconds=lease))
            )
        if taken.rowcount == 1:
            return Claimed(row.id, row.subscription_id, row.url, row.secret_encrypted, list(row.event_ids),
                           row.attempts, token)  # fmt: skip
    return None


def _event_docs(engine: Engine, ids: Iterable[int]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(webhook_event).where(webhook_event.c.id.in_(list(ids))).order_by(webhook_event.c.id)
        )
        return [
            {"id": row.id, "kind": row.kind, "runId": row.run_id, "provider": row.provider, "model": row.model_id,
             "createdAt": row.created_at.isoformat(), "data": row.payload}
            for row in rows
        ]  # fmt: skip


def signed_request(
    secret: str, delivery: int | str, attempt: int, document: dict[str, Any], timestamp: int
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one POST."""
    body = orjson.dumps(document)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "modelsync (webhooks)",
        HEADER_DELIVERY: str(delivery),
        HEADER_ATTEMPT: str(attempt),
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, timestamp, body),
    }
    return body, headers


def post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str], timeout: float
) -> tuple[int | None, str | None]:
    """POST once: (status code, None) for 2xx, else (status code or None, why) without the URL in it."""
    try:
        with client.stream("POST", url, content=body, headers=headers, timeout=httpx.Timeout(timeout)) as answer:
            code = answer.status_code
    except httpx.TimeoutException:
        return None, "timed out"
    except httpx.ConnectError:
        return None, "could not connect"
    except httpx.HTTPError as exc:
        return None, f"request failed ({type(exc).__name__})"
    if 200 <= code < 300:
        return code, None
    if 300 <= code < 400:
        return code, f"HTTP {code} (redirects are not followed)"
    return code, f"HTTP {code}"


def _backoff(settings: Settings, attempts: int) -> float:
    return float(min(settings.webhook_max_backoff, settings.webhook_backoff * 2 ** (attempts - 1)))


def _finish(
    engine: Engine, settings: Settings, claimed: Claimed, code: int | None, error: str | None, now: datetime
) -> str:
    """Record an attempt's outcome on the delivery (if this process still holds it); return its status."""
    attempts = claimed.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "last_status_code": code, "last_error": error,
                              "claim": None, "claimed_until": None}  # fmt: skip
    if error is None:
        values.update(status="delivered", delivered_at=now)
    elif attempts >= settings.webhook_max_attempts:
        values.update(status="failed")
    else:
        values.update(next_attempt_at=now + timedelta(seconds=_backoff(settings, attempts)))
    with _write(engine) as conn, conn.begin():
        conn.execute(
            webhook_delivery.update()
            .where(webhook_delivery.c.id == claimed.id, webhook_delivery.c.claim == claimed.claim)
            .values(**values)
        )
    return str(values.get("status", "pending"))


def _release(engine: Engine, claimed: Claimed) -> None:
    with _write(engine) as conn, conn.begin():
        conn.execute(
            webhook_delivery.update()
            .where(webhook_delivery.c.id == claimed.id, webhook_delivery.c.claim == claimed.claim)
            .values(claim=None, claimed_until=None)
        )


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(webhook_delivery).where(webhook_delivery.c.status == "pending")
            ).scalar_one()
        )


def deliver_pending(
    engine: Engine,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    budget: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> DeliveryRun:
    """Batch new events and send every due delivery (for at most `budget` seconds); return what happened."""
    started = time.monotonic()
    result = DeliveryRun(batched=batch_events(engine, settings, clock()))
    if settings.secret_key is None:
        result.pending = _pending(engine)
        if result.pending:
            result.blocked = "MODELSYNC_SECRET_KEY is not set; the secrets cannot be read to sign deliveries"
        return result
    secrets_by_sub: dict[int, str] = {}
    with httpx.Client(follow_redirects=False, transport=transport) as client:
        while True:
            left = None if budget is None else budget - (time.monotonic() - started)
            if left is not None and left <= 0:
                break
            timeout = settings.webhook_timeout if left is None else max(0.5, min(settings.webhook_timeout, left))
            claimed = claim_next(engine, clock(), timeout + _LEASE_MARGIN)
            if claimed is None:
                break
            try:
                secret = secrets_by_sub.get(claimed.subscription_id) or decrypt_secret(
                    settings, claimed.secret_encrypted
                )
            except ConfigError as exc:
                # Not the receiver's fault: no attempt is counted; the delivery waits for the right key.
                _release(engine, claimed)
                result.blocked = exc.message
                break
            secrets_by_sub[claimed.subscription_id] = secret
            now = clock()
            document = {"deliveryId": claimed.id, "subscriptionId": claimed.subscription_id,
                        "sentAt": now.isoformat(), "events": _event_docs(engine, claimed.event_ids)}  # fmt: skip
            body, headers = signed_request(secret, claimed.id, claimed.attempts + 1, document, int(now.timestamp()))
            code, error = post(client, claimed.url, body, headers, timeout)
            status = _finish(engine, settings, claimed, code, error, clock())
            if status == "delivered":
                result.delivered += 1
            else:
                result.failed_attempts += 1
                result.given_up += status == "failed"
                log.warning("webhook delivery %s (subscription %s) failed: %s", claimed.id, claimed.subscription_id,
                            error)  # fmt: skip
    result.pending = _pending(engine)
    return result


def send_test(
    engine: Engine, settings: Settings, subscription_id: int, clock: Clock = utc_now
) -> tuple[int | None, str | None]:
    """POST one signed `test` event to a subscription now (stored nowhere); (status code, error or None)."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(webhook_subscription).where(webhook_subscription.c.id == subscription_id)).first()
    if row is None:
        raise NotFoundError(f"no webhook subscription {subscription_id}; `modelsync webhooks list` shows them.")
    secret = decrypt_secret(settings, row.secret_encrypted)
    now = clock()
    delivery = f"test-{secrets.token_hex(8)}"
    document = {"deliveryId": delivery, "subscriptionId": row.id, "sentAt": now.isoformat(),
                "events": [{"id": None, "kind": "test", "runId": None, "provider": None, "model": None,
                            "createdAt": now.isoformat(), "data": {"message": "modelsync webhook test"}}]}  # fmt: skip
    body, headers = signed_request(secret, delivery, 1, document, int(now.timestamp()))
    with httpx.Client(follow_redirects=False) as client:
        return post(client, row.url, body, headers, settings.webhook_timeout)


class DeliveryLoop:
    """The server's delivery worker: `run_once` sends what is due; `wake` asks for a pass now (after a sync)."""

    def __init__(self, engine: Engine, settings: Settings, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.woken = threading.Event()
        self._warned: str | None = None

    def wake(self) -> None:
        """Ask for a delivery pass as soon as the loop can."""
        self.woken.set()

    def run_once(self) -> DeliveryRun | None:
        """One pass; never raises (a failure is logged and the next pass tries again)."""
        self.woken.clear()
        try:
            result = deliver_pending(self.engine, self.settings, clock=self.clock)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("webhook deliveries postponed: the database is busy or unavailable (%s)", type(exc).__name__)
            return None
        except Exception:
            log.exception("webhook delivery pass failed")
            return None
        if result.blocked != self._warned and result.blocked is not None:
            log.warning("webhook deliveries are pending: %s", result.blocked)
        self._warned = result.blocked
        return result
