"""Webhook event retention: prune stored events, and finished deliveries, older than `webhook_retention_days`.

Rules:
- `webhook_retention_days` (default 90; 0 keeps everything) applies to `webhook_event` rows and to `delivered` or
  `failed` `webhook_delivery` rows, by their `created_at`. Pending deliveries are never pruned, and `webhook_mark`
  rows never are either (they are what makes shutdown_soon once-only and a conflict fire once while it is open).
- Never past an active subscription: an event is pruned only when every active subscription's cursor is at or
  after it and no pending delivery of an active subscription still has to send it. A paused subscription does not
  hold events back (a forgotten one would keep them all forever): resumed, it catches up with the events still
  stored; its pending deliveries whose events were all pruned are dropped with them (they are as old; the log
  line of the prune counts them), and one with some events left sends those.
- Events are read in id order and pruning stops at the first one younger than the retention, so a run's events
  go together and the pass is one indexed read when nothing is due.
- In bounded batches: each batch is its own short transaction, which first locks the subscriptions (SQLite:
  BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE), so a subscription resumed or batched meanwhile is seen.
  When nothing is old enough (the usual case) a pass is two indexed reads and takes no write lock, so it never
  makes another writer wait.
- Applied by the server's housekeeping at most once per `interval` seconds and by `modelsync sync` after it
  delivered; a busy database just defers it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.db.dialect import short_wait
from modelsync.db.tables import webhook_delivery, webhook_event, webhook_subscription
from modelsync.records import utc_now

log = logging.getLogger("modelsync.webhooks")

Clock = Callable[[], datetime]
PRUNE_BATCH: Final = 2000  # rows of each table deleted per transaction
PRUNE_INTERVAL_SECONDS: Final = 3600.0
FINISHED: Final = ("delivered", "failed")


@dataclass(slots=True)
class Pruned:
    """What one prune deleted (and gave up)."""

    events: int = 0
    deliveries: int = 0
    abandoned: int = 0  # pending deliveries of paused subscriptions dropped: their events were all pruned

    def __bool__(self) -> bool:
        return bool(self.events or self.deliveries or self.abandoned)


def prunable_through(conn: Connection) -> int | None:
    """The newest event id no active subscription still needs (None: no limit); locks the subscriptions."""
    subs = conn.execute(
        sa.select(webhook_subscription.c.id, webhook_subscription.c.active, webhook_subscription.c.last_event_id)
        .order_by(webhook_subscription.c.id)
        .with_for_update()
    ).all()
    active = [sub for sub in subs if sub.active]
    if not active:
        return None
    limit = min(sub.last_event_id for sub in active)
    # A subscription sends its oldest pending delivery first, and that one holds its smallest event id.
    oldest = (
        sa.select(sa.func.min(webhook_delivery.c.id))
        .where(webhook_delivery.c.status == "pending")
        .where(webhook_delivery.c.subscription_id.in_([sub.id for sub in active]))
        .group_by(webhook_delivery.c.subscription_id)
    )
    for event_ids in conn.execute(sa.select(webhook_delivery.c.event_ids).where(webhook_delivery.c.id.in_(oldest))):
        if event_ids[0]:
            limit = min(limit, min(event_ids[0]) - 1)
    return limit


def _old_prefix(rows: list[tuple[int, datetime]], cutoff: datetime) -> int | None:
    """The id of the last row of the leading run of rows older than `cutoff` (None: the first is not)."""
    last = None
    for row_id, created in rows:
        if created >= cutoff:
            break
        last = row_id
    return last


def _prune_batch(conn: Connection, cutoff: datetime, batch: int) -> tuple[Pruned, bool]:
    """Prune one batch in the open transaction; (what it did, whether more may be due)."""
    done = Pruned()
    limit = prunable_through(conn)
    query = sa.select(webhook_event.c.id, webhook_event.c.created_at).order_by(webhook_event.c.id).limit(batch)
    if limit is not None:
        query = query.where(webhook_event.c.id <= limit)
    events = [(row.id, row.created_at) for row in conn.execute(query)]
    last_event = _old_prefix(events, cutoff)
    if last_event is not None:
        done.events = int(
            conn.execute(
                webhook_event.delete().where(webhook_event.c.id <= last_event, webhook_event.c.created_at < cutoff)
            ).rowcount
            or 0
        )
        # Only a paused subscription's pending deliveries can lie this far back (an active one's hold the limit).
        done.abandoned = int(
            conn.execute(
                webhook_delivery.delete().where(
                    webhook_delivery.c.status == "pending", webhook_delivery.c.last_event_id <= last_event
                )
            ).rowcount
            or 0
        )
    finished = (
        sa.select(webhook_delivery.c.id, webhook_delivery.c.created_at)
        .where(webhook_delivery.c.status.in_(FINISHED))
        .order_by(webhook_delivery.c.id)
        .limit(batch)
    )
    deliveries = [(row.id, row.created_at) for row in conn.execute(finished)]
    last_delivery = _old_prefix(deliveries, cutoff)
    if last_delivery is not None:
        done.deliveries = int(
            conn.execute(
                webhook_delivery.delete()
                .where(webhook_delivery.c.status.in_(FINISHED), webhook_delivery.c.id <= last_delivery)
                .where(webhook_delivery.c.created_at < cutoff)
            ).rowcount
            or 0
        )
    more = (last_event is not None and len(events) == batch and last_event == events[-1][0]) or (
        last_delivery is not None and len(deliveries) == batch and last_delivery == deliveries[-1][0]
    )
    return done, more


def _anything_old(engine: Engine, cutoff: datetime) -> bool:
    """Whether the oldest event or the oldest finished delivery is older than `cutoff` (reads only)."""
    with engine.connect() as conn:
        event = conn.execute(
            sa.select(webhook_event.c.created_at).order_by(webhook_event.c.id).limit(1)
        ).scalar_one_or_none()
        finished = conn.execute(
            sa.select(webhook_delivery.c.created_at)
            .where(webhook_delivery.c.status.in_(FINISHED))
            .order_by(webhook_delivery.c.id)
            .limit(1)
        ).scalar_one_or_none()
    return any(created is not None and created < cutoff for created in (event, finished))


def prune_events(engine: Engine, retention_days: int, now: datetime | None = None, batch: int = PRUNE_BATCH) -> Pruned:
    """Delete events and finished deliveries older than `retention_days` (0: none) in batches; return the counts."""
    total = Pruned()
    if retention_days <= 0:
        return total
    cutoff = (now or utc_now()) - timedelta(days=retention_days)
    more = _anything_old(engine, cutoff)
    while more:
        with engine.connect().execution_options(catalog_write=True) as conn:
            with short_wait(conn, 1000):
                transaction = conn.begin()  # SQLite: BEGIN IMMEDIATE, waiting at most a second for the lock
            with transaction:
                done, more = _prune_batch(conn, cutoff, batch)
        total.events += done.events
        total.deliveries += done.deliveries
        total.abandoned += done.abandoned
    return total


class EventRetention:
    """Applies the webhook retention at most once per `interval` seconds; a busy database just defers it."""

    def __init__(
        self, engine: Engine, days: int, interval: float = PRUNE_INTERVAL_SECONDS, clock: Clock = utc_now
    ) -> None:
        self._engine = engine
        self.days = days
        self._interval = interval
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def run(self) -> Pruned:
        """Prune if a retention is set and the last prune is at least `interval` old; return what was deleted."""
        if self.days <= 0:
            return Pruned()
        with self._lock:
            started = time.monotonic()
            if self._last is not None and started - self._last < self._interval:
                return Pruned()
            self._last = started
            try:
                done = prune_events(self._engine, self.days, self._clock())
            except sa.exc.OperationalError:
                log.warning("webhook event retention deferred: the database is busy")
                return Pruned()
        if done:
            log.info("webhook retention: deleted %d events and %d finished deliveries older than %d days "
                     "(%d pending deliveries of paused subscriptions dropped with their events)",
                     done.events, done.deliveries, self.days, done.abandoned)  # fmt: skip
        return done
