"""Issue 9 items 1-2 over the fixture listings of all 12 providers: price components stored with their sources,
long-context tiers, explicit free, per-unit prices never free or 0, and the cost of long prompts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

import dbread
from fake_provider import LIVE_CONFIG, FakeProviders
from modelsync.services import catalog
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings


@pytest.fixture
def rows(live_env: FakeProviders, engine: Engine, clean_env: Path) -> dict[str, dict]:
    """Every provider's fixture listing synced; the stored rows by `provider/model_id`."""
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    report = run_sync(engine, load_settings(), SyncOptions())
    assert [outcome.status for outcome in report.outcomes] == ["ok"] * 12
    return dbread.models_by_ref(engine)


# The examples: 500k input + 10k output tokens, as genai-prices prices them (the whole request at the tier
# its prompt reaches). OpenRouter's and xAI's come from their live listings, with genai-prices' tiers kept.
LONG_PROMPTS = [
    ("google/gemini-2.5-pro", "1.4"),
    ("openrouter/anthropic/claude-sonnet-4.5", "3.225"),
    ("xai/grok-4.3", "1.3"),
    ("openai/gpt-5.4", "2.725"),
]


def test_long_prompts_cost_what_the_tiers_say(rows, engine):
    for ref, expected in LONG_PROMPTS:
        breakdown = catalog.cost(engine, ref, 500_000, 10_000)
        assert breakdown.total_cost == Decimal(expected), (ref, breakdown.to_dict())
        assert all(line["above"] for line in breakdown.to_dict()["lines"]), ref
        short = catalog.cost(engine, ref, 100_000, 10_000).to_dict()
        assert not any("above" in line for line in short["lines"]), ref


def test_the_openrouter_listing_keeps_its_base_and_takes_the_catalogs_tiers(rows):
    row = rows["openrouter/anthropic/claude-sonnet-4.5"]
    base = [item for item in row["prices"] if item["unit"] == "input_tokens" and not item.get("batch")]
    assert {(item["usd"], item.get("above"), item["source"]) for item in base} >= {("3", None, "openrouter")}
    assert any(item.get("above") == 200000 and item["usd"] == "6" for item in base)
    assert row["input_price"] == Decimal(3) and row["provenance"]["input_price"] == "openrouter"


def test_gemma_4_on_the_gemini_api_is_stored_free_with_its_source(rows):
    for model_id in ("gemma-4-31b-it", "gemma-4-26b-a4b-it"):
        row = rows[f"google/{model_id}"]
        assert row["prices"] == [] and row["provenance"]["prices"] == "genai-prices"
        assert row["tier"] == "free" and row["input_price"] == 0 and row["output_price"] == 0


def test_groq_whisper_is_priced_per_audio_hour_never_free_and_never_0_per_token(rows, engine):
    for model_id in ("whisper-large-v3", "whisper-large-v3-turbo"):
        row = rows[f"groq/{model_id}"]
        units = {item["unit"] for item in row["prices"]}
        assert "audio_hours" in units and not any(unit.endswith("_tokens") for unit in units)
        assert row["tier"] is None and row["input_price"] is None and row["output_price"] is None
    hour = catalog.cost(engine, "groq/whisper-large-v3", 0, 0, usage={"audioSeconds": 3600}).to_dict()
    assert hour["priced"] and hour["totalCost"] == "0.111"


def test_no_model_a_source_prices_per_unit_is_stored_free(rows):
    for ref, row in rows.items():
        schedule = row["prices"] or ()
        if any(not item["unit"].endswith("_tokens") and item["usd"] != "0" for item in schedule):
            assert row["tier"] != "free", ref
    orpheus = rows["groq/canopylabs/orpheus-v1-english"]
    assert [item["unit"] for item in orpheus["prices"]] == ["input_characters"] and orpheus["tier"] is None


def test_a_per_unit_only_model_reports_its_tokens_unpriced(rows, engine):
    data = catalog.cost(engine, "groq/whisper-large-v3", 1000, 10, usage={"audioSeconds": 60}).to_dict()
    assert data["priced"] is False and data["totalCost"] is None
    assert data["unpriced"] == ["inputTokens", "outputTokens"]
    assert [line["unit"] for line in data["lines"]] == ["audio_hours"]
    assert "unpriced" in data["notes"][-1] and "inputTokens" in data["notes"][-1]


def test_an_admin_price_is_a_component_of_its_own_and_drops_tiers_of_another_base(rows, engine):
    catalog.decide(engine, load_settings(), "google", "gemini-2.5-pro", {"input_price": Decimal("2")}, "ops")
    row = dbread.model_row(engine, "google", "gemini-2.5-pro")
    inputs = [item for item in row["prices"] if item["unit"] == "input_tokens" and not item.get("batch")]
    assert inputs == [{"unit": "input_tokens", "usd": "2", "source": "manual"}]
    assert row["provenance"]["input_price"] == "manual" and row["input_price"] == Decimal(2)
    # Output keeps genai-prices' base and tier.
    assert catalog.cost(engine, "google/gemini-2.5-pro", 500_000, 10_000).total_cost == Decimal("1.15")
