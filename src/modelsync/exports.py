"""The catalog in other tools' formats: JSON (the API's record), CSV, LiteLLM's cost map and mongoimport's array.

Rules: every format is written from the API's camelCase record (services/views.py `model_view`), one model at a
time, to a text stream, so an export of any size holds one record in memory, never the whole document. Money
stays exact: JSON, CSV and mongo write it as decimal text (mongo as `$numberDecimal`); the LiteLLM map, whose
readers expect numbers, gets the per-1M price divided by 10^6 written as an exact JSON number (`2.5E-6`), never
through a float. An unknown price is left out (LiteLLM) or null, never 0; a model whose only prices are per unit
(per audio hour) has no per-token price to write. Pure: no I/O besides the stream it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import IO, Any, Final

import orjson

from modelsync.fieldspec import DERIVED, FIELDS, IDENTITY, FieldType

FORMATS: Final = ("json", "csv", "litellm", "mongo")

# The record's JSON names in the API's order: the columns of the CSV export.
CSV_COLUMNS: Final[tuple[str, ...]] = (
    *(field.json for field in IDENTITY if field.python_type is not datetime),
    *(field.json for field in FIELDS),
    *(field.json for field in DERIVED),
    *(field.json for field in IDENTITY if field.python_type is datetime),
)
_TIMESTAMPS: Final[frozenset[str]] = frozenset(
    {*(field.json for field in FIELDS if field.type is FieldType.TIMESTAMP), "lastVerified", "createdAt", "updatedAt"}
)
_MONEY: Final[frozenset[str]] = frozenset(
    {*(field.json for field in FIELDS if field.type is FieldType.MONEY), *(d.json for d in DERIVED if not d.flag)}
)

# Our kind -> LiteLLM's `mode` (audio is decided by the modalities: speech out, or transcription).
_MODES: Final = {
    "chat": "chat",
    "embedding": "embedding",
    "image": "image_generation",
    "video": "video_generation",
    "moderation": "moderation",
    "rerank": "rerank",
    "agent": "responses",
}
# Capability names -> LiteLLM's `supports_*` flags (the inverse of sources/litellm.py's reading).
_FLAGS: Final = {
    "vision": "supports_vision",
    "tools": "supports_function_calling",
    "json": "supports_response_schema",
    "reasoning": "supports_reasoning",
    "pdf": "supports_pdf_input",
    "web_search": "supports_web_search",
}
# Derived tri-state flags of the record that state a known `false` too.
_STATED: Final = {"supportsVision": "vision", "supportsTools": "tools", "supportsJSON": "json",
                  "supportsReasoning": "reasoning"}  # fmt: skip
_PER_TOKEN: Final = Decimal(10) ** 6


def _token_cost(per_million: str | None) -> Decimal | None:
    """USD per token from the record's USD per 1M tokens text; None when unknown."""
    return None if per_million is None else Decimal(per_million) / _PER_TOKEN


def _number(value: Decimal) -> str:
    """An exact JSON number for a Decimal (`2.5E-6`, `0`), never a float's approximation."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "E" if abs(value) < Decimal("0.0001") else "f")
    return text.replace("E-0", "E-").replace("E+", "E")


def _mode(view: Mapping[str, Any]) -> str | None:
    kind = view.get("kind")
    if kind == "audio":
        return "audio_speech" if "audio" in (view.get("outputModalities") or []) else "audio_transcription"
    return _MODES.get(kind or "")


def litellm_key(view: Mapping[str, Any], prefix: str) -> str:
    """The key LiteLLM names the model by: the provider's prefix and the exact API id."""
    return f"{prefix}{view['id']}"


def litellm_entry(view: Mapping[str, Any], litellm_provider: str) -> dict[str, Any]:
    """One record as a LiteLLM cost-map entry; Decimal values are written as exact JSON numbers."""
    entry: dict[str, Any] = {}
    for key, field in (
        ("input_cost_per_token", "inputCostPer1M"),
        ("output_cost_per_token", "outputCostPer1M"),
        ("cache_read_input_token_cost", "cacheReadCostPer1M"),
        ("cache_creation_input_token_cost", "cacheWriteCostPer1M"),
    ):
        cost = _token_cost(view.get(field))
        if cost is not None:
            entry[key] = cost
    for key, field in (("max_input_tokens", "contextWindow"), ("max_output_tokens", "maxOutputTokens")):
        if isinstance(view.get(field), int):
            entry[key] = view[field]
    entry["litellm_provider"] = litellm_provider
    mode = _mode(view)
    if mode is not None:
        entry["mode"] = mode
    for derived, name in _STATED.items():
        if view.get(derived) is False:
            entry[_FLAGS[name]] = False
    for name in view.get("capabilities") or []:
        if name in _FLAGS:
            entry[_FLAGS[name]] = True
    if "audio" in (view.get("inputModalities") or []):
        entry["supports_audio_input"] = True
    if "audio" in (view.get("outputModalities") or []):
        entry["supports_audio_output"] = True
    if view.get("cacheReadCostPer1M") is not None:
        entry["supports_prompt_caching"] = True
    if view.get("shutdownDate"):
        entry["deprecation_date"] = view["shutdownDate"]
    if view.get("replacementModel"):
        entry["successor_model"] = view["replacementModel"]
    return entry


