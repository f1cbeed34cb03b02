"""The audit log: append an entry in its own transaction, and read entries back, newest first.

Rules: entries are only ever appended (nothing in modelsync updates or deletes them); an entry records who (user
and name), from where (source address), what (action and target) and how it ended (outcome), plus details that
never contain a secret. Reads page backwards by id, which is the order entries were committed in.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db import repo
from modelsync.db.tables import audit_log
from modelsync.records import utc_now


def record(
    engine: Engine,
    *,
    action: str,
    outcome: str,
    actor: str | None = None,
    user_id: int | None = None,
    source_ip: str | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry, committed at once."""
    with engine.begin() as conn:
        repo.append_audit(
            conn,
            action=action,
            outcome=outcome,
            now=utc_now(),
            actor=actor,
            user_id=user_id,
            source_ip=source_ip,
            target=target[:512] if target else target,
            details=details,
        )


def entry_view(row: dict[str, Any]) -> dict[str, Any]:
    """Render one audit entry in the API's camelCase shape."""
    return {
        "id": row["id"],
        "at": row["created_at"].isoformat(),
        "actor": row["actor"],
        "userId": row["user_id"],
        "sourceIp": row["source_ip"],
        "action": row["action"],
        "target": row["target"],
        "outcome": row["outcome"],
        "details": row["details"],
    }


def list_entries(
    engine: Engine,
    *,
    limit: int,
    before: int | None = None,
    action: str | None = None,
    actor: str | None = None,
    outcome: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Return up to `limit` entries older than id `before`, newest first, and the cursor of the next page."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if action:
        query = query.where(audit_log.c.action == action)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if outcome:
        query = query.where(audit_log.c.outcome == outcome)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    return [entry_view(row) for row in rows], rows[-1]["id"] if more else None
