"""Conflicts and verification: where independent sources disagree on a stored price or limit, and resolving one.

Rules: a conflict is read from a model's stored candidates (sync/verify.py) each time it is asked for, so it is
never stale and never silently resolved: only an admin decision (services/catalog.decide: history + audit) on the
field removes it, and clearing that decision brings it back.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync.db.tables import ai_model
from modelsync.errors import UsageError
from modelsync.fieldspec import json_name
from modelsync.services import catalog
from modelsync.settings import Settings
from modelsync.sync.verify import CANDIDATE_FIELDS, LIMIT_CANDIDATES, conflicting_fields, independent

# The fields a conflict can be about, by their API names.
CONFLICT_FIELDS = {json_name(name): name for name in CANDIDATE_FIELDS}


def field_name(name: str) -> str:
    """The record field an API or CLI name means (`inputCostPer1M` or `input_price`); UsageError otherwise."""
    found = CONFLICT_FIELDS.get(name) or (name if name in CANDIDATE_FIELDS else None)
    if found is None:
        raise UsageError(f"{name!r} is not a field with candidates; use one of {', '.join(CONFLICT_FIELDS)}.")
    return found


def list_conflicts(engine: Engine, tolerance: Decimal, provider: str | None = None) -> list[dict[str, Any]]:
    """Every unresolved conflict, ordered by provider, model and field, with each source's value."""
    with engine.connect() as conn:
        return conflicts_in(conn, tolerance, provider)


def conflicts_in(conn: Connection, tolerance: Decimal, provider: str | None = None) -> list[dict[str, Any]]:
    """`list_conflicts` on an open connection (the webhook events read it inside their own transaction)."""
    columns = [ai_model.c.provider, ai_model.c.model_id, ai_model.c.candidates, ai_model.c.manual]
    columns += [ai_model.c[name] for name in CANDIDATE_FIELDS]
    query = sa.select(*columns).where(ai_model.c.candidates.is_not(None), ai_model.c.status == "active")
    if provider:
        query = query.where(ai_model.c.provider == provider.lower())
    found: list[dict[str, Any]] = []
    for row in conn.execute(query.order_by(ai_model.c.provider, ai_model.c.model_id)).mappings():
        for name, values in conflicting_fields(row["candidates"], row["manual"] or {}, tolerance).items():
            stored = row[name]
            found.append(
                {
                    "provider": row["provider"],
                    "model": row["model_id"],
                    "field": json_name(name),
                    "stored": None if stored is None else (format(stored, "f") if name in catalog.PRICE_FIELDS
                                                           else stored),
                    "candidates": [{"source": source, "value": values[source]} for source in sorted(values)],
                }
            )  # fmt: skip
    return found


def resolve(
    engine: Engine,
    settings: Settings,
    provider: str,
    model_id: str,
    field: str,
    *,
    source: str | None = None,
    value: Any = None,
    actor: str | None = None,
    source_ip: str | None = None,
    user_id: int | None = None,
) -> dict[str, list[Any]]:
    """Resolve a conflict by an admin decision: the value of one of the candidates' sources, or a value entered."""
    name = field_name(field)
    if (source is None) == (value is None):
        raise UsageError("resolve a conflict with either a source (one of its candidates) or a value, not both.")
    if source is not None:
        candidates = (catalog.show_candidates(engine, provider, model_id) or {}).get(name) or {}
        choices = independent(candidates)
        if source not in choices:
            known = ", ".join(choices) or "none"
            raise UsageError(f"{source!r} is not a source of {json_name(name)} for {provider}/{model_id}; "
                             f"its sources: {known}.")  # fmt: skip
        value = choices[source]
    elif name in LIMIT_CANDIDATES and isinstance(value, str) and value.strip().isdigit():
        value = int(value)  # the CLI's text; anything else is refused by the decision's own checks
    return catalog.decide(engine, settings, provider, model_id, {name: value}, actor, source_ip, user_id)


def count_conflicts(engine: Engine, tolerance: Decimal) -> int:
    """How many unresolved conflicts there are (the web UI's nav count)."""
    return len(list_conflicts(engine, tolerance))
