"""Read models for the admin web UI: counts per provider, one model with everything known about it, id lists.

Rules: the counts use the same filters as the model list (services/query.py), so a page's "N models" and its rows
never disagree; a capability is reported tri-state (True, False, or absent when unknown), exactly as stored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db.tables import ai_model
from modelsync.fieldspec import json_name
from modelsync.records import utc_now
from modelsync.services import catalog, ledger
from modelsync.services.query import ModelFilters
from modelsync.services.query import _filter_clauses as filter_clauses  # one definition of what a filter means
from modelsync.sync.verify import CANDIDATE_FIELDS, verdicts


def provider_counts(engine: Engine, filters: ModelFilters) -> dict[str, int]:
    """Models per provider matching the filters other than the provider filter itself, by provider name."""
    filters = filters.validate()
    others = replace(filters, conditions=tuple(c for c in filters.conditions if c.param != "provider"))
    query = (
        sa.select(ai_model.c.provider, sa.func.count())
        .where(*filter_clauses(others, engine.dialect.name))
        .group_by(ai_model.c.provider)
        .order_by(ai_model.c.provider)
    )
    with engine.connect() as conn:
        return {provider: int(count) for provider, count in conn.execute(query)}


def capability_names(engine: Engine) -> list[str]:
    """Every capability name any stored model has a known value for, sorted."""
    with engine.connect() as conn:
        names: set[str] = set()
        for (flags,) in conn.execute(sa.select(ai_model.c.capabilities).distinct()):
            names.update(flags or {})
    return sorted(names)


def model_ids(engine: Engine, provider: str, limit: int = 1000) -> list[str]:
    """Ids of a provider's active models (for the replacement picker), sorted, at most `limit`."""
    query = (
        sa.select(ai_model.c.model_id)
        .where(ai_model.c.provider == provider, ai_model.c.status == "active")
        .order_by(ai_model.c.model_id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]


def model_detail(
    engine: Engine, provider: str, model_id: str, tolerance: Decimal = Decimal("0.01"), now: datetime | None = None
) -> dict[str, Any]:
    """One model in the API's shape plus capabilities (tri-state), decisions, verification, history, scheduled
    prices (the price ledger's, after `now`) and successors."""
    view = catalog.show_model(engine, provider, model_id)
    columns = [ai_model.c[name] for name in CANDIDATE_FIELDS]
    query = sa.select(ai_model.c.capabilities, ai_model.c.manual, ai_model.c.candidates, *columns).where(
        ai_model.c.provider == provider, ai_model.c.model_id == model_id
    )
    replaced = (
        sa.select(ai_model.c.model_id)
        .where(ai_model.c.provider == provider, ai_model.c.replacement_model == model_id)
        .order_by(ai_model.c.model_id)
        .limit(100)
    )
    with engine.connect() as conn:
        row = conn.execute(query).mappings().one()
        replaces = [found[0] for found in conn.execute(replaced)]
    return {
        "model": view,
        "capabilities": dict(row["capabilities"] or {}),
        "decisions": sorted((row["manual"] or {}).keys()),
        "verified": verdicts(row["candidates"], dict(row), row["manual"] or {}, tolerance),
        "candidates": {json_name(name): values for name, values in (row["candidates"] or {}).items()},
        "history": catalog.model_history(engine, provider, model_id),
        "scheduled": ledger.price_ledger(engine, provider, model_id, now or utc_now())["scheduled"],
        "replaces": replaces,
    }
