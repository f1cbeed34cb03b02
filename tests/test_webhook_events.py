"""The pure part of change webhooks (modelsync.events): events from history rows, thresholds, filters, signatures."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from modelsync.events import (
    EVENT_KINDS,
    component_changes,
    conflict_events,
    failure_events,
    history_events,
    matches,
    shutdown_events,
    shutdown_key,
    sign,
    verify,
)

TODAY = date(2026, 12, 1)


def _row(kind, changes, model="gpt-4o"):
    return {"kind": kind, "provider": "openai", "model_id": model, "changes": changes}


def test_history_rows_become_lifecycle_updated_and_price_events():
    price = {
        "input_price": ["2.5", "1.75"],
        "prices": [
            [{"unit": "input_tokens", "usd": "2.5", "source": "genai-prices"},
             {"unit": "output_tokens", "usd": "10", "source": "genai-prices"}],
            [{"unit": "input_tokens", "usd": "1.75", "source": "overrides"},
             {"unit": "output_tokens", "usd": "10", "source": "genai-prices"}],
        ],
        "provenance": [{"input_price": "genai-prices"}, {"input_price": "overrides"}],
    }  # fmt: skip
    events = history_events(
        [
            _row("created", {"display_name": [None, "GPT-4o"], "input_price": [None, "2.5"]}),
            _row("updated", price),
            _row("updated", {"provenance": [{}, {"x": "y"}]}),
            _row("deprecated", {"status": ["active", "deprecated"]}, model="old"),
            _row("reactivated", {"status": ["deprecated", "active"]}, model="old"),
        ]
    )
    assert [(e.kind, e.model_id) for e in events] == [
        ("created", "gpt-4o"), ("updated", "gpt-4o"), ("price_changed", "gpt-4o"), ("deprecated", "old"),
        ("reactivated", "old"),
    ]  # fmt: skip
    assert events[0].payload["changes"]["displayName"] == {"old": None, "new": "GPT-4o"}
    assert "provenance" not in events[1].payload["changes"]
    assert events[2].payload == {
        "prices": {"inputCostPer1M": {"old": "2.5", "new": "1.75"}},
        "components": [{"unit": "input_tokens", "batch": False, "above": None, "old": "2.5", "new": "1.75"}],
    }


def test_components_compare_amounts_per_unit_tier_and_batch_not_sources():
    old = [{"unit": "input_tokens", "usd": "2", "source": "a"}, {"unit": "input_tokens", "usd": "4", "above": 200000}]
    new = [{"unit": "input_tokens", "usd": "2", "source": "b"}, {"unit": "input_tokens", "usd": "2", "batch": True}]
    assert component_changes(old, new) == [
        {"unit": "input_tokens", "batch": False, "above": 200000, "old": "4", "new": None},
        {"unit": "input_tokens", "batch": True, "above": None, "old": None, "new": "2"},
    ]
    assert component_changes(None, []) == []


def test_shutdown_soon_once_per_threshold_and_one_event_when_inside_both():
    models = [("openai", "a", date(2026, 12, 21)), ("openai", "b", date(2026, 12, 4)),
              ("openai", "c", date(2027, 3, 1)), ("openai", "d", date(2026, 11, 1))]  # fmt: skip
    events, marks = shutdown_events(models, TODAY, (30, 7), set())
    assert [(e.model_id, e.payload["thresholdDays"], e.payload["daysLeft"]) for e in events] == [
        ("a", 30, 20),
        ("b", 7, 3),
    ]
    assert sorted(marks) == sorted([shutdown_key("openai", "a", 30), shutdown_key("openai", "b", 30),
                                    shutdown_key("openai", "b", 7)])  # fmt: skip
    again, more = shutdown_events(models, TODAY, (30, 7), set(marks))
    assert (again, more) == ([], [])
    later, _ = shutdown_events(models, date(2026, 12, 15), (30, 7), set(marks))
    assert [(e.model_id, e.payload["thresholdDays"]) for e in later] == [("a", 7)]


def test_conflicts_fire_only_when_not_already_open_and_failures_name_the_provider():
    item = {"provider": "openai", "model": "m", "field": "inputCostPer1M", "stored": "1", "candidates": []}
    assert [e.kind for e in conflict_events([item], set())] == ["conflict"]
    assert conflict_events([item], {"openai/m#inputCostPer1M"}) == []
    outcomes = [
        {"provider": "openai", "status": "failed", "message": "HTTP 500"},
        {"provider": "google", "status": "ok"},
        {"provider": "x", "status": "refused", "message": "shrank"},
    ]
    assert [(e.provider, e.payload["status"]) for e in failure_events(3, outcomes)] == [
        ("openai", "failed"), ("x", "refused")
    ]  # fmt: skip


def test_filters():
    assert matches("price_changed", "openai", "gpt-4o", [], [], [])
    assert not matches("created", "openai", "gpt-4o", ["price_changed"], [], [])
    assert not matches("created", "anthropic", "c", [], ["openai"], [])
    assert matches("sync_failed", None, None, [], ["openai"], ["gpt-4o"])
    assert matches("created", "openai", "gpt-4o", [], [], ["openai/gpt-4o"])
    assert matches("created", "openai", "gpt-4o", [], [], ["gpt-4o"])
    assert not matches("created", "azure", "gpt-4o", [], [], ["openai/gpt-4o"])
    assert "quarantined" in EVENT_KINDS


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"events":[]}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("secret", 1700000000, body) == f"sha256={expected}"
    assert verify("secret", "1700000000", body, f"sha256={expected}")
    assert not verify("secret", "1700000001", body, f"sha256={expected}")
    assert not verify("other", "1700000000", body, f"sha256={expected}")
