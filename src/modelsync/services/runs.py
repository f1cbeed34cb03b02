"""Sync runs as recorded by the sync service: list them newest first, show one with its full summary, health.

Rules: a run's summary is stored in a shape of its own (sync/report.py) and rendered here as the JSON object
`modelsync sync --json` printed for it. Looking at runs first marks runs that a dead process left `running` as
abandoned (services/sync.py), so nobody is shown a sync as running that never will finish.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db.tables import ai_model, sync_run
from modelsync.errors import NotFoundError
from modelsync.services.sync import abandon_dead_runs
from modelsync.sync.report import summary_from_storage

log = logging.getLogger("modelsync.api")


def run_view(row: dict[str, Any], full: bool) -> dict[str, Any]:
    """Render one sync run; the list shows totals, the detail the whole summary."""
    summary = summary_from_storage(row["summary"], row["id"], row["dry_run"]) or {}
    view = {
        "id": row["id"],
        "trigger": row["trigger"],
        "actor": row["actor"],
        "providers": row["providers"],
        "dryRun": row["dry_run"],
        "status": row["status"],
        "startedAt": row["started_at"].isoformat(),
        "finishedAt": row["finished_at"].isoformat() if row["finished_at"] else None,
        "totals": summary.get("totals"),
    }
    if full:
        view["summary"] = summary or None
    return view


def list_runs(engine: Engine, limit: int, before: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Return up to `limit` runs older than id `before`, newest first, and the cursor of the next page."""
    abandon_dead_runs(engine)
    query = sa.select(sync_run).order_by(sync_run.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(sync_run.c.id < before)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return [run_view(row, full=False) for row in rows], rows[-1]["id"] if more else None


def show_run(engine: Engine, run_id: int) -> dict[str, Any]:
    """Return one run with its summary."""
    abandon_dead_runs(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.select(sync_run).where(sync_run.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"no sync run {run_id}; GET /api/admin/sync-runs lists them.")
    return run_view(dict(row), full=True)


def last_run(engine: Engine) -> dict[str, Any] | None:
    """Return the newest finished run that was not rejected (for the health check)."""
    query = (
        sa.select(sync_run)
        .where(sync_run.c.finished_at.is_not(None), sync_run.c.status != "rejected")
        .order_by(sync_run.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return run_view(dict(row), full=False) if row is not None else None


def health(engine: Engine) -> tuple[bool, dict[str, Any]]:
    """Whether the database answers, with the model count and the last sync (no user names: anyone may ask)."""
    try:
        with engine.connect() as conn:
            models = int(conn.execute(sa.select(sa.func.count()).select_from(ai_model)).scalar_one())
        last = last_run(engine)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        return False, {"status": "unavailable", "database": "unreachable", "lastSync": None, "models": None}
    if last is not None:
        last["actor"] = None
    return True, {"status": "ok", "database": "ok", "lastSync": last, "models": models}
