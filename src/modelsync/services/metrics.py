"""What `GET /metrics` reports about the catalog and its syncs, read from the shared database.

Rules:
- Everything comes from the recorded runs, the providers' state and the model rows, never from this process's
  memory, so every replica over one database reports the same values.
- A provider's last sync is the newest finished run (not rejected: a rejected run never fetched) that named it.
  Providers are fetched concurrently inside one run, so its duration is the run's (start to commit or failure).
  Its outcome is the provider's status in that run's summary (ok, skipped, refused, failed), or, for a run that
  ended before it had per-provider outcomes, the run's own status (failed, cancelled, abandoned).
- A provider's last success is the run whose listing it last applied (`provider_state.last_run_id`).
- Only the newest `SCAN_LIMIT` runs are read for outcomes, newest first, stopping as soon as every provider with a
  state has one: a scrape costs a few small queries whatever the history's length.
- Read-only: a scrape never marks dead runs abandoned (listing the runs does); such a run is not yet finished, so
  it is not counted until it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.db.tables import ai_model, provider_state, sync_run

SCAN_LIMIT: Final = 200
_PAGE: Final = 10
# Provider outcomes (sync/report.py) and the run statuses that stand for one when a run has none per provider.
OUTCOMES: Final = ("ok", "skipped", "refused", "failed", "cancelled", "abandoned")
_WHOLE_RUN: Final = frozenset({"failed", "cancelled", "abandoned"})


@dataclass(frozen=True, slots=True)
class LastSync:
    """A provider's newest finished sync: its run, outcome, duration and end."""

    run_id: int
    outcome: str
    duration_seconds: float
    finished_at: datetime


@dataclass(slots=True)
class SyncMetrics:
    """Everything /metrics reports from the database."""

    last: dict[str, LastSync] = field(default_factory=dict)
    last_success: dict[str, datetime] = field(default_factory=dict)
    runs_by_status: dict[str, int] = field(default_factory=dict)
    running: int = 0
    models: dict[tuple[str, str], int] = field(default_factory=dict)


def _outcomes(row: Any) -> dict[str, str]:
    """Each provider's outcome in one finished run."""
    summary = row.summary if isinstance(row.summary, dict) else {}
    entries = summary.get("providers") or []
    if isinstance(entries, dict):  # runs stored before the storage format kept the API's shape, keyed by provider
        entries = list(entries.values())
    found = {
        str(entry["provider"]): str(entry.get("status") or row.status)
        for entry in entries
        if isinstance(entry, dict) and entry.get("provider")
    }
    if row.status in _WHOLE_RUN:  # the run ended before it had outcomes per provider: each shares its end
        names = row.providers if isinstance(row.providers, list) else []
        for name in names:
            found.setdefault(str(name), row.status)
    return found


def _last_syncs(conn: Connection, wanted: set[str]) -> dict[str, LastSync]:
    columns = (sync_run.c.id, sync_run.c.status, sync_run.c.providers, sync_run.c.summary, sync_run.c.started_at,
               sync_run.c.finished_at)  # fmt: skip
    base = (
        sa.select(*columns)
        .where(sync_run.c.finished_at.is_not(None), sync_run.c.status != "rejected", sync_run.c.dry_run.is_(False))
        .order_by(sync_run.c.id.desc())
        .limit(_PAGE)
    )
    last: dict[str, LastSync] = {}
    before: int | None = None
    scanned = 0
    while scanned < SCAN_LIMIT:
        query = base if before is None else base.where(sync_run.c.id < before)
        rows = conn.execute(query).all()
        for row in rows:
            duration = max((row.finished_at - row.started_at).total_seconds(), 0.0)
            for name, outcome in _outcomes(row).items():
                if name not in last:
                    last[name] = LastSync(row.id, outcome, duration, row.finished_at)
        scanned += len(rows)
        if len(rows) < _PAGE or wanted <= last.keys():
            break
        before = rows[-1].id
    return last


def sync_metrics(engine: Engine) -> SyncMetrics:
    """Read the runs, the providers' state and the model counts (a few small queries)."""
    result = SyncMetrics()
    with engine.connect() as conn:
        states = conn.execute(
            sa.select(provider_state.c.provider, sync_run.c.finished_at, provider_state.c.verified_at).select_from(
                provider_state.outerjoin(sync_run, sync_run.c.id == provider_state.c.last_run_id)
            )
        ).all()
        result.last_success = {row.provider: row.finished_at or row.verified_at for row in states}
        result.last = _last_syncs(conn, set(result.last_success))
        by_status = sa.select(sync_run.c.status, sa.func.count()).where(sync_run.c.dry_run.is_(False))
        for status, count in conn.execute(by_status.group_by(sync_run.c.status)).all():
            if status == "running":
                result.running = int(count)
            else:
                result.runs_by_status[status] = int(count)
        per_model = sa.select(ai_model.c.provider, ai_model.c.status, sa.func.count()).group_by(
            ai_model.c.provider, ai_model.c.status
        )
        result.models = {(provider, status): int(count) for provider, status, count in conn.execute(per_model).all()}
    return result