def _decimal_dumps(value: dict[str, Any]) -> str:
    """Compact JSON of a flat entry whose Decimal values become exact JSON numbers."""
    parts = []
    for key, item in value.items():
        rendered = _number(item) if isinstance(item, Decimal) else orjson.dumps(item).decode()
        parts.append(f"{orjson.dumps(key).decode()}:{rendered}")
    return "{" + ",".join(parts) + "}"


def mongo_document(view: Mapping[str, Any]) -> dict[str, Any]:
    """One record as a MongoDB Extended JSON document: `_id` is `provider/id`, times `$date`, money `$numberDecimal`.

    The `_id` is deterministic, so importing again with `--mode upsert` replaces documents instead of adding copies;
    provenance keys name a capability as `capabilities:streaming` (no `.` in a field name).
    """
    document: dict[str, Any] = {"_id": f"{view['provider']}/{view['id']}"}
    for key, value in view.items():
        if value is not None and key in _TIMESTAMPS:
            document[key] = {"$date": value}
        elif value is not None and key in _MONEY:
            document[key] = {"$numberDecimal": value}
        elif isinstance(value, dict):
            # Older MongoDB servers and tools refuse a `.` in a field name (`capabilities.streaming`).
            document[key] = {name.replace(".", ":"): item for name, item in value.items()}
        else:
            document[key] = value
    return document


# Columns written as compact JSON: price components (where `[]`, free, must not read like unknown) and provenance.
_JSON_COLUMNS: Final[frozenset[str]] = frozenset(
    field.json for field in FIELDS if field.type in (FieldType.PRICES, FieldType.SOURCES)
)


def csv_cell(column: str, value: Any) -> str:
    """A record value as one CSV cell: "" unknown, names joined by `;`, prices and provenance as compact JSON."""
    if value is None:
        return ""
    if column in _JSON_COLUMNS:
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return str(value)


def _array(stream: IO[str], items: Iterable[str], progress: Callable[[int], None]) -> int:
    """Write `items` (JSON texts) as one JSON array, one per line; returns how many."""
    count = 0
    stream.write("[")
    for text in items:
        stream.write(",\n" if count else "\n")
        stream.write(text)
        count += 1
        progress(count)
    stream.write("\n]\n" if count else "]\n")
    return count


def _ignore(_: int) -> None:
    return None


def write_json(stream: IO[str], views: Iterable[Mapping[str, Any]], progress: Callable[[int], None] = _ignore) -> int:
    """Write the records as a JSON array of the API's camelCase records."""
    return _array(stream, (orjson.dumps(view).decode() for view in views), progress)


def write_mongo(stream: IO[str], views: Iterable[Mapping[str, Any]], progress: Callable[[int], None] = _ignore) -> int:
    """Write the records as the JSON array `mongoimport --jsonArray` loads."""
    return _array(stream, (orjson.dumps(mongo_document(view)).decode() for view in views), progress)


def write_csv(stream: IO[str], views: Iterable[Mapping[str, Any]], progress: Callable[[int], None] = _ignore) -> int:
    """Write the records as CSV: a header of JSON names, then one flat row per model."""
    import csv

    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for view in views:
        writer.writerow(csv_cell(column, view.get(column)) for column in CSV_COLUMNS)
        count += 1
        progress(count)
    return count


def write_litellm(
    stream: IO[str],
    views: Iterable[Mapping[str, Any]],
    names: Callable[[str], tuple[str, str]],
    progress: Callable[[int], None] = _ignore,
) -> int:
    """Write the records as LiteLLM's cost map; `names(provider)` gives its (litellm_provider, key prefix)."""
    count = 0
    seen: set[str] = set()
    stream.write("{")
    for view in views:
        litellm_provider, prefix = names(view["provider"])
        key = litellm_key(view, prefix)
        if key in seen:  # two providers may share a LiteLLM name; the first (by provider, id) keeps the key
            continue
        seen.add(key)
        stream.write(",\n" if count else "\n")
        stream.write(f"{orjson.dumps(key).decode()}: {_decimal_dumps(litellm_entry(view, litellm_provider))}")
        count += 1
        progress(count)
    stream.write("\n}\n" if count else "}\n")
    return count


# --- overrides file ---------------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    """One TOML value: prices and dates as strings (exact), names as arrays, flags and components inline."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(key)} = {_toml_value(item)}" for key, item in value.items()) + " }"
    if isinstance(value, Decimal):
        value = format(value, "f")
    # A JSON string is a valid TOML basic string (the same escapes), and keeps every character exact.
    return orjson.dumps(str(value)).decode()


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else orjson.dumps(key).decode()


def overrides_toml(entries: Iterable[Mapping[str, Any]]) -> str:
    """An overrides file with one `[[model]]` table per entry, in the given order."""
    lines = ["# modelsync overrides file, written by `modelsync import-overrides`.", ""]
    for entry in entries:
        lines.append("[[model]]")
        lines.extend(f"{_toml_key(key)} = {_toml_value(value)}" for key, value in entry.items() if value is not None)
        lines.append("")
    return "\n".join(lines)
