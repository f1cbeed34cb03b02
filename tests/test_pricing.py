"""Price components and cost, pure: how sources' prices merge, and what a request costs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from modelsync.cost import price_usage
from modelsync.errors import UsageError
from modelsync.pricing import check_schedule, component, merge
from modelsync.records import SourceRecord
from modelsync.sync.merge import Layer, merge_model


def c(unit: str, usd: str, source: str, above: int | None = None, batch: bool = False) -> dict:
    return component(unit, usd, source, above, batch)


def test_each_units_base_from_the_highest_source_and_tiers_only_from_a_source_agreeing_on_the_base():
    listing = [c("input_tokens", "3", "openrouter"), c("output_tokens", "15", "openrouter")]
    catalog = [c("input_tokens", "3", "gp"), c("input_tokens", "6", "gp", 200000), c("output_tokens", "15", "gp"),
               c("output_tokens", "22.5", "gp", 200000), c("cache_read_tokens", "0.3", "gp")]  # fmt: skip
    other = [c("input_tokens", "2", "md"), c("input_tokens", "9", "md", 100000)]
    schedule, first = merge([("openrouter", listing), ("gp", catalog), ("md", other)])
    assert first == "openrouter"
    assert {(item["unit"], item["usd"], item.get("above"), item["source"]) for item in schedule} == {
        ("input_tokens", "3", None, "openrouter"),
        ("input_tokens", "6", 200000, "gp"),
        ("output_tokens", "15", None, "openrouter"),
        ("output_tokens", "22.5", 200000, "gp"),
        ("cache_read_tokens", "0.3", None, "gp"),
    }


def test_a_zero_per_token_price_does_not_stand_against_another_sources_price():
    zero = [c("input_tokens", "0", "md"), c("output_tokens", "0", "md")]
    hourly = [c("audio_hours", "0.111", "gp")]
    schedule, first = merge([("gp", hourly), ("md", zero)])
    assert schedule == hourly and first == "gp"
    assert merge([("md", zero)])[0] == zero  # alone, a source's 0/0 is its word: free


def test_a_per_unit_only_source_is_not_contradicted_by_a_lower_per_token_price():
    characters = [c("input_characters", "40", "gp")]
    tokens = [c("input_tokens", "40", "md"), c("output_tokens", "0", "md")]
    assert merge([("gp", characters), ("md", tokens)])[0] == characters


def test_explicit_free_wins_below_nothing_and_ends_the_schedule():
    assert merge([("gp", []), ("md", [c("input_tokens", "0.1", "md")])]) == ([], "gp")
    override = [c("input_tokens", "1", "overrides")]
    assert merge([("overrides", override), ("gp", []), ("md", [c("output_tokens", "2", "md")])])[0] == override
    assert merge([("gp", None), ("md", None)]) == (None, None)


def test_a_cache_read_price_above_the_input_price_is_dropped():
    schedule, _ = merge([("gp", [c("input_tokens", "0.5", "gp")]), ("md", [c("cache_read_tokens", "1.25", "md")])])
    assert [item["unit"] for item in schedule] == ["input_tokens"]


def test_a_flat_override_replaces_the_base_and_drops_tiers_of_another_base():
    catalog = [c("input_tokens", "2.5", "gp"), c("input_tokens", "5", "gp", 200000), c("output_tokens", "10", "gp")]
    layers = [
        Layer("overrides", {"m": SourceRecord("m", {"input_price": Decimal("1.75")})}),
        Layer("gp", {"m": SourceRecord("m", {"prices": catalog})}),
    ]
    record = merge_model("openai", "m", layers)
    inputs = [item for item in record.values["prices"] if item["unit"] == "input_tokens"]
    assert [(item["usd"], item.get("above"), item["source"]) for item in inputs] == [("1.75", None, "overrides")]
    assert record.values["input_price"] == Decimal("1.75") and record.values["provenance"]["input_price"] == "overrides"
    assert record.values["output_price"] == 10 and record.values["provenance"]["output_price"] == "gp"


def test_a_per_unit_only_model_has_no_flat_token_price():
    layers = [Layer("gp", {"m": SourceRecord("m", {"prices": [c("audio_hours", "0.04", "gp")]})})]
    values = merge_model("groq", "m", layers).values
    assert values.get("input_price") is None and values.get("output_price") is None and values["prices"]


SCHEDULE = [
    c("input_tokens", "2", "s"), c("input_tokens", "4", "s", 200000), c("input_tokens", "1", "s", batch=True),
    c("output_tokens", "10", "s"), c("output_tokens", "15", "s", 200000), c("cache_read_tokens", "0.2", "s"),
    c("requests", "5", "s"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("usage", "batch", "total"),
    [
        ({"inputTokens": 200_000, "outputTokens": 0}, False, "0.405"),  # exactly at the threshold: base price
        ({"inputTokens": 200_001, "outputTokens": 0}, False, "0.805004"),  # above it: the whole request at the tier
        ({"inputTokens": 1_000_000, "outputTokens": 0, "cachedInputTokens": 500_000}, False, "2.105"),
        ({"inputTokens": 1_000, "outputTokens": 1_000}, True, "0.016"),  # batch input; output has no batch price
        ({"inputTokens": 0, "outputTokens": 0, "requests": 3}, False, "0.015"),
    ],
)
def test_cost_applies_tiers_cache_batch_and_per_unit_prices(usage, batch, total):
    assert price_usage(SCHEDULE, usage, batch).total == Decimal(total)


def test_cached_tokens_without_a_cache_price_cost_the_input_price_with_a_note():
    cost = price_usage([c("input_tokens", "2", "s")], {"inputTokens": 1_000_000, "cachedInputTokens": 400_000})
    assert cost.total == 2 and "cache read" in cost.notes[0]


def test_usage_a_model_has_no_price_for_is_unpriced_and_a_free_model_costs_nothing():
    cost = price_usage([c("audio_hours", "0.36", "s")], {"inputTokens": 10, "audioSeconds": 60})
    assert cost.total is None and cost.unpriced == ("inputTokens",) and cost.lines[0].cost == Decimal("0.006")
    assert price_usage(None, {"inputTokens": 1}).unpriced == ("inputTokens",)
    assert price_usage([], {"inputTokens": 10**6, "images": 4}).total == 0


def test_inconsistent_usage_and_bad_components_are_refused():
    with pytest.raises(UsageError, match="cachedInputTokens"):
        price_usage(SCHEDULE, {"inputTokens": 1, "cachedInputTokens": 2})
    with pytest.raises(UsageError, match="unknown usage"):
        price_usage(SCHEDULE, {"tokens": 1})
    bad_schedules = (
        [{"unit": "parsecs", "usd": "1", "source": "s"}],
        [{"unit": "images", "usd": "-1", "source": "s"}],
        [{"unit": "images", "usd": "1"}],
        "free",
        [{"unit": "images", "usd": "1", "source": "s", "x": 1}],
    )
    for bad in bad_schedules:
        with pytest.raises(ValueError):
            check_schedule(bad)


def test_an_overrides_file_component_with_a_bad_amount_stops_the_sync(tmp_path):
    from modelsync.errors import ConfigError
    from modelsync.sources.overrides import parse_overrides

    entry = {"provider": "openai", "id": "m", "prices": [{"unit": "input_tokens", "usd": "-1"}]}
    with pytest.raises(ConfigError, match="prices"):
        parse_overrides({"model": [entry]}, tmp_path / "o.toml", {"openai"})
    entry["prices"] = [{"unit": "images", "usd": "0.04", "source": "someone"}]
    parsed = parse_overrides({"model": [entry]}, tmp_path / "o.toml", {"openai"})
    prices = parsed.for_provider("openai")["m"].fields["prices"]
    assert prices == [{"unit": "images", "usd": "0.04", "source": "overrides"}]
