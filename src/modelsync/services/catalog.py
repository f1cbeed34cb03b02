"""Catalog services shared by the CLI, the API and the web UI: read models, their history, admin decisions, cost.

Rules: a model is addressed as PROVIDER/MODEL_ID, split at the first "/" (model ids may contain "/" and ":");
admin decisions are pinned in the row's `manual` column, recorded in history and the audit log, and win over
every later sync; clearing a decision hands the field back to the sources at the next sync.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync import pricing
from modelsync.changes import Change, field_changes, history_fields, jsonable
from modelsync.cost import Cost, price_usage
from modelsync.db import repo
from modelsync.db.dialect import write_transaction
from modelsync.db.tables import ai_model, model_change, provider_state
from modelsync.errors import NotFoundError, UsageError
from modelsync.fieldspec import BY_NAME, PRICE_LIST, json_name
from modelsync.records import (
    MANUAL_FIELDS,
    PRICE_FIELDS,
    SYNCED_FIELDS,
    canonical_row,
    fingerprint_row,
    money,
    money_text,
    utc_now,
)
from modelsync.services.views import change_view, model_view
from modelsync.settings import Settings
from modelsync.sources.validate import InvalidValue, check
from modelsync.sync.merge import LAST_KNOWN, layer_schedule, set_prices
from modelsync.sync.policy import MANUAL, POLICY, reprice_policy
from modelsync.sync.verify import verification

MILLION = Decimal(1_000_000)


def parse_ref(ref: str) -> tuple[str, str]:
    """Split PROVIDER/MODEL_ID; model ids keep any further "/" or ":"."""
    provider, slash, model_id = ref.partition("/")
    if not slash or not provider or not model_id:
        raise UsageError(f"{ref!r} is not PROVIDER/MODEL_ID (for example openai/gpt-4o).")
    return provider.lower(), model_id


def _verified_at(conn: Connection) -> dict[str, Any]:
    return {name: at for name, at in conn.execute(sa.select(provider_state.c.provider, provider_state.c.verified_at))}


def models_query(provider: str | None = None, status: str | None = None) -> sa.Select[Any]:
    """Stored model rows of one provider and status (or all), ordered by provider and id."""
    query = sa.select(ai_model).order_by(ai_model.c.provider, ai_model.c.model_id)
    if provider:
        query = query.where(ai_model.c.provider == provider.lower())
    if status:
        if status not in ("active", "deprecated"):
            raise UsageError(f"unknown status {status!r}; use active or deprecated.")
        query = query.where(ai_model.c.status == status)
    return query


def list_models(engine: Engine, provider: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Return stored models in the API's shape, ordered by provider and id."""
    query = models_query(provider, status)
    with engine.connect() as conn:
        verified = _verified_at(conn)
        return [model_view(dict(row), verified.get(row["provider"])) for row in conn.execute(query).mappings()]


