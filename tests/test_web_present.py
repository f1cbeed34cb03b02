"""How the web UI shows values (pure): unknown stays unknown, free is $0, lists of objects become tables."""

from __future__ import annotations

from modelsync.fieldspec import BY_NAME, FIELDS
from modelsync.web import present


def test_money_is_exact_free_is_zero_and_unknown_is_never_zero():
    assert present.money("2.5") == "$2.5"
    assert present.money("0.075") == "$0.075"
    assert present.money("0") == "$0 (free)" and present.money("0.000") == "$0 (free)"
    assert present.money(None) == "unknown"
    assert present.text(None, BY_NAME["input_price"]) == "unknown"


def test_capabilities_are_tri_state():
    rows = {row.name: row for row in present.capability_rows({"vision": True, "tools": False}, {
        "capabilities.vision": "models-dev", "capabilities.tools": "openai"})}  # fmt: skip
    assert rows["vision"].value == "yes" and rows["vision"].source == "models-dev"
    assert rows["tools"].value == "no" and rows["tools"].source == "openai"
    assert rows["streaming"].value == "unknown" and rows["streaming"].source is None  # asked about, nobody knows
    assert present.tri(None) == "unknown" and present.tri(False) == "no"


def test_a_list_of_objects_such_as_a_price_list_is_a_table_with_the_unit_first():
    prices = [
        {"amount": "2.5", "unit": "input_token", "source": "genai-prices"},
        {"unit": "input_token", "amount": "5", "aboveThreshold": 200000, "source": "genai-prices"},
        {"unit": "audio_hour", "amount": "0.36", "batch": True, "source": "openai"},
    ]
    table = present.as_table(prices)
    assert table is not None
    assert table.columns == ("unit", "amount", "aboveThreshold", "batch", "source")
    assert table.rows[1] == ("input_token", "5", "200,000", "", "genai-prices")
    assert table.rows[2][0] == "audio_hour" and table.rows[2][3] == "yes"
    assert present.as_table([]) is None and present.as_table(["a"]) is None and present.as_table("x") is None


def test_field_rows_follow_the_catalogue_and_name_each_source():
    model = {field.json: None for field in FIELDS}
    model.update({"inputCostPer1M": "0", "contextWindow": 128000, "kind": "chat", "tags": [], "capabilities": [],
                  "provenance": {"inputCostPer1M": "openrouter", "kind": "policy"}, "isAllowed": True})  # fmt: skip
    rows = {row.json: row for row in present.field_rows(model, ["is_allowed"])}
    shown = [field.json for field in FIELDS if field.json not in ("provenance", "capabilities")]
    assert list(rows) == shown  # every catalogue field, in catalogue order: a new field shows up by itself
    assert rows["inputCostPer1M"].value == "$0 (free)" and rows["inputCostPer1M"].source == "openrouter"
    assert rows["outputCostPer1M"].value == "unknown"
    assert rows["contextWindow"].value == "128,000"
    assert rows["replacementModel"].value == "none known"  # no replacement announced is not "unknown"
    assert rows["isAllowed"].decided and not rows["kind"].decided


def test_history_lines_and_what_changed_groups():
    assert present.change_lines({"inputCostPer1M": ["2", "2.5"], "provenance": ["a", "b"]}) == [
        "inputCostPer1M: $2 → $2.5"
    ]
    assert present.change_lines({"kind": [None, "chat"]}, "created") == ["kind: chat"]
    assert present.change_group({"kind": "updated", "changes": {"outputCostPer1M": ["1", "2"]}}) == "price change"
    assert present.change_group({"kind": "updated", "changes": {"displayName": ["a", "b"]}}) == "updated"
    assert present.change_group({"kind": "deprecated", "changes": {}}) == "deprecated"


def test_the_price_chart_steps_through_the_recorded_prices():
    history = [
        {"at": "2026-01-01T00:00:00+00:00", "kind": "created",
         "changes": {"inputCostPer1M": [None, "2"], "outputCostPer1M": [None, "8"]}},
        {"at": "2026-02-01T00:00:00+00:00", "kind": "updated", "changes": {"displayName": ["a", "b"]}},
        {"at": "2026-03-01T00:00:00+00:00", "kind": "updated", "changes": {"inputCostPer1M": ["2", "1"]}},
        {"at": "2026-04-01T00:00:00+00:00", "kind": "updated", "changes": {"outputCostPer1M": ["8", None]}},
    ]  # fmt: skip
    chart = present.price_chart(history)
    assert chart is not None and chart.top == "$8"
    assert [point.prices for point in chart.points] == [("$2", "$8"), ("$1", "$8"), ("$1", "unknown")]
    assert chart.first == "2026-01-01 00:00 UTC" and chart.last == "2026-04-01 00:00 UTC"
    names = {name: points for name, points, dashed in chart.series if not dashed}
    assert len(names["input"].split()) == 5  # three points joined by two steps
    assert len(names["output"].split()) == 3  # the unknown last price is left out, never drawn as $0
    assert chart.today_x is None and not any(dashed for _, _, dashed in chart.series)
    assert present.price_chart(history[:2]) is None  # one price, nothing to chart


