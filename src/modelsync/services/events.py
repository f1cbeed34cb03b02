"""Store each sync's change events (`webhook_event`), derived after its commit from what it stored.

Rules:
- `record_run_events` runs once per real sync, last in the sync's own transaction (after its history rows are
  written, under the catalog write lock), so a run and its events commit together and events of consecutive runs
  get increasing ids in commit order (a delivery cursor never skips one). It never raises: an error rolls back
  the events only (a savepoint), is logged, and the sync commits (the events of that run are then missing).
- Event kinds are collected by a small registry of collectors (`COLLECTORS`, `register_collector`): each reads
  what the run stored on the open connection and returns events (modelsync.events does the deriving). Another
  part of modelsync adds a kind by registering one collector (its kind must be in events.EVENT_KINDS).
- All collectors of a run, their events and their marks (once-only keys) commit in one transaction.
- A run that failed as a whole stores one sync_failed event (`record_run_failure`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.db import repo
from modelsync.db.tables import ai_model, webhook_mark
from modelsync.events import (
    PRICE_SCHEDULED,
    Event,
    conflict_events,
    conflict_key,
    failure_events,
    history_events,
    quarantine_events,
    run_failed_event,
    shutdown_events,
)
from modelsync.services.conflicts import conflicts_in
from modelsync.services.ledger import ScheduledPrice
from modelsync.services.quarantine import held_in_run
from modelsync.settings import Settings
from modelsync.sync.report import SyncReport

log = logging.getLogger("modelsync.webhooks")
_PAGE = 2000  # history rows read, and events written, at a time


@dataclass(frozen=True, slots=True)
class RunContext:
    """What collectors know about the run whose events they derive."""

    run_id: int | None
    now: datetime
    settings: Settings
    report: SyncReport | None = None
    scheduled: Sequence[ScheduledPrice] = field(default_factory=tuple)


Collector = Callable[[Connection, RunContext], Iterable[Event]]
COLLECTORS: dict[str, Collector] = {}


def register_collector(name: str, collector: Collector) -> None:
    """Add (or replace) the collector named `name`; it runs after every real sync."""
    COLLECTORS[name] = collector


def _marks(conn: Connection, kind: str) -> set[str]:
    return set(conn.execute(sa.select(webhook_mark.c.key).where(webhook_mark.c.kind == kind)).scalars())


def _mark(conn: Connection, kind: str, keys: Sequence[str], now: datetime) -> None:
    if keys:
        conn.execute(sa.insert(webhook_mark), [{"kind": kind, "key": key, "created_at": now} for key in keys])


def collect_history(conn: Connection, context: RunContext) -> Iterator[Event]:
    """created, updated, price_changed, deprecated and reactivated, from the run's history rows."""
    if context.run_id is None:
        return
    for rows in repo.run_history(conn, context.run_id, _PAGE):
        yield from history_events(
            {"kind": kind, "provider": provider, "model_id": model_id, "changes": changes}
            for _, kind, provider, model_id, changes in rows
        )


def collect_scheduled(_conn: Connection, context: RunContext) -> list[Event]:
    """price_scheduled: a dated price the run saw for the first time (services/ledger.py)."""
    return [
        Event(PRICE_SCHEDULED, item.provider, item.model_id,
              {"effectiveFrom": item.effective_from.isoformat(), "prices": item.prices, "source": item.source})
        for item in context.scheduled
    ]  # fmt: skip


def collect_shutdowns(conn: Connection, context: RunContext) -> list[Event]:
    """shutdown_soon: a stored model's shutdown date within a threshold, once per model and threshold."""
    thresholds = context.settings.shutdown_soon_days
    if not thresholds:
        return []
    today: date = context.now.date()
    horizon = today + timedelta(days=max(thresholds))
    models = conn.execute(
        sa.select(ai_model.c.provider, ai_model.c.model_id, ai_model.c.shutdown_date)
        .where(ai_model.c.shutdown_date.is_not(None), ai_model.c.shutdown_date >= today)
        .where(ai_model.c.shutdown_date <= horizon)
        .order_by(ai_model.c.provider, ai_model.c.model_id)
    ).all()
    events, keys = shutdown_events(
        [(row.provider, row.model_id, row.shutdown_date) for row in models], today, thresholds,
        _marks(conn, "shutdown_soon"),
    )  # fmt: skip
    _mark(conn, "shutdown_soon", keys, context.now)
    return events


