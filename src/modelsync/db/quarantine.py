"""Reads and writes of the quarantine table for the sync (the admin's side is services/quarantine.py).

Rules: values are stored as canonical JSON text (`records.json_text`), so `null` (no value) is a value and two
equal proposals compare equal as text; callers own the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from modelsync.db.tables import quarantine
from modelsync.records import json_text

# The statuses the sync reads back (sync/quarantine.py names them all).
PENDING = "pending"
REJECTED = "rejected"


def load_open(conn: Connection, provider: str) -> list[dict[str, Any]]:
    """A provider's pending and rejected entries (id, model_id, field, proposed, status, rule), oldest first."""
    query = (
        sa.select(quarantine.c.id, quarantine.c.model_id, quarantine.c.field, quarantine.c.proposed_value,
                  quarantine.c.status, quarantine.c.evidence)
        .where(quarantine.c.provider == provider, quarantine.c.status.in_((PENDING, REJECTED)))
        .order_by(quarantine.c.id)
    )  # fmt: skip
    return [
        {"id": pk, "model_id": model_id, "field": field, "proposed": orjson.loads(proposed), "status": status,
         "rule": str((evidence or {}).get("rule") or "")}
        for pk, model_id, field, proposed, status, evidence in conn.execute(query)
    ]  # fmt: skip


def insert_entries(
    conn: Connection, provider: str, entries: Sequence[Mapping[str, Any]], run_id: int | None, now: datetime
) -> None:
    """Store new entries: each a mapping of model_id, field, old, new, evidence and status."""
    if not entries:
        return
    rows = [
        {
            "provider": provider,
            "model_id": entry["model_id"],
            "field": entry["field"],
            "old_value": json_text(entry["old"]),
            "proposed_value": json_text(entry["new"]),
            "evidence": orjson.loads(json_text(entry["evidence"])),
            "status": entry["status"],
            "run_id": run_id,
            "created_at": now,
            "decided_at": None if entry["status"] == PENDING else now,
            "decided_by": entry.get("decided_by"),
        }
        for entry in entries
    ]
    conn.execute(sa.insert(quarantine), rows)


def close_entries(conn: Connection, closed: Sequence[tuple[int, str]], actor: str, now: datetime) -> None:
    """Close open entries with their new status (superseded, withdrawn, confirmed), decided by `actor`."""
    if closed:
        conn.execute(
            sa.update(quarantine)
            .where(quarantine.c.id == sa.bindparam("pk"), quarantine.c.status == PENDING)
            .values(status=sa.bindparam("s"), decided_at=now, decided_by=actor),
            [{"pk": pk, "s": status} for pk, status in closed],
        )
