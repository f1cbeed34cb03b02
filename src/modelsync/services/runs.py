"""Sync runs as recorded by the engine: list them newest first, and show one with its full summary.

Rules: read-only; a run's summary is the same JSON object `modelsync sync --json` printed for it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db.tables import sync_run
from modelsync.errors import NotFoundError


def run_view(row: dict[str, Any], full: bool) -> dict[str, Any]:
    """Render one sync run; the list shows totals, the detail the whole summary."""
    summary = row["summary"] or {}
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
        view["summary"] = row["summary"]
    return view


def list_runs(engine: Engine, limit: int, before: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Return up to `limit` runs older than id `before`, newest first, and the cursor of the next page."""
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
