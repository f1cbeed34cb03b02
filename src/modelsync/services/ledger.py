"""The price ledger: a model's past, current and scheduled list prices, and the price in force at a time.

Rules:
- Past prices are the `prices` changes in the model's history: each took effect when modelsync observed it.
- Scheduled prices are dated list prices a catalog announces before they start (`price_schedule`); when one has
  started, the normal sync applies it, and the ledger dates it from its announced start, not from that sync.
- A time before modelsync first observed any price for the model has no known price (unpriced), never a guess.
- The change feed reports each scheduled price twice, derived from the ledger when read (`feed_events`): when first
  seen (`price_scheduled`, at its first-seen time) and when it takes effect (`price_effective`, at its date, with
  no sync needed), each with the effective date and the old and new price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from modelsync import pricing
from modelsync.db.tables import ai_model, model_change, price_schedule
from modelsync.errors import NotFoundError
from modelsync.fieldspec import PRICE_LIST, json_name
from modelsync.records import PRICE_FIELDS
from modelsync.services.catalog import price_call, stored_schedule
from modelsync.sources.catalogs import GENAI_PRICES
from modelsync.sync.assemble import ProviderSources
from modelsync.sync.report import ProviderOutcome


def _summary(schedule: Sequence[Mapping[str, Any]]) -> str:
    if not schedule:
        return "free"
    return "; ".join(pricing.describe(item) for item in schedule if not item.get("batch") and not item.get("above"))


def _priced_above_catalog(sources: ProviderSources, model_id: str) -> bool:
    """Whether an override or the listing prices the model: then a catalog's dated price will never be billed."""
    for layer in sources.layers:
        if layer.source == GENAI_PRICES:
            return False
        record = layer.records.get(model_id)
        if record is not None and any(record.fields.get(name) is not None for name in (PRICE_LIST, *PRICE_FIELDS)):
            return True
    return False


def _catalog_priced(row: Mapping[str, Any]) -> bool:
    """Whether the stored price is genai-prices' own, so its announced dates are the model's billing dates."""
    stored = stored_schedule(row)
    if stored:
        return all(item.get("source") == GENAI_PRICES for item in stored)
    return stored is not None and (row.get("provenance") or {}).get("input_price") == GENAI_PRICES


@dataclass(frozen=True, slots=True)
class ScheduledPrice:
    """A dated list price seen for the first time by a sync (a `price_scheduled` event)."""

    provider: str
    model_id: str
    effective_from: datetime
    prices: list[dict[str, Any]]
    source: str


def record_scheduled(
    engine: Engine, prepared: Mapping[str, ProviderSources | ProviderOutcome], now: datetime, store: bool = True
) -> list[ScheduledPrice]:
    """Store the scheduled prices the catalogs announce; a newly seen one becomes a "price scheduled" report note.

    Returns the newly seen ones.
    """
    first_seen: list[ScheduledPrice] = []
    for sources in prepared.values():
        if not isinstance(sources, ProviderSources):
            continue
        provider = sources.spec.name
        with engine.begin() as conn:
            known = {
                (row.model_id, row.effective_from): row
                for row in conn.execute(
                    sa.select(price_schedule).where(
                        price_schedule.c.provider == provider, price_schedule.c.source == GENAI_PRICES
                    )
                )
            }
            announced: dict[str, set[datetime]] = {}
            for model_id, future in sorted(sources.scheduled.items()):
                if _priced_above_catalog(sources, model_id):
                    continue
                announced[model_id] = {begins for begins, _ in future}
                for begins, schedule in future:
                    row = known.get((model_id, begins))
                    if row is None:
                        sources.notes.append(
                            f"price scheduled: {provider}/{model_id} from {begins.date().isoformat()}: "
                            f"{_summary(schedule)} ({GENAI_PRICES})"
                        )
                        first_seen.append(ScheduledPrice(provider, model_id, begins, list(schedule), GENAI_PRICES))
                        if store:
                            conn.execute(
                                price_schedule.insert().values(
                                    provider=provider, model_id=model_id, effective_from=begins, prices=schedule,
                                    source=GENAI_PRICES, first_seen=now, updated_at=now,
                                )
                            )  # fmt: skip
                    elif row.prices != schedule and store:
                        sources.notes.append(
                            f"price schedule changed: {provider}/{model_id} from {begins.date().isoformat()}: "
                            f"{_summary(schedule)} ({GENAI_PRICES})"
                        )
                        conn.execute(
                            price_schedule.update()
                            .where(price_schedule.c.id == row.id)
                            .values(prices=schedule, updated_at=now)
                        )
            # A dated price the catalog no longer announces is withdrawn: never bill a price that will not come.
            listed = set(sources.model_ids)
            for (model_id, begins), row in known.items():
                if begins > now and model_id in listed and begins not in announced.get(model_id, ()):
                    sources.notes.append(f"price schedule withdrawn: {provider}/{model_id} from {begins.date()}")
                    if store:
                        conn.execute(price_schedule.delete().where(price_schedule.c.id == row.id))
    return first_seen