def test_the_price_chart_adds_the_scheduled_prices_as_a_dashed_step_after_today():
    history = [{"at": "2026-11-30T12:00:00+00:00", "kind": "created",
                "changes": {"inputCostPer1M": [None, "0.75"], "outputCostPer1M": [None, "3.75"]}}]  # fmt: skip
    scheduled = [{"effectiveFrom": "2027-01-01T00:00:00+00:00", "source": "genai-prices", "prices": [
        {"unit": "input_tokens", "usd": "1.5", "source": "genai-prices"},
        {"unit": "output_tokens", "usd": "7.5", "source": "genai-prices"},
        {"unit": "input_tokens", "usd": "3", "source": "genai-prices", "above": 200000},  # a tier: not charted
    ]}]  # fmt: skip
    chart = present.price_chart(history, scheduled)
    assert chart is not None and chart.top == "$7.5"
    assert [(p.at, p.prices, p.scheduled) for p in chart.points] == [
        ("2026-11-30 12:00 UTC", ("$0.75", "$3.75"), False),
        ("2027-01-01 00:00 UTC", ("$1.5", "$7.5"), True),
    ]
    solid = [points for _, points, dashed in chart.series if not dashed]
    dashed = {name: points for name, points, is_dashed in chart.series if is_dashed}
    assert chart.today_x is not None and 36 < chart.today_x < 604
    # The recorded price, solid, held until today; then dashed: today's price, a step at the scheduled date, and
    # the scheduled price held to the right edge.
    assert [points.split()[-1].split(",")[0] for points in solid] == [f"{chart.today_x:.1f}"] * 2
    assert len(dashed["input"].split()) == 4 and dashed["input"].split()[0].startswith(f"{chart.today_x:.1f},")
    assert dashed["output"].split()[-1].startswith("604.0,")
    # The dashed line ends at the scheduled price: higher on the chart (smaller y) than today's.
    assert float(dashed["input"].split()[-1].split(",")[1]) < float(dashed["input"].split()[0].split(",")[1])
    assert chart.last == "2027-01-01 00:00 UTC"
    assert present.price_chart([], scheduled) is None  # nothing recorded yet: no "now" to start from


def test_a_view_key_the_catalogue_does_not_list_yet_is_still_shown():
    model = {field.json: None for field in FIELDS}
    model.update({"provenance": {"prices": "genai-prices"}, "capabilities": [], "id": "m", "provider": "p",
                  "prices": [{"unit": "input_token", "amount": "1"}], "family": "gpt-4o"})  # fmt: skip
    rows = {row.json: row for row in present.field_rows(model, [])}
    assert rows["prices"].table is not None and rows["prices"].source == "genai-prices"
    assert rows["family"].value == "gpt-4o"
    assert "id" not in rows and "provider" not in rows  # identity is shown in its own rows


def test_a_price_list_change_shows_only_the_components_that_moved():
    old = [
        {"unit": "input_tokens", "usd": "2.5", "source": "genai-prices"},
        {"unit": "output_tokens", "usd": "10", "source": "genai-prices"},
    ]
    new = [
        {"unit": "input_tokens", "usd": "2.25", "source": "manual"},
        {"unit": "output_tokens", "usd": "10", "source": "genai-prices"},
    ]
    (line,) = present.change_lines({"prices": [old, new]})
    assert line.startswith("prices: − $2.5 per 1M input tokens (genai-prices); + $2.25 per 1M input tokens (manual)")
    assert "output" not in line
    # Free and unknown are whole states, never an empty diff.
    assert present.change_lines({"prices": [None, []]}) == ["prices: unknown → free"]
    (created,) = present.change_lines({"prices": [None, new]}, "created")
    assert created.count(";") == 1 and "$10 per 1M output tokens (genai-prices)" in created


def test_a_held_change_shows_money_with_its_unit_and_why_it_was_held():
    assert present.held_value("inputCostPer1M", "0.3") == "$0.3"
    assert present.held_value("inputCostPer1M", "0") == "$0 (free)"
    assert present.held_value("inputCostPer1M", None) == "none"  # no such price stored (or a new model)
    assert present.held_value("prices.images", "0.4") == "$0.4 per input image"
    assert present.held_value("prices.input_tokens.batch.above_200000", "20") == (
        "$20 per 1M input tokens above 200,000 prompt tokens, batch")  # fmt: skip
    assert present.held_value("contextWindow", 262144) == "262,144"
    assert present.held_value("prices", []) == "free"
    entry = {
        "id": 7, "provider": "together", "model": "m", "field": "inputCostPer1M", "old": "0.3", "proposed": "3",
        "status": "approved", "runId": None, "createdAt": "2026-11-30T10:00:00+00:00",
        "decidedAt": "2026-11-30T11:00:00+00:00", "decidedBy": "ada",
        "evidence": {"rule": "factor", "factor": "10", "limit": "3", "source": "overrides",
                     "candidates": {"together": "0.3", "overrides": "3"}},
    }  # fmt: skip
    row = present.held_row(entry)
    assert (row.old, row.proposed, row.rule) == ("$0.3", "$3", "factor: moved by ×10, more than ×3")
    assert (row.proposed_by, row.sources) == ("overrides", "overrides $3; together $0.3")
    assert (row.held_at, row.decided) == ("2026-11-30 10:00 UTC", "approved by ada, 2026-11-30 11:00 UTC")
    evidence = {"rule": "context_shrink", "factor": "2.13", "source": "models-dev"}
    shrink = present.held_row(
        {**entry, "field": "contextWindow", "old": 128000, "proposed": 60000, "evidence": evidence}
    )
    assert (shrink.old, shrink.proposed, shrink.rule) == (
        "128,000",
        "60,000",
        "context_shrink: shrinks to less than half (÷2.13)",
    )
    assert shrink.sources == "" and present.held_row({**entry, "evidence": {}}).rule == "unknown"
