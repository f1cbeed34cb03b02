"""The field catalogue drives every field list: each stored field reaches the table, the API and its OpenAPI text,
`models show`, history and the overrides file, with no per-field code anywhere else."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

import dbread
from modelsync.api.app import create_app
from modelsync.api.schemas import ModelOut
from modelsync.db.tables import ai_model
from modelsync.fieldspec import (
    DERIVED,
    FIELDS,
    IDENTITY,
    LEGACY_PARAMS,
    OVERRIDE,
    OVERRIDE_FIELDS,
    FieldType,
    RecordField,
    filter_param,
)
from modelsync.services.query import FILTERS, SORTS
from modelsync.sources.overrides import parse_overrides


def sample(field: RecordField) -> Any:
    """A valid overrides-file value for a field (TOML-shaped)."""
    return {
        FieldType.TEXT: "2026-01-01" if field.name == "release_date" else f"the {field.label}",
        FieldType.CHOICE: field.choices[-1] if field.choices else "x",
        FieldType.COUNT: 4321,
        FieldType.MONEY: "1.5",
        FieldType.BOOL: True,
        FieldType.DATE: date(2027, 1, 1),
        FieldType.NAMES: ["text", "image"],
        FieldType.FLAGS: {"vision": True},
        FieldType.PRICES: [{"unit": "input_tokens", "usd": "1.5"}, {"unit": "images", "usd": "0.04"}],
    }[field.type]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | date):
        return str(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


# Every field an override may set except `deprecated` (which becomes status), on one custom model.
SETTABLE = [field for field in OVERRIDE_FIELDS if field.stored]


def test_every_stored_field_is_a_column_of_the_model_table():
    for field in FIELDS:
        assert field.name in ai_model.c, field.name
        assert ai_model.c[field.name].nullable == field.nullable, field.name


def test_the_api_model_has_every_field_with_its_description_in_openapi(settings, engine):
    schema = create_app(settings, engine).openapi()["components"]["schemas"]["ModelOut"]
    for field in (*FIELDS, *DERIVED, *IDENTITY):
        assert field.json in ModelOut.model_fields, field.json
        assert schema["properties"][field.json].get("description") == field.description, field.json
    assert set(schema["required"]) == set(ModelOut.model_fields)


def test_filters_and_sorts_use_the_fields_json_names_and_keep_the_old_names():
    for field in FIELDS:
        for kind in field.filters:
            assert filter_param(field, kind) in FILTERS
        if field.sortable:
            assert field.json in SORTS
    assert {"maxInputCostPer1M", "minContextWindow", "capabilities", "tags", "isAllowed"} <= set(FILTERS)
    assert set(LEGACY_PARAMS.values()) <= set(FILTERS)


def test_the_overrides_file_accepts_exactly_the_fields_an_override_may_set(tmp_path):
    allowed = {field.name for field in FIELDS if OVERRIDE in field.set_by}
    assert allowed == {field.name for field in SETTABLE}
    entry = {"provider": "openai", "id": "m", **{field.name: sample(field) for field in SETTABLE}}
    parsed = parse_overrides({"model": [entry]}, tmp_path / "o.toml", {"openai"})
    assert set(parsed.for_provider("openai")["m"].fields) == allowed
    from modelsync.errors import ConfigError

    for field in FIELDS:
        if OVERRIDE not in field.set_by:
            with pytest.raises(ConfigError, match=field.name):
                parse_overrides({"model": [{"provider": "openai", "id": "m", field.name: "x"}]}, None, {"openai"})


def test_an_overridden_field_reaches_the_api_history_and_models_show(api, cli, clean_env):
    lines = ["[[model]]", 'provider = "openai"', 'id = "team-everything"', "custom = true"]
    lines += [f"{field.name} = {toml_value(sample(field))}" for field in SETTABLE]
    (clean_env / "modelsync.overrides.toml").write_text("\n".join(lines) + "\n")
    assert cli("sync", "-p", "openai").code == 0

    with api.client("viewer") as viewer:
        model = viewer.get("/api/ai-models/openai/team-everything").json()
        history = viewer.get("/api/ai-models/openai/team-everything/history").json()
    created = history[0]["changes"]
    show = cli("models", "show", "openai/team-everything").out
    for field in SETTABLE:
        assert model[field.json] is not None, field.json
        key = f"{field.json}.vision" if field.type is FieldType.FLAGS else field.json  # flags: per name
        assert model["provenance"][key] == "overrides", key
        assert field.json in created, field.json
        assert field.label in show, field.label
    row = dbread.model_row(api.engine, "openai", "team-everything")
    assert row["description"] == "the description"
