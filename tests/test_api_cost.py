"""`POST /api/cost` over real HTTP, and the price index behind it."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

import dbread
from modelsync.db.engine import create_db_engine
from modelsync.db.tables import ai_model
from modelsync.errors import UsageError
from modelsync.services import catalog
from modelsync.services.prices import PriceIndex
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.services.versions import CatalogWatch

MILLION = Decimal(1_000_000)


def cost(client, **body):
    return client.post("/api/cost", json=body)


def test_cost_is_the_stored_prices_times_the_tokens(api):
    row = dbread.model_row(api.engine, "openai", "gpt-4o")
    with api.client("viewer") as client:
        response = cost(client, model="gpt-4o", inputTokens=120_000, outputTokens=3_500, cachedInputTokens=20_000)
    assert response.status_code == 200
    data = response.json()
    assert data["known"] is True and data["priced"] is True and data["provider"] == "openai"
    expected_input = row["input_price"] * 100_000 / MILLION
    expected_cached = row["cache_read_price"] * 20_000 / MILLION
    expected_output = row["output_price"] * 3_500 / MILLION
    assert Decimal(data["inputCost"]) == expected_input
    assert Decimal(data["cachedInputCost"]) == expected_cached
    assert Decimal(data["outputCost"]) == expected_output
    assert Decimal(data["totalCost"]) == expected_input + expected_cached + expected_output
    assert data["currency"] == "USD"


@pytest.mark.parametrize(
    ("body", "provider", "model_id"),
    [
        ({"model": "claude-3-5-sonnet-20241022"}, "anthropic", "claude-3-5-sonnet-20241022"),
        ({"model": "anthropic/claude-3-5-sonnet-20241022"}, "anthropic", "claude-3-5-sonnet-20241022"),
        ({"model": "claude-3-5-sonnet-20241022", "provider": "Anthropic"}, "anthropic", "claude-3-5-sonnet-20241022"),
        ({"model": "gpt-4o-2024-08-06"}, "openai", "gpt-4o-2024-08-06"),
    ],
)
def test_a_model_is_found_by_its_exact_reference(api, body, provider, model_id):
    with api.client("viewer") as client:
        data = cost(client, inputTokens=1_000_000, outputTokens=0, **body).json()
    assert (data["provider"], data["model"]) == (provider, model_id)
    assert Decimal(data["totalCost"]) == dbread.model_row(api.engine, provider, model_id)["input_price"]


@pytest.mark.parametrize("model", ["gpt-4o-2099-12-31", "GPT-4o", "gpt-4o-mini-x", "gpt-4o-", "openai/gpt-9", "x/y/z"])
def test_an_unknown_id_is_unpriced_never_zero_and_never_a_near_miss(api, model):
    with api.client("viewer") as client:
        response = cost(client, model=model, inputTokens=1000, outputTokens=1000)
    assert response.status_code == 200
    data = response.json()
    assert data["known"] is False and data["priced"] is False
    assert data["totalCost"] is None and data["inputCost"] is None and data["outputCost"] is None
    assert "unpriced" in data["notes"][0] and model in data["notes"][0]


def test_a_bare_id_two_providers_offer_is_a_422_naming_both(clean_env, synced, offline, api_factory):
    (clean_env / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "openai"\nid = "shared-model"\ncustom = true\ninput_price = "1"\noutput_price = "2"\n'
        '[[model]]\nprovider = "anthropic"\nid = "shared-model"\ncustom = true\ninput_price = "3"\noutput_price = "4"\n'
    )
    run_sync(synced, offline, SyncOptions(providers=["openai", "anthropic"], trigger="cli"))
    with api_factory(synced, offline) as api, api.client("viewer") as client:
        ambiguous = cost(client, model="shared-model", inputTokens=1, outputTokens=1)
        chosen = cost(client, model="shared-model", provider="anthropic", inputTokens=1_000_000, outputTokens=0)
    assert ambiguous.status_code == 422
    assert "anthropic, openai" in ambiguous.json()["error"]["message"]
    assert chosen.status_code == 200 and chosen.json()["totalCost"] == "3"


def test_a_model_without_a_price_is_unpriced_with_null_costs(clean_env, synced, offline, api_factory):
    (clean_env / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "openai"\nid = "mystery"\ncustom = true\n'
    )
    run_sync(synced, offline, SyncOptions(providers=["openai"], trigger="cli"))
    with api_factory(synced, offline) as api, api.client("viewer") as client:
        data = cost(client, model="openai/mystery", inputTokens=10, outputTokens=10).json()
        free = cost(client, model="openai/mystery", inputTokens=0, outputTokens=0).json()
    assert data["known"] is True and data["priced"] is False and data["totalCost"] is None
    assert free["priced"] is True and free["totalCost"] == "0"  # no tokens cost nothing, whatever the price


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "gpt-4o", "inputTokens": 10, "outputTokens": 1, "cachedInputTokens": 11}, "cached input"),
        ({"model": "gpt-4o", "inputTokens": -1, "outputTokens": 1}, "inputTokens"),
        ({"model": "gpt-4o", "inputTokens": "many", "outputTokens": 1}, "inputTokens"),
        ({"model": "gpt-4o", "inputTokens": 10**13, "outputTokens": 1}, "inputTokens"),
        ({"model": "", "inputTokens": 1, "outputTokens": 1}, "model"),
        ({"inputTokens": 1, "outputTokens": 1}, "model"),
        ({"model": "gpt-4o", "inputTokens": 1, "outputTokens": 1, "currency": "EUR"}, "currency"),
    ],
)
def test_bad_cost_requests_are_422_naming_the_field(api, body, fragment):
    with api.client("viewer") as client:
        response = client.post("/api/cost", json=body)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["error"]["message"]


def test_a_price_changed_on_another_replica_is_used_after_the_next_stamp_check(api):
    other_replica = create_db_engine(str(api.engine.url.render_as_string(hide_password=False)))
    try:
        with api.client("viewer") as client:
            before = cost(client, model="openai/gpt-4o", inputTokens=1_000_000, outputTokens=0).json()
            catalog.decide(other_replica, api.settings, "openai", "gpt-4o", {"input_price": Decimal("0.5")}, "ops")
            after = cost(client, model="openai/gpt-4o", inputTokens=1_000_000, outputTokens=0).json()
    finally:
        other_replica.dispose()
    assert before["totalCost"] == "2.5" and after["totalCost"] == "0.5"  # the test app checks its stamp every call


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_index_queries_the_database_only_when_the_stamp_interval_has_passed(synced, offline):
    clock = Clock()
    statements: list[str] = []
    sa.event.listen(
        synced, "before_cursor_execute", lambda *args: statements.append(args[2]) if "SELECT" in args[2] else None
    )
    index = PriceIndex(synced, CatalogWatch(synced, interval=1.0, clock=clock))
    assert index.lookup("gpt-4o").provider == "openai"
    loaded = len(statements)
    assert loaded >= 2  # the stamp, then the rows
    for _ in range(1000):
        index.lookup("gpt-4o")
        index.lookup("no-such-model")
    assert len(statements) == loaded  # warm look-ups never touch the database
    clock.now = 1.5
    index.lookup("gpt-4o")
    assert len(statements) == loaded + 1  # one stamp query; nothing moved, so no reload
    catalog.decide(synced, offline, "openai", "gpt-4o", {"input_price": Decimal("9")}, "ops")
    assert index.lookup("gpt-4o").prices["input_price"] == Decimal("2.5")  # within the interval: the old snapshot
    clock.now = 3.0
    assert index.lookup("gpt-4o").prices["input_price"] == Decimal("9")


def test_an_ambiguous_bare_id_in_the_index_is_a_usage_error(synced):
    row = dbread.one_row(synced, ai_model, model_id="gpt-4o")
    row.pop("id")
    with synced.begin() as conn:
        conn.execute(sa.insert(ai_model).values({**row, "provider": "azure"}))
    index = PriceIndex(synced)
    with pytest.raises(UsageError, match="azure, openai"):
        index.lookup("gpt-4o")
    assert index.lookup("gpt-4o", "azure").provider == "azure"


def test_the_answer_keeps_the_seed_fields_and_adds_lines_tiers_and_batch(api):
    with api.client("viewer") as client:
        long = cost(client, model="google/gemini-2.5-pro", inputTokens=500_000, outputTokens=10_000).json()
        batch = cost(client, model="google/gemini-2.5-pro", inputTokens=1_000, outputTokens=1_000, batch=True).json()
        searches = cost(client, model="google/gemini-2.5-pro", inputTokens=0, outputTokens=0, webSearches=2).json()
    assert long["totalCost"] == "1.4" and long["inputCost"] == "1.25" and long["outputCost"] == "0.15"
    assert [line["above"] for line in long["lines"]] == [200000, 200000] and long["unpriced"] == []
    assert batch["batch"] is True and all(line["batch"] for line in batch["lines"])
    assert Decimal(batch["totalCost"]) == Decimal("0.625") * 1000 / MILLION + Decimal(5) * 1000 / MILLION
    assert searches["totalCost"] == "0.07" and searches["lines"][0]["unit"] == "web_searches"


def test_a_quantity_the_model_has_no_price_for_is_unpriced_never_zero(api):
    with api.client("viewer") as client:
        data = cost(client, model="openai/gpt-4o", inputTokens=10, outputTokens=10, images=3).json()
        unknown = client.post("/api/cost", json={"model": "gpt-4o", "inputTokens": 1, "outputTokens": 1, "pixels": 1})
    assert data["priced"] is False and data["totalCost"] is None and data["unpriced"] == ["images"]
    assert data["inputCost"] is not None and "images" in data["notes"][-1]
    assert unknown.status_code == 422 and "pixels" in unknown.json()["error"]["message"]


def test_an_admin_sets_price_components_through_patch(api):
    components = [{"unit": "input_tokens", "usd": "1"}, {"unit": "input_tokens", "usd": "3", "above": 100000}]
    with api.client("admin") as admin:
        response = admin.patch("/api/admin/ai-models/openai/gpt-4o", json={"prices": components})
        assert response.status_code == 200, response.text
        model = response.json()["model"]
        bad = admin.patch("/api/admin/ai-models/openai/gpt-4o", json={"prices": [{"unit": "parsecs", "usd": "1"}]})
    assert model["inputCostPer1M"] == "1" and model["provenance"]["inputCostPer1M"] == "manual"
    inputs = [item for item in model["prices"] if item["unit"] == "input_tokens" and not item.get("batch")]
    assert inputs == [{**item, "source": "manual"} for item in components]
    assert bad.status_code == 422 and "parsecs" in bad.json()["error"]["message"]
    with api.client("viewer") as client:
        data = cost(client, model="openai/gpt-4o", inputTokens=200_000, outputTokens=0).json()
    assert data["totalCost"] == "0.6"