def _model_row(conn: Connection, provider: str, model_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            sa.select(ai_model).where(ai_model.c.provider == provider.lower(), ai_model.c.model_id == model_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFoundError(f"no model {provider}/{model_id}")
    return dict(row)


def _applied(entry: Mapping[str, Any], scheduled: Any) -> bool:
    """Whether an observed change is a sync applying a scheduled price that had started."""
    return bool(
        entry["source"] == "observed"
        and entry["prices"] == scheduled.prices
        and entry["effectiveFrom"] >= scheduled.effective_from
    )


def _entries(conn: Connection, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every known price period start, oldest first: observed changes and announced dates."""
    entries: list[dict[str, Any]] = []
    history = conn.execute(
        sa.select(model_change.c.changes, model_change.c.created_at)
        .where(model_change.c.model_pk == row["id"])
        .order_by(model_change.c.id)
    )
    for changes, created_at in history:
        moved = (changes or {}).get("prices")
        if not moved:
            continue
        new = moved[1]
        entries.append(
            {"effectiveFrom": created_at, "firstObserved": created_at, "source": "observed", "prices": new}
        )
    if not entries:
        # A row stored before its history began: its price is known from the time modelsync first saw it.
        entries.append(
            {"effectiveFrom": row["created_at"], "firstObserved": row["created_at"], "source": "observed",
             "prices": stored_schedule(row)}
        )  # fmt: skip
    if not _catalog_priced(row):
        # Another source (an override, the listing) sets this model's price: a catalog's dates are not its own.
        return _closed(entries)
    scheduled = conn.execute(
        sa.select(price_schedule)
        .where(price_schedule.c.provider == row["provider"], price_schedule.c.model_id == row["model_id"])
        .order_by(price_schedule.c.effective_from)
    )
    for item in scheduled:
        # A change the sync made because an announced price started is dated from its start, not from the sync.
        entries = [entries[0]] + [e for e in entries[1:] if not _applied(e, item)]
        entries.append(
            {"effectiveFrom": item.effective_from, "firstObserved": item.first_seen, "source": item.source,
             "prices": item.prices}
        )  # fmt: skip
    return _closed(entries)


def _closed(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort by start; each entry ends where the next begins."""
    entries.sort(key=lambda e: e["effectiveFrom"])
    for entry, after in zip(entries, [*entries[1:], None], strict=True):
        entry["effectiveTo"] = after["effectiveFrom"] if after is not None else None
    return entries


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _view(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "effectiveFrom": _iso(entry["effectiveFrom"]),
        "effectiveTo": _iso(entry["effectiveTo"]),
        "firstObserved": _iso(entry["firstObserved"]),
        "source": entry["source"],
        "prices": entry["prices"],
    }


def price_ledger(engine: Engine, provider: str, model_id: str, now: datetime) -> dict[str, Any]:
    """A model's past, current and scheduled prices, each with effective-from/to, source and first observed."""
    with engine.connect() as conn:
        row = _model_row(conn, provider, model_id)
        entries = _entries(conn, row)
    started = [e for e in entries if e["effectiveFrom"] <= now]
    current = started[-1] if started else None
    return {
        "provider": row["provider"],
        "model": row["model_id"],
        "past": [_view(e) for e in started[:-1]],
        "current": _view(current) if current is not None else None,
        "scheduled": [_view(e) for e in entries if e["effectiveFrom"] > now],
    }


def schedule_at(engine: Engine, provider: str, model_id: str, at: datetime) -> tuple[bool, list[dict[str, Any]] | None]:
    """(known, price components) of the list price in force at `at`; known is False before the first one."""
    with engine.connect() as conn:
        entries = _entries(conn, _model_row(conn, provider, model_id))
    started = [e for e in entries if e["effectiveFrom"] <= at]
    if not started:
        return False, None
    return True, started[-1]["prices"]


def price_call_at(
    engine: Engine, provider: str, model_id: str, usage: Mapping[str, int], batch: bool, at: datetime
) -> dict[str, Any]:
    """A cost breakdown (as `to_dict`, plus `at`) at the list price in force at `at`."""
    at = at.astimezone(UTC)
    known, schedule = schedule_at(engine, provider, model_id, at)
    breakdown = price_call(schedule, provider, model_id, usage, batch)
    data = breakdown.to_dict()
    if not known:
        data["notes"].append(f"{provider}/{model_id} has no recorded price at {at.isoformat()} (unpriced)")
    return {**data, "at": at.isoformat()}


# --- the change feed's scheduled prices ---------------------------------------------------------------------------

SCHEDULED: Final = "price_scheduled"
EFFECTIVE: Final = "price_effective"
FEED_KINDS: Final = (SCHEDULED, EFFECTIVE)


def _flat_diff(old: Sequence[Mapping[str, Any]] | None, new: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """The flat per-1M prices a scheduled change moves, as {JSON name: [old, new]} in exact decimal text."""
    before, after = pricing.priced_fields(old), pricing.priced_fields(new)  # type: ignore[arg-type]
    found: dict[str, Any] = {}
    for name in pricing.FLAT_UNITS:
        if before[name] != after[name]:
            found[json_name(name)] = [None if v is None else format(v, "f") for v in (before[name], after[name])]
    return found


def schedule_times(engine: Engine) -> list[datetime]:
    """Every time a scheduled price was first seen or takes effect, sorted (what the feed's events depend on)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(price_schedule.c.first_seen, price_schedule.c.effective_from)).all()
    return sorted(moment for row in rows for moment in row)


def feed_events(
    conn: Connection,
    after: datetime | None,
    until: datetime,
    providers: Sequence[str] = (),
    kinds: Sequence[str] = (),
) -> list[tuple[datetime, dict[str, Any]]]:
    """Scheduled prices as (time, change-feed entry) in (after, until]: when first seen, and when they take effect."""
    wanted = [kind for kind in FEED_KINDS if not kinds or kind in kinds]
    if not wanted:
        return []

    def inside(column: Any) -> Any:
        return column <= until if after is None else sa.and_(column > after, column <= until)

    query = (
        sa.select(price_schedule.c.provider, price_schedule.c.model_id)
        .where(sa.or_(inside(price_schedule.c.first_seen), inside(price_schedule.c.effective_from)))
        .distinct()
    )
    if providers:
        query = query.where(price_schedule.c.provider.in_(providers))
    found: list[tuple[datetime, dict[str, Any]]] = []
    for provider, model_id in conn.execute(query).all():
        row = (
            conn.execute(sa.select(ai_model).where(ai_model.c.provider == provider, ai_model.c.model_id == model_id))
            .mappings()
            .first()
        )
        if row is None:
            continue
        entries = _entries(conn, dict(row))
        # Derived from the ledger, not stored: an effective date passing needs no sync to be reported.
        for before, entry in zip([None, *entries[:-1]], entries, strict=True):
            if entry["source"] == "observed":
                continue
            old = before["prices"] if before is not None else None
            changes = {"prices": [old, entry["prices"]], **_flat_diff(old, entry["prices"])}
            for kind, at in ((SCHEDULED, entry["firstObserved"]), (EFFECTIVE, entry["effectiveFrom"])):
                if kind in wanted and (after is None or at > after) and at <= until:
                    event = {
                        "id": None, "runId": None, "provider": provider, "model": model_id, "kind": kind,
                        "changes": changes, "actor": None, "at": _iso(at),
                        "effectiveFrom": _iso(entry["effectiveFrom"]), "source": entry["source"],
                    }  # fmt: skip
                    found.append((at, event))
    found.sort(key=lambda item: (item[0], item[1]["provider"], item[1]["model"], item[1]["kind"]))
    return found
