"""The quarantine: the pure judge, and syncs through the fake providers (Together's listing, LiteLLM's map served
locally, the overrides file) on SQLite and PostgreSQL, with approvals and rejections through the CLI and the API."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import dbread
import test_litellm
from fake_provider import FakeProviders
from modelsync.db.tables import quarantine as quarantine_table
from modelsync.errors import ConfigError, StateConflictError
from modelsync.services import catalog
from modelsync.services import quarantine as service
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings
from modelsync.sync import quarantine as q

clean_activation, feed, live = test_litellm.clean_activation, test_litellm.feed, test_litellm.live

LIMITS = q.Limits()
TOLERANCE = Decimal("0.01")
MODEL = "MiniMaxAI/MiniMax-M2.7"  # Together lists it at 0.3/1.2; models.dev and LiteLLM agree on 0.3 input
OTHER = "Qwen/Qwen3-Coder-Next-FP8"  # 0.5 input, context 262,144
BIG = "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8"  # 2 input, context 262,144


def part(unit: str, usd: str, source: str = "x", **extra: Any) -> dict[str, Any]:
    return {"unit": unit, "usd": usd, "source": source, **extra}


def stored(schedule: list[dict[str, Any]] | None, context: int | None = None, **provenance: str) -> dict[str, Any]:
    row: dict[str, Any] = {"prices": schedule, "context_window": context, "provenance": dict(provenance)}
    for name, (amount, _) in q.pricing.flat_prices(schedule).items() if schedule else ():
        row[name] = amount
    return row


def values(schedule: list[dict[str, Any]] | None, context: int | None = None, **provenance: str) -> dict[str, Any]:
    return stored(schedule, context, **provenance)


# --- the pure judge --------------------------------------------------------------------------------------------------


def test_a_price_moving_by_more_than_the_factor_either_way_is_suspicious_and_a_small_move_is_not():
    old = stored([part("input_tokens", "1"), part("output_tokens", "4")])
    found = q.judge(old, values([part("input_tokens", "10", "overrides"), part("output_tokens", "5")]), LIMITS)
    assert [(s.field, s.old, s.new, s.rule, s.factor, s.source) for s in found] == [
        ("input_price", "1", "10", "factor", "10", "overrides")
    ]
    assert found[0].proposal == part("input_tokens", "10", "overrides")
    # Exactly x3 is not "more than" x3; /4 is.
    assert q.judge(old, values([part("input_tokens", "3"), part("output_tokens", "4")]), LIMITS) == []
    down = q.judge(old, values([part("input_tokens", "0.25"), part("output_tokens", "4")]), LIMITS)
    assert [(s.field, s.rule, s.factor) for s in down] == [("input_price", "factor", "4")]
    # The factor is a setting.
    assert q.judge(old, values([part("input_tokens", "2.5"), part("output_tokens", "4")]), q.Limits(Decimal(2))) != []


def test_components_other_than_the_flat_prices_are_judged_under_their_own_names():
    old = stored([part("input_tokens", "1"), part("input_tokens", "2", above=200000), part("images", "0.04"),
                  part("input_tokens", "0.5", batch=True)])  # fmt: skip
    new = values([part("input_tokens", "1"), part("input_tokens", "20", above=200000), part("images", "0.4"),
                   part("input_tokens", "0.5", batch=True)])  # fmt: skip
    fields = {s.field for s in q.judge(old, new, LIMITS)}
    assert fields == {"prices.input_tokens.above_200000", "prices.images"}
    for name in (*fields, "prices.input_tokens.batch", "cache_read_price"):
        key = q.key_of(name)
        assert key is not None and q.field_of(key) == name
    assert q.key_of("context_window") is None and q.key_of("prices") is None


def test_free_and_priced_are_suspicious_and_a_new_price_where_none_was_known_is_not():
    paid = stored([part("input_tokens", "1"), part("output_tokens", "2")])
    [free] = q.judge(paid, values([]), LIMITS)
    assert (free.field, free.old, free.new, free.rule) == ("prices", paid["prices"], [], "free")
    [priced] = q.judge(stored([]), values([part("input_tokens", "1")]), LIMITS)
    assert (priced.field, priced.rule, priced.proposal) == ("prices", "priced", [part("input_tokens", "1")])
    zero = stored([part("input_tokens", "0"), part("output_tokens", "0")])
    assert {s.rule for s in q.judge(zero, values([part("input_tokens", "1"), part("output_tokens", "0")]), LIMITS)} == {
        "priced"
    }
    # Unknown before: nothing to compare with.
    assert q.judge(stored(None), values([part("input_tokens", "1")]), LIMITS) == []
    assert q.judge(paid, values(None), LIMITS) == []


def test_a_price_above_the_maximum_is_suspicious_even_for_a_new_model_which_is_judged_by_nothing_else():
    found = q.judge(None, values([part("input_tokens", "1500"), part("output_tokens", "3")]), LIMITS)
    assert [(s.field, s.old, s.new, s.rule) for s in found] == [("input_price", None, "1500", "max_price")]
    assert q.judge(None, values([part("input_tokens", "999"), part("images", "5000")]), LIMITS) == []
    # A price already above the maximum that does not move is not a change.
    high = stored([part("input_tokens", "1500")])
    assert q.judge(high, values([part("input_tokens", "1500")]), LIMITS) == []
    assert q.judge(high, values([part("input_tokens", "1600")]), LIMITS)[0].rule == "max_price"


def test_a_token_price_appearing_on_a_model_priced_per_image_is_suspicious():
    old = stored([part("images", "0.04")])
    [found] = q.judge(old, values([part("images", "0.04"), part("input_tokens", "5")]), LIMITS)
    assert (found.field, found.old, found.new, found.rule) == ("input_price", None, "5", "unit_change")
    # A model already priced per token may gain another token price (a cache price) unjudged.
    tokens = stored([part("input_tokens", "1")])
    assert q.judge(tokens, values([part("input_tokens", "1"), part("cache_read_tokens", "0.1")]), LIMITS) == []


def test_a_context_window_shrinking_by_more_than_half_is_suspicious():
    old = stored(None, 128000, context_window="openai")
    [found] = q.judge(old, values(None, 60000, context_window="models-dev"), LIMITS)
    assert (found.field, found.old, found.new, found.rule, found.source) == (
        "context_window", 128000, 60000, "context_shrink", "models-dev")  # fmt: skip
    assert q.judge(old, values(None, 64000), LIMITS) == []  # exactly half
    assert q.judge(old, values(None, 1000000), LIMITS) == []  # growing is fine


def test_an_admin_decision_is_never_judged():
    old = stored([part("input_tokens", "1")], 128000)
    new = values([part("input_tokens", "100", "manual")], 1000, context_window="manual")
    assert q.judge(old, new, LIMITS) == []


def test_holding_keeps_the_stored_value_of_held_fields_and_applies_the_rest():
    old = stored([part("input_tokens", "1", "openai"), part("output_tokens", "4", "openai")], 128000,
                 context_window="openai", prices="openai")  # fmt: skip
    new = values([part("input_tokens", "10", "overrides"), part("output_tokens", "5", "openai")], 1000,
                 context_window="overrides", prices="overrides")  # fmt: skip
    held = q.judge(old, new, LIMITS)
    assert {s.field for s in held} == {"input_price", "context_window"}
    q.hold(new, old, held)
    assert new["prices"] == [part("input_tokens", "1", "openai"), part("output_tokens", "5", "openai")]
    assert (new["input_price"], new["output_price"]) == (Decimal(1), Decimal(5))
    assert new["provenance"]["input_price"] == "openai" and new["context_window"] == 128000
    assert new["provenance"]["context_window"] == "openai"
    # The merge drops a cache price above a proposed input price: with the input held, the stored cache price stays.
    cached = stored([part("input_tokens", "1", "a"), part("cache_read_tokens", "0.5", "a")], prices="a")
    cheaper = values([part("input_tokens", "0.1", "overrides")], prices="overrides")
    q.hold(cheaper, cached, q.judge(cached, cheaper, LIMITS))
    assert cheaper["prices"] == cached["prices"] and cheaper["provenance"]["prices"] == "a"
    # Holding every component of a new model leaves it unpriced, never free.
    fresh = values([part("input_tokens", "5000")])
    q.hold(fresh, None, q.judge(None, fresh, LIMITS))
    assert fresh.get("prices") is None and fresh.get("input_price") is None
    # Approving puts the proposal back the way the sync would have written it.
    q.apply(old, "input_price", part("input_tokens", "10", "overrides"), "overrides", "overrides")
    assert old["input_price"] == Decimal(10) and old["provenance"]["input_price"] == "overrides"
    with pytest.raises(ValueError, match="not a quarantine field"):
        q.apply(old, "tier", None, None, None)


def _suspect(new: str = "10", field: str = "input_price") -> q.Suspect:
    return q.Suspect(field, "1", new, "factor", "overrides", part("input_tokens", new), "10")


def test_settling_keeps_supersedes_withdraws_and_a_rejection_holds_silently():
    entry = q.Open(7, "input_price", "10", q.PENDING)
    fresh = q.settle([_suspect()], {}, {}, None, TOLERANCE)
    assert [s.field for s in fresh.held] == ["input_price"] and fresh.opened == [(_suspect(), q.PENDING)]
    kept = q.settle([_suspect()], {"input_price": entry}, {}, None, TOLERANCE)
    assert kept.opened == [] and kept.closed == [] and len(kept.waiting) == 1
    moved = q.settle([_suspect("20")], {"input_price": entry}, {}, None, TOLERANCE)
    assert moved.closed == [(7, q.SUPERSEDED)] and moved.opened == [(_suspect("20"), q.PENDING)]
    gone = q.settle([], {"input_price": entry}, {}, None, TOLERANCE)
    assert gone.closed == [(7, q.WITHDRAWN)] and gone.held == []
    refused = {"input_price": q.Open(3, "input_price", "10", q.REJECTED)}
    silent = q.settle([_suspect()], {}, refused, None, TOLERANCE)
    assert len(silent.held) == 1 and silent.waiting == [] and silent.opened == []
    other = q.settle([_suspect("20")], {}, refused, None, TOLERANCE)
    assert other.opened == [(_suspect("20"), q.PENDING)]


def test_a_pending_proposal_the_sources_still_make_stays_held_though_the_rules_would_pass_it_now():
    # Once a confirmed token price makes a per-image model a per-token one, its other new token price is no
    # longer a unit change; its entry still waits for an admin.
    old = stored([part("images", "0.04"), part("output_tokens", "1.2")])
    new = values([part("images", "0.04"), part("input_tokens", "5", "overrides"), part("output_tokens", "1.2")])
    assert q.judge(old, new, LIMITS) == []
    entry = q.Open(4, "input_price", "5", q.PENDING, "unit_change")
    [kept] = q.judge(old, new, LIMITS, {"input_price": entry})
    assert (kept.field, kept.old, kept.new, kept.rule, kept.source) == ("input_price", None, "5", "unit_change",
                                                                        "overrides")  # fmt: skip
    assert kept.proposal == part("input_tokens", "5", "overrides")
    # Another value, or the stored one, is not kept.
    assert q.judge(old, new, LIMITS, {"input_price": q.Open(4, "input_price", "6", q.PENDING, "x")}) == []
    assert q.judge(new, new, LIMITS, {"input_price": entry}) == []


def test_two_independent_sources_agreeing_confirm_a_proposal_and_an_override_is_not_a_source():
    entry = q.Open(7, "input_price", "10", q.PENDING)
    agreeing = {"input_price": {"overrides": "10", "openai": "10", "litellm": "10.05", "models-dev": "1"}}
    done = q.settle([_suspect()], {"input_price": entry}, {}, agreeing, TOLERANCE)
    assert done.held == [] and done.closed == [(7, q.CONFIRMED)]
    first_sight = q.settle([_suspect()], {}, {}, agreeing, TOLERANCE)
    assert first_sight.held == [] and first_sight.opened == [(_suspect(), q.CONFIRMED)]
    alone = {"input_price": {"overrides": "10", "manual": "10", "openai": "10", "litellm": "1"}}
    assert q.settle([_suspect()], {}, {}, alone, TOLERANCE).held == [_suspect()]
    # An admin's rejection outranks the sources.
    refused = {"input_price": q.Open(3, "input_price", "10", q.REJECTED)}
    assert q.settle([_suspect()], {}, refused, agreeing, TOLERANCE).held == [_suspect()]


# --- syncs -----------------------------------------------------------------------------------------------------------


def sync(engine: Engine, *providers: str, dry_run: bool = False, recompute: bool = False) -> Any:
    report = run_sync(engine, load_settings(), SyncOptions(providers=providers, dry_run=dry_run, recompute=recompute))
    assert report.exit_code == 0, [outcome.message for outcome in report.outcomes]
    return report


def outcome(report: Any, provider: str) -> Any:
    return next(item for item in report.outcomes if item.provider == provider)


def overrides(folder: Path, *entries: str) -> None:
    """Write the default overrides file (in the working directory) with these `[[model]]` bodies."""
    (folder / "modelsync.overrides.toml").write_text("".join(f"[[model]]\n{entry}\n" for entry in entries))


def price(model_id: str, **fields: str) -> str:
    lines = ['provider = "together"', f'id = "{model_id}"'] + [f'{k} = "{v}"' for k, v in fields.items()]
    return "\n".join(lines)


def entries(engine: Engine) -> list[dict[str, Any]]:
    return dbread.rows(engine, quarantine_table, order_by=("id",))


def model(engine: Engine, model_id: str) -> dict[str, Any]:
    return dbread.model_row(engine, "together", model_id)


def model_history(engine: Engine, model_id: str) -> list[dict[str, Any]]:
    return [row for row in dbread.history_rows(engine, "together") if row["model_id"] == model_id]


def set_listing_price(live: FakeProviders, model_id: str, **pricing: float) -> None:
    # Fresh dicts: the fixture rows are shared with every other test.
    live.models["together"] = [
        {**item, "pricing": {**item["pricing"], **pricing}} if item["id"] == model_id else item
        for item in live.models["together"]
    ]


def test_an_overrides_change_that_multiplies_a_price_by_10_is_held_and_approving_applies_it(
    live, feed, engine, clean_env, cli
):
    first = sync(engine, "together")
    assert first.totals()["quarantined"] == 0 and entries(engine) == []  # a first sync creates: nothing held
    assert model(engine, MODEL)["input_price"] == Decimal("0.3")
    overrides(clean_env, price(MODEL, input_price="3"), price(OTHER, input_price="0.6"))
    report = sync(engine, "together", "deepseek")
    assert outcome(report, "together").quarantined == 1 and report.totals()["quarantined"] == 1
    assert outcome(report, "deepseek").created > 0  # another provider synced in the same run
    held = model(engine, MODEL)
    assert held["input_price"] == Decimal("0.3") and held["provenance"]["input_price"] == "together"
    assert held["output_price"] == Decimal("1.2")
    assert model(engine, OTHER)["input_price"] == Decimal("0.6")  # a x1.2 change applies as usual
    assert [row["kind"] for row in model_history(engine, MODEL)] == ["created"]

    [entry] = service.list_entries(engine)
    assert (entry["provider"], entry["model"], entry["field"]) == ("together", MODEL, "inputCostPer1M")
    assert (entry["old"], entry["proposed"], entry["status"]) == ("0.3", "3", "pending")
    assert entry["runId"] == report.run_id and entry["createdAt"]
    evidence = entry["evidence"]
    assert (evidence["rule"], evidence["factor"], evidence["source"], evidence["limit"]) == (
        "factor", "10", "overrides", "3")  # fmt: skip
    assert evidence["candidates"] == {"overrides": "3", "together": "0.3", "models-dev": "0.3", "litellm": "0.3"}
    listed = cli("quarantine", "--json")
    assert listed.code == 0 and json.loads(listed.out) == [entry]
    table = cli("quarantine", "--format", "tsv")
    assert table.code == 0 and f"together/{MODEL}\tinputCostPer1M\t0.3\t3\tpending" in table.out

    approved = cli("quarantine", "approve", str(entry["id"]), "--reason", "new list price")
    assert approved.code == 0, approved.err
    applied = model(engine, MODEL)
    assert applied["input_price"] == Decimal("3") and applied["provenance"]["input_price"] == "overrides"
    assert applied["tier"] == held["tier"] and applied["output_price"] == Decimal("1.2")
    last = model_history(engine, MODEL)[-1]
    assert (last["kind"], last["actor"], last["run_id"]) == ("updated", "cli", None)
    assert last["changes"]["input_price"] == ["0.3", "3"]
    [audit] = dbread.audit_entries(engine, "quarantine.approve")
    assert (audit["actor"], audit["target"]) == ("cli", f"together/{MODEL}")
    assert audit["details"]["reason"] == "new list price" and audit["details"]["changes"]["inputCostPer1M"] == [
        "0.3", "3"]  # fmt: skip
    [row] = entries(engine)
    assert (row["status"], row["decided_by"]) == ("approved", "cli") and row["decided_at"] is not None
    again = cli("quarantine", "approve", str(entry["id"]))
    assert again.code == 4 and "approved by cli, not pending" in again.err
    missing = cli("quarantine", "reject", "999999")
    assert missing.code == 4 and "no quarantine entry 999999" in missing.err

    # The next syncs propose the same value, now stored: nothing moves and nothing is held again.
    history = len(model_history(engine, MODEL))
    for recompute in (False, True):
        after = sync(engine, "together", recompute=recompute)
        assert outcome(after, "together").quarantined == 0
    assert model(engine, MODEL)["input_price"] == Decimal("3") and len(model_history(engine, MODEL)) == history
    assert len(entries(engine)) == 1
    assert cli("quarantine", "--format", "table").out.strip().endswith("0 entries")


def test_a_rejected_change_stays_held_silently_and_another_value_opens_a_new_entry(
    live, feed, engine, clean_env, api_factory
):
    sync(engine, "together")
    overrides(clean_env, price(MODEL, input_price="3"))
    sync(engine, "together")
    [entry] = service.list_entries(engine)
    url = f"/api/admin/quarantine/{entry['id']}"
    with api_factory(engine, load_settings(), stamp_interval=0.0) as api:
        with api.client("viewer") as viewer:
            assert viewer.get("/api/admin/quarantine").status_code == 403
            assert viewer.post(f"{url}/approve").status_code == 403
            assert viewer.post(f"{url}/reject").status_code == 403
        with api.client("admin") as admin:
            listed = admin.get("/api/admin/quarantine", params={"provider": "together"}).json()["data"]
            assert [item["id"] for item in listed] == [entry["id"]] and listed[0]["evidence"]["rule"] == "factor"
            assert admin.get("/api/admin/quarantine", params={"status": "bogus"}).status_code == 422
            assert admin.post(f"{url}/reject", json={"because": "x"}).status_code == 422
            assert admin.post(f"{url}/reject", json={"reason": "x" * 501}).status_code == 422
            assert admin.post("/api/admin/quarantine/abc/reject").status_code == 422
            unknown = admin.post("/api/admin/quarantine/999999/approve")
            assert unknown.status_code == 404 and "999999" in unknown.json()["error"]["message"]
            rejected = admin.post(f"{url}/reject", json={"reason": "a typo in the overrides file"})
            assert rejected.status_code == 200, rejected.text
            assert rejected.json()["status"] == "rejected" and rejected.json()["decidedBy"] == "ada"
            late = admin.post(f"{url}/approve")
            assert late.status_code == 409 and "rejected" in late.json()["error"]["message"]
            everything = admin.get("/api/admin/quarantine", params={"status": "all"}).json()["data"]
            assert [item["status"] for item in everything] == ["rejected"]
            assert admin.get("/api/admin/quarantine").json()["data"] == []
    [audit] = dbread.audit_entries(engine, "quarantine.reject")
    assert audit["actor"] == "ada" and audit["details"]["reason"] == "a typo in the overrides file"
    assert model(engine, MODEL)["input_price"] == Decimal("0.3")
    history = len(model_history(engine, MODEL))

    # The same proposal again: still held, no new entry, not counted as awaiting a decision.
    report = sync(engine, "together", recompute=True)
    assert outcome(report, "together").quarantined == 0 and len(entries(engine)) == 1
    assert model(engine, MODEL)["input_price"] == Decimal("0.3") and len(model_history(engine, MODEL)) == history
    # Another value: a new pending entry.
    overrides(clean_env, price(MODEL, input_price="6"))
    assert outcome(sync(engine, "together"), "together").quarantined == 1
    pending = service.list_entries(engine)
    assert [(item["proposed"], item["evidence"]["factor"]) for item in pending] == [("6", "20")]
    # Another value again supersedes it; the sources going back to the stored value withdraws it.
    overrides(clean_env, price(MODEL, input_price="9"))
    sync(engine, "together")
    assert [row["status"] for row in entries(engine)] == ["rejected", "superseded", "pending"]
    overrides(clean_env)
    assert outcome(sync(engine, "together"), "together").quarantined == 0
    assert [row["status"] for row in entries(engine)] == ["rejected", "superseded", "withdrawn"]
    assert entries(engine)[-1]["decided_by"] == "sync"
    assert model(engine, MODEL)["input_price"] == Decimal("0.3") and len(model_history(engine, MODEL)) == history


def test_a_second_independent_source_confirms_a_held_listing_change_at_the_next_sync(live, feed, engine):
    sync(engine, "together")
    set_listing_price(live, MODEL, input=3.0)
    report = sync(engine, "together")
    assert outcome(report, "together").quarantined == 1
    assert model(engine, MODEL)["input_price"] == Decimal("0.3")
    [entry] = service.list_entries(engine)
    assert entry["evidence"]["source"] == "together"
    assert entry["evidence"]["candidates"] == {"together": "3", "models-dev": "0.3", "litellm": "0.3"}

    # An unchanged sync skips the provider (same inputs): the change stays held, still counted.
    unchanged = outcome(sync(engine, "together"), "together")
    assert unchanged.inputs_unchanged and unchanged.quarantined == 1
    assert model(engine, MODEL)["input_price"] == Decimal("0.3")

    raw = json.loads(feed.body)
    raw[f"together_ai/{MODEL}"]["input_cost_per_token"] = 3e-06
    feed.body = json.dumps(raw).encode()
    confirmed = sync(engine, "together")
    assert outcome(confirmed, "together").quarantined == 0
    row = model(engine, MODEL)
    assert row["input_price"] == Decimal("3") and row["provenance"]["input_price"] == "together"
    [closed] = entries(engine)
    assert (closed["status"], closed["decided_by"]) == ("confirmed", "sync")
    last = model_history(engine, MODEL)[-1]
    assert last["run_id"] == confirmed.run_id and last["changes"]["input_price"] == ["0.3", "3"]


def test_a_held_change_of_a_model_that_leaves_the_listing_is_withdrawn_with_it(live, engine):
    sync(engine, "together")
    set_listing_price(live, MODEL, input=3.0)
    assert outcome(sync(engine, "together"), "together").quarantined == 1
    live.models["together"] = [item for item in live.models["together"] if item["id"] != MODEL]

    gone = sync(engine, "together")

    assert outcome(gone, "together").quarantined == 0
    assert model(engine, MODEL)["status"] == "deprecated"
    [closed] = entries(engine)
    assert (closed["status"], closed["decided_by"]) == ("withdrawn", "sync")
    assert service.list_entries(engine) == []


def test_context_shrink_max_price_and_a_per_token_price_on_a_per_image_model_are_held(live, engine, clean_env):
    image_only = 'prices = [{unit = "images", usd = "0.04", source = "overrides"}]'
    overrides(clean_env, f'provider = "together"\nid = "{OTHER}"\n{image_only}')
    created = sync(engine, "together")
    assert outcome(created, "together").quarantined == 0
    assert model(engine, OTHER)["input_price"] is None  # priced per image only

    with_tokens = ('prices = [{unit = "images", usd = "0.04", source = "overrides"}, '
                   '{unit = "input_tokens", usd = "5", source = "overrides"}]')  # fmt: skip
    custom = 'provider = "together"\nid = "acme/huge"\ncustom = true\ninput_price = "1500"\noutput_price = "2"'
    overrides(
        clean_env,
        f'provider = "together"\nid = "{OTHER}"\n{with_tokens}',
        price(BIG, input_price="1200", context_window="100000"),
        price(MODEL, context_window="140000"),
        custom,
    )
    report = sync(engine, "together")
    held = {(item["model"], item["field"]): item for item in service.list_entries(engine)}
    assert {key: item["evidence"]["rule"] for key, item in held.items()} == {
        (OTHER, "inputCostPer1M"): "unit_change",
        (BIG, "inputCostPer1M"): "max_price",
        (BIG, "contextWindow"): "context_shrink",
        ("acme/huge", "inputCostPer1M"): "max_price",
    }
    assert outcome(report, "together").quarantined == 4
    assert held[(BIG, "contextWindow")]["old"] == 262144 and held[(BIG, "contextWindow")]["proposed"] == 100000
    assert held[(BIG, "inputCostPer1M")]["evidence"]["limit"] == "1000"
    rows = dbread.models_by_ref(engine, "together")
    # Its output price, which Together's listing and models.dev agree on, was confirmed and applied at once.
    other = rows[f"together/{OTHER}"]
    assert other["input_price"] is None and other["output_price"] == Decimal("1.2")
    closed = [(row["model_id"], row["field"], row["status"]) for row in entries(engine) if row["status"] != "pending"]
    assert closed == [(OTHER, "output_price", "confirmed")]
    assert (rows[f"together/{BIG}"]["input_price"], rows[f"together/{BIG}"]["context_window"]) == (Decimal(2), 262144)
    assert rows[f"together/{MODEL}"]["context_window"] == 140000  # not more than half: applied
    huge = rows["together/acme/huge"]  # created without the held price, with the rest
    assert huge["input_price"] is None and huge["output_price"] == Decimal(2)

    # Approving the context window through the service applies it; the new model's price too.
    settings = load_settings()
    service.decide(engine, settings, held[(BIG, "contextWindow")]["id"], True, "ops")
    service.decide(engine, settings, held[("acme/huge", "inputCostPer1M")]["id"], True, "ops")
    rows = dbread.models_by_ref(engine, "together")
    assert rows[f"together/{BIG}"]["context_window"] == 100000
    assert rows["together/acme/huge"]["input_price"] == Decimal(1500)
    assert rows["together/acme/huge"]["tier"] == "premium"
    history = len(dbread.history_rows(engine, "together"))
    last = outcome(sync(engine, "together"), "together")
    still = sorted((item["model"], item["field"]) for item in last.held)
    assert still == [(BIG, "input_price"), (OTHER, "input_price")]
    assert len(dbread.history_rows(engine, "together")) == history  # the approved values stay


def test_a_dry_run_shows_held_changes_and_writes_no_entry(live, engine, clean_env):
    sync(engine, "together")
    overrides(clean_env, price(MODEL, input_price="0.03"), price(OTHER, output_price="0.12"))
    report = sync(engine, "together", dry_run=True)
    summary = report.to_dict(with_changes=True)["providers"]["together"]
    assert summary["quarantined"] == 2
    assert summary["held"] == [
        {"model": MODEL, "field": "input_price", "old": "0.3", "new": "0.03", "rule": "factor"},
        {"model": OTHER, "field": "output_price", "old": "1.2", "new": "0.12", "rule": "factor"},
    ]
    # Nothing else moved on them (MODEL's cache price, 0.06, above the proposed input price, stays with the input).
    assert not any(change["model"] in (MODEL, OTHER) for change in summary["changes"])
    assert entries(engine) == [] and model(engine, MODEL)["input_price"] == Decimal("0.3")
    real = sync(engine, "together")
    assert outcome(real, "together").quarantined == 2 and len(entries(engine)) == 2
    run = dbread.run(engine, real.run_id)
    assert run["summary"]["providers"][0]["quarantined"] == 2


def test_the_quarantine_can_be_turned_off(live, engine, clean_env, monkeypatch, cli):
    sync(engine, "together")
    overrides(clean_env, price(MODEL, input_price="3"))
    monkeypatch.setenv("MODELSYNC_QUARANTINE", "false")
    assert outcome(sync(engine, "together"), "together").quarantined == 0
    assert model(engine, MODEL)["input_price"] == Decimal("3") and entries(engine) == []
    shown = cli("sync", "--provider", "together")
    assert shown.code == 0 and "quarantined" not in shown.out


def test_the_cli_sync_summary_prints_the_held_count(live, engine, clean_env, cli):
    sync(engine, "together")
    overrides(clean_env, price(MODEL, input_price="3"))
    shown = cli("sync", "--provider", "together")
    assert shown.code == 0, shown.err
    assert "quarantined: 1" in shown.out
    bad = cli("quarantine", "--status", "maybe")
    assert bad.code == 4 and "unknown status" in bad.err


def test_the_limits_are_settings_that_the_environment_overrides(monkeypatch):
    defaults = load_settings()
    assert (defaults.quarantine, defaults.quarantine_factor, defaults.quarantine_max_price) == (
        True, Decimal(3), Decimal(1000))  # fmt: skip
    monkeypatch.setenv("MODELSYNC_QUARANTINE_FACTOR", "20")
    monkeypatch.setenv("MODELSYNC_QUARANTINE_MAX_PRICE", "250")
    changed = load_settings()
    assert (changed.quarantine_factor, changed.quarantine_max_price) == (Decimal(20), Decimal(250))
    monkeypatch.setenv("MODELSYNC_QUARANTINE_FACTOR", "1")
    with pytest.raises(ConfigError, match="quarantine_factor"):
        load_settings()


def test_a_larger_factor_lets_a_x10_change_through(live, engine, clean_env, monkeypatch):
    sync(engine, "together")
    overrides(clean_env, price(MODEL, input_price="3"))
    monkeypatch.setenv("MODELSYNC_QUARANTINE_FACTOR", "20")
    assert outcome(sync(engine, "together"), "together").quarantined == 0
    assert model(engine, MODEL)["input_price"] == Decimal("3") and entries(engine) == []


def test_approving_a_field_an_admin_decision_pins_is_refused_and_the_next_sync_withdraws_it(live, engine, clean_env):
    sync(engine, "together")
    overrides(clean_env, price(MODEL, input_price="3", context_window="50000"))
    sync(engine, "together")
    held = {item["field"]: item for item in service.list_entries(engine)}
    assert set(held) == {"inputCostPer1M", "contextWindow"}
    settings = load_settings()
    catalog.decide(engine, settings, "together", MODEL, {"input_price": Decimal("0.5")}, "ops")
    with pytest.raises(StateConflictError, match=r"inputCostPer1M of together/MiniMaxAI/MiniMax-M2\.7 is pinned"):
        service.decide(engine, settings, held["inputCostPer1M"]["id"], True, "ops")
    assert model(engine, MODEL)["input_price"] == Decimal("0.5")  # nothing written by the refused approval
    # The decision is the admin's own: the next sync proposes it, so the entry is withdrawn; the other stays.
    assert outcome(sync(engine, "together"), "together").quarantined == 1
    statuses = {row["field"]: row["status"] for row in entries(engine)}
    assert statuses == {"input_price": "withdrawn", "context_window": "pending"}
