"""Read the catalog for an export one chunk at a time, and turn records or a file into a checked overrides file.

Rules: an export reads the stored models in (provider, id) order through a streamed cursor, rendering each as the
API's record, so memory holds one chunk of rows, never the catalog. An import accepts an overrides file (TOML) or
a JSON export (an array of records), checks it with the overrides file's own rules (sources/overrides.py) and
compares each entry with the stored model, field by field, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db.tables import ai_model, provider_state
from modelsync.errors import ConfigError, UsageError
from modelsync.fieldspec import DEPRECATED, OVERRIDE_FIELDS, FieldType
from modelsync.services.catalog import models_query
from modelsync.services.views import model_view
from modelsync.settings import DEFAULT_OVERRIDES_FILE, Settings, read_toml
from modelsync.sources.overrides import Overrides, parse_overrides

_CHUNK = 500


def count_models(engine: Engine, provider: str | None = None, status: str | None = None) -> int:
    """How many models an export with these filters writes."""
    query = sa.select(sa.func.count()).select_from(models_query(provider, status).order_by(None).subquery())
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def iter_models(engine: Engine, provider: str | None = None, status: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield stored models in the API's shape, by provider and id, fetched `_CHUNK` rows at a time."""
    with engine.connect() as conn:
        states = conn.execute(sa.select(provider_state.c.provider, provider_state.c.verified_at))
        verified = {name: at for name, at in states}
        result = conn.execution_options(yield_per=_CHUNK).execute(models_query(provider, status))
        for row in result.mappings():
            yield model_view(dict(row), verified.get(row["provider"]))


# --- import ------------------------------------------------------------------------------------------------------

_BY_JSON = {field.json: field for field in OVERRIDE_FIELDS if field is not DEPRECATED}


def entry_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """An overrides file entry holding every value a JSON export's record states that an override may set."""
    if not isinstance(record, dict) or "provider" not in record or "id" not in record:
        raise ConfigError("a JSON import must be an array of records, each with `provider` and `id`.")
    entry: dict[str, Any] = {"provider": record["provider"], "id": record["id"]}
    for key, field in _BY_JSON.items():
        value = record.get(key)
        if value is None or (field.type is FieldType.NAMES and value == []):
            continue
        if field.type is FieldType.FLAGS:
            value = {name: True for name in value} if isinstance(value, list) else value
            if not value:
                continue
        if field.type is FieldType.PRICES:
            value = [{k: v for k, v in item.items() if k != "source"} for item in value]
        entry[field.name] = value
    if record.get("status") == "deprecated":
        entry[DEPRECATED.name] = True
    return entry


def read_import(path: Path) -> dict[str, Any]:
    """The overrides document in a file: TOML as it is, a JSON export turned into `[[model]]` entries."""
    if not path.is_file():
        raise UsageError(f"{path} does not exist.")
    if path.suffix.lower() == ".json":
        try:
            records = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not JSON ({exc}).") from exc
        if not isinstance(records, list):
            raise ConfigError(f"{path}: a JSON import must be an array of records (`modelsync export --format json`).")
        return {"model": [entry_from_record(record) for record in records]}
    return read_toml(path)


def check_import(settings: Settings, path: Path) -> tuple[dict[str, Any], Overrides]:
    """Read and validate an import; a bad entry raises ConfigError naming it (exit 4)."""
    document = read_import(path)
    return document, parse_overrides(document, path, set(settings.registry))


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items() if key != "source"}
    return value


def preview(engine: Engine, overrides: Overrides) -> list[dict[str, Any]]:
    """Each field an override sets to a value other than the stored one: provider, id, field, stored, new."""
    from modelsync.records import money

    found: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for provider, records in sorted(overrides.by_provider.items()):
            for model_id, record in sorted(records.items()):
                row = conn.execute(
                    sa.select(ai_model).where(ai_model.c.provider == provider, ai_model.c.model_id == model_id)
                ).mappings().first()
                for name, value in sorted(record.fields.items()):
                    if name == DEPRECATED.name:
                        stored: Any = None if row is None else row["status"] == "deprecated"
                    else:
                        stored = None if row is None else row[name]
                    if name in {field.name for field in OVERRIDE_FIELDS if field.type is FieldType.MONEY}:
                        stored = money(stored)
                    if isinstance(stored, dict) and isinstance(value, dict):
                        stored = {key: flag for key, flag in stored.items() if key in value}
                    if _comparable(stored) != _comparable(value):
                        found.append(
                            {"provider": provider, "id": model_id, "field": name, "stored": stored, "new": value,
                             "known": row is not None}
                        )
    return found


def target_path(settings: Settings) -> Path:
    """Where the overrides file is written: the configured file, else ./modelsync.overrides.toml."""
    return settings.overrides_file or Path(DEFAULT_OVERRIDES_FILE)