def _row(conn: Connection, provider: str, model_id: str, lock: bool = False) -> dict[str, Any]:
    query = sa.select(ai_model).where(ai_model.c.provider == provider, ai_model.c.model_id == model_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise NotFoundError(
            f"no model {provider}/{model_id}; `modelsync models list --provider {provider}` lists them."
        )
    return dict(row)


def show_model(engine: Engine, provider: str, model_id: str, tolerance: Decimal | None = None) -> dict[str, Any]:
    """Return one model in the API's shape; with a price tolerance, also how many sources verify each price/limit."""
    with engine.connect() as conn:
        row = _row(conn, provider, model_id)
        view = model_view(row, _verified_at(conn).get(provider))
    if tolerance is not None:
        view["verification"] = verification(row["candidates"], row, tolerance)
    return view


def show_candidates(engine: Engine, provider: str, model_id: str) -> dict[str, dict[str, Any]] | None:
    """Every source's value of one model's prices and limits, as the last sync stored them."""
    with engine.connect() as conn:
        return _row(conn, provider, model_id)["candidates"]


def model_history(engine: Engine, provider: str, model_id: str) -> list[dict[str, Any]]:
    """Return a model's change history, oldest first."""
    with engine.connect() as conn:
        pk = _row(conn, provider, model_id)["id"]
        query = sa.select(model_change).where(model_change.c.model_pk == pk).order_by(model_change.c.id)
        return [change_view(dict(row)) for row in conn.execute(query).mappings()]


def _clear_value(name: str, provider: str, model_id: str, settings: Settings) -> Any:
    if name == "is_allowed":
        return settings.policy.default_allowed
    if name == "recommended":
        return f"{provider}/{model_id}" in settings.policy.recommended
    return None


def _checked_decisions(decisions: Mapping[str, Any], model_id: str) -> dict[str, Any]:
    """Decisions held to the same limits as every source's values (finite prices under the ceiling, clean text)."""
    checked: dict[str, Any] = {}
    for name, value in decisions.items():
        if value is None:
            checked[name] = None
            continue
        try:
            checked[name] = check(BY_NAME[name], value)
        except InvalidValue as exc:
            raise UsageError(f"{json_name(name)} {str(value)[:80]!r} is not a valid value: {exc}.") from None
    if checked.get("replacement_model") == model_id:
        raise UsageError("a model cannot be its own replacement; name the model that replaces it.")
    return checked


_PRICE_NAMES = frozenset((PRICE_LIST, *PRICE_FIELDS))


def _reprice(
    values: dict[str, Any], provenance: dict[str, str], manual: Mapping[str, Any], row: Mapping[str, Any]
) -> None:
    """Merge the admin's price decisions over the stored schedule, as a sync would (decisions win)."""
    pinned = {name: manual[name] for name in _PRICE_NAMES if name in manual}
    for name in PRICE_FIELDS:
        if name in pinned:
            pinned[name] = money(pinned[name])
    stored = row[PRICE_LIST]
    if stored is None:
        stored = pricing.from_flat({name: row[name] for name in PRICE_FIELDS}, provenance.get("input_price", "stored"))
    schedule, first = pricing.merge([(MANUAL, layer_schedule(pinned, MANUAL)), (LAST_KNOWN, stored)])
    set_prices(values, provenance, schedule, first)


def decide(
    engine: Engine,
    settings: Settings,
    provider: str,
    model_id: str,
    decisions: Mapping[str, Any],
    actor: str | None,
    source_ip: str | None = None,
    user_id: int | None = None,
) -> dict[str, list[Any]]:
    """Pin admin decisions on a model (None clears one); return the {field: [old, new]} it changed."""
    unknown = sorted(set(decisions) - set(MANUAL_FIELDS))
    if unknown:
        raise UsageError(f"cannot decide {', '.join(unknown)}; decidable fields: {', '.join(MANUAL_FIELDS)}.")
    if decisions.get(PRICE_LIST) is not None:
        # An admin's components are the admin's: provenance says manual, whatever the body says.
        decisions = {**decisions, PRICE_LIST: [{**dict(item), "source": MANUAL} for item in decisions[PRICE_LIST]]}
    decisions = _checked_decisions(decisions, model_id)
    now = utc_now()
    with write_transaction(engine, settings.write_wait) as conn:
        row = _row(conn, provider, model_id, lock=True)
        manual = dict(row["manual"] or {})
        values = {name: row[name] for name in SYNCED_FIELDS}
        provenance = dict(values["provenance"] or {})
        for name, value in decisions.items():
            if value is None:
                manual.pop(name, None)
                cleared = _clear_value(name, provider, model_id, settings)
                if name in ("is_allowed", "recommended"):
                    values[name] = cleared
                    provenance[name] = POLICY
            else:
                manual[name] = jsonable(value)
                values[name] = value
                provenance[name] = MANUAL
        if any(value is not None and name in _PRICE_NAMES for name, value in decisions.items()):
            _reprice(values, provenance, manual, row)
        values["provenance"] = provenance
        reprice_policy(model_id, values, settings.policy, "latest" in (row["tags"] or []))
        changes = field_changes(row, values)
        if not changes and manual == (row["manual"] or {}):
            return {}
        canonical, extra = canonical_row(values), row["extra"]
        digest = fingerprint_row(canonical, extra, row["candidates"])
        change = Change("manual", provider, model_id, canonical, digest, changes, row["id"], extra, seen=False,
                        manual=manual)  # fmt: skip
        history = history_fields(change)
        repo.write_models(conn, [change], run_id=None, actor=actor, now=now)
        repo.append_audit(
            conn,
            action="model.decide",
            outcome="ok",
            now=now,
            actor=actor,
            user_id=user_id,
            source_ip=source_ip,
            target=f"{provider}/{model_id}",
            details={"changes": {json_name(name): diff for name, diff in history.items()}},
        )
        return history


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """The cost of one call at the stored prices, in USD: the seed's three parts, the lines and what is unpriced."""

    provider: str
    model_id: str
    usage: Mapping[str, int]
    batch: bool
    cost: Cost
    notes: tuple[str, ...] = ()

    @property
    def total_cost(self) -> Decimal | None:
        """The sum, or None when any part is unpriced."""
        return self.cost.total

    def to_dict(self) -> dict[str, Any]:
        """Render for JSON output: the seed's fields first (same names, same meaning), then the full breakdown."""
        parts = self.cost.parts
        return {
            "provider": self.provider,
            "model": self.model_id,
            "inputTokens": self.usage.get("inputTokens", 0),
            "cachedInputTokens": self.usage.get("cachedInputTokens", 0),
            "outputTokens": self.usage.get("outputTokens", 0),
            "inputCost": money_text(money(parts.get("inputCost"))),
            "cachedInputCost": money_text(money(parts.get("cachedInputCost"))),
            "outputCost": money_text(money(parts.get("outputCost"))),
            "totalCost": money_text(self.total_cost),
            "currency": "USD",
            "priced": self.total_cost is not None,
            "notes": list(self.notes),
            "usage": {key: value for key, value in self.usage.items() if value},
            "batch": self.batch,
            "lines": [line.to_dict() for line in self.cost.lines],
            "unpriced": list(self.cost.unpriced),
        }


def price_call(
    schedule: Sequence[Mapping[str, Any]] | None,
    provider: str,
    model_id: str,
    usage: Mapping[str, int],
    batch: bool = False,
) -> CostBreakdown:
    """Price one call from a model's price components and its usage (counts by usage key, see cost.py)."""
    result = price_usage(schedule, usage, batch)
    notes = list(result.notes)
    if result.unpriced:
        missing = ", ".join(result.unpriced)
        if schedule is None:
            notes.append(f"{provider}/{model_id} has no stored price (unpriced)")
        else:
            notes.append(f"{provider}/{model_id} has no stored price for {missing} (unpriced)")
    return CostBreakdown(provider, model_id, dict(usage), batch, result, tuple(notes))


def find_priced_model(engine: Engine, model: str, provider: str | None) -> dict[str, Any]:
    """Find the row for a cost question: PROVIDER/MODEL_ID, or a bare id that must be unambiguous."""
    with engine.connect() as conn:
        candidates: list[tuple[str, str]] = []
        if provider:
            candidates = [(provider.lower(), model)]
        else:
            candidates.append(("", model))
            head, slash, rest = model.partition("/")
            if slash:
                candidates.insert(0, (head.lower(), rest))
        for prov, model_id in candidates:
            query = sa.select(ai_model).where(ai_model.c.model_id == model_id)
            if prov:
                query = query.where(ai_model.c.provider == prov)
            rows = [dict(row) for row in conn.execute(query).mappings()]
            if len(rows) == 1:
                return rows[0]
            if len(rows) > 1:
                providers = ", ".join(sorted(row["provider"] for row in rows))
                raise UsageError(f"{model!r} is offered by several providers ({providers}); add --provider.")
    raise NotFoundError(
        f"no stored model {model!r}; run `modelsync sync` or check the id with `modelsync models list`."
    )


def cost(
    engine: Engine,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    provider: str | None = None,
    usage: Mapping[str, int] | None = None,
    batch: bool = False,
) -> CostBreakdown:
    """Price one call of a stored model; `usage` adds the other quantities (cost.USAGE_KEYS) to the tokens."""
    row = find_priced_model(engine, model, provider)
    counts = {
        **(usage or {}),
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "cachedInputTokens": cached_input_tokens,
    }
    return price_call(stored_schedule(row), row["provider"], row["model_id"], counts, batch)


def stored_schedule(row: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """A stored model's price components; a row stored before they existed reads its flat prices as components."""
    schedule = row.get(PRICE_LIST)
    if schedule is not None:
        return list(schedule)
    provenance = row.get("provenance") or {}
    return pricing.from_flat(row, provenance.get("input_price") or "stored")