def _recomputed(context: RunContext) -> list[str]:
    """Providers whose models this run merged and compared (their candidates, so their conflicts, may have moved)."""
    if context.report is None:
        return []
    return [o.provider for o in context.report.outcomes if o.status == "ok" and not o.inputs_unchanged]


def collect_conflicts(conn: Connection, context: RunContext) -> list[Event]:
    """conflict: a conflict open now that was not open after the previous sync (services/conflicts.py)."""
    # Only providers the run recomputed: an unchanged provider's candidates and decisions did not move (a decision
    # made since moves its change mark, and then the provider is recomputed).
    events: list[Event] = []
    tolerance = context.settings.policy.price_tolerance
    for provider in _recomputed(context):
        current = conflicts_in(conn, tolerance, provider)
        open_keys = {key for key in _marks(conn, "conflict") if key.startswith(f"{provider}/")}
        events += conflict_events(current, open_keys)
        now_open = {conflict_key(item) for item in current}
        closed = sorted(open_keys - now_open)
        for start in range(0, len(closed), _PAGE):
            gone = closed[start : start + _PAGE]
            conn.execute(webhook_mark.delete().where(webhook_mark.c.kind == "conflict", webhook_mark.c.key.in_(gone)))
        _mark(conn, "conflict", sorted(now_open - open_keys), context.now)
    return events


def collect_failures(_conn: Connection, context: RunContext) -> list[Event]:
    """sync_failed: each provider that failed or whose listing was refused."""
    if context.report is None:
        return []
    outcomes = [{"provider": o.provider, "status": o.status, "message": o.message} for o in context.report.outcomes]
    return failure_events(context.run_id, outcomes)


def collect_quarantined(conn: Connection, context: RunContext) -> list[Event]:
    """quarantined: each change the run held for an admin (services/quarantine.py) and left pending."""
    if context.run_id is None:
        return []
    return quarantine_events(held_in_run(conn, context.run_id))


for _name, _collector in (
    ("history", collect_history),
    ("price_scheduled", collect_scheduled),
    ("shutdown_soon", collect_shutdowns),
    ("conflict", collect_conflicts),
    ("quarantined", collect_quarantined),
    ("sync_failed", collect_failures),
):
    register_collector(_name, _collector)


def store_events(conn: Connection, run_id: int | None, events: Sequence[Event], now: datetime) -> int:
    """Insert events in order; return how many."""
    if events:
        # Payloads serialized by orjson and written in bulk: a first sync stores one event per model.
        rows = [(e.kind, e.provider, e.model_id, orjson.dumps(e.payload).decode()) for e in events]
        repo.write_events(conn, run_id, rows, now)
    return len(events)


def _writing(engine: Engine) -> Connection:
    # SQLite: BEGIN IMMEDIATE, so the marks read here cannot be changed by another writer before this transaction
    # writes (a deferred one would fail with "database is locked" instead). Not the catalog lock on PostgreSQL.
    return engine.connect().execution_options(catalog_write=True)


def _chunks(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    found = iter(events)
    while chunk := list(islice(found, size)):
        yield chunk


def record_run_events(conn: Connection, context: RunContext) -> int:
    """Derive and store a run's events (every registered collector) in its transaction; return how many.

    Never raises: a collector's error rolls back the events only (a savepoint) and is logged; the run commits.
    """
    stored = 0
    try:
        with conn.begin_nested():
            for collector in COLLECTORS.values():
                for chunk in _chunks(collector(conn, context), _PAGE):
                    stored += store_events(conn, context.run_id, chunk, context.now)
    except Exception:
        log.exception("could not record the change events of sync run %s", context.run_id)
        return 0
    return stored


def record_run_failure(engine: Engine, run_id: int | None, reason: str, now: datetime) -> None:
    """Store the sync_failed event of a run that failed as a whole. Never raises."""
    try:
        with _writing(engine) as conn, conn.begin():
            store_events(conn, run_id, [run_failed_event(run_id, reason)], now)
    except Exception:
        log.exception("could not record the failure event of sync run %s", run_id)
