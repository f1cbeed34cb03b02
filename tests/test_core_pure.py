"""The pure core: money, fingerprints, merge precedence and provenance, policy, diff classification, gates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from modelsync.changes import SnapshotRow, field_changes
from modelsync.records import SYNCED_FIELDS, SourceRecord, canonical_row, decode_canonical, fingerprint, money, per_1k
from modelsync.settings import CapabilityRule, KindRule, PolicySettings, TagRules, load_settings
from modelsync.sync.diff import classify, describe_update, describe_vanished
from modelsync.sync.gates import check_listing
from modelsync.sync.merge import Layer, merge_model
from modelsync.sync.policy import apply_policy, tier_for

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2.50", "2.5"),
        (2.5, "2.5"),
        ("2.5e0", "2.5"),
        ("10", "10"),
        (Decimal("1E+1"), "10"),
        ("0.000", "0"),
        ("-0", "0"),
        (0.1, "0.1"),
        ("0.00000015", "0.00000015"),
    ],
)
def test_money_is_canonical_whatever_the_spelling(raw, expected):
    assert format(money(raw), "f") == expected
    assert str(money(raw)) == expected or "E" in str(money(raw))


@pytest.mark.parametrize("bad", ["cheap", True, "NaN", "inf", [1]])
def test_money_refuses_what_is_not_a_price(bad):
    with pytest.raises((ValueError, TypeError)):
        money(bad)


def test_unknown_price_stays_unknown_not_zero():
    assert money(None) is None and money("") is None
    assert per_1k(None) is None
    assert per_1k(Decimal("2.5")) == Decimal("0.0025")


def _values(**changes):
    base = {
        "display_name": "X",
        "kind": "chat",
        "status": "active",
        "context_window": 1000,
        "input_price": Decimal("2.5"),
        "capabilities": {"vision": True, "tools": False},
        "modalities_in": ["image", "text"],
        "modalities_out": ["text"],
        "tags": ["fast"],
        "provenance": {"input_price": "genai-prices", "kind": "policy"},
        "recommended": False,
        "is_allowed": True,
        "deprecated_at": None,
        "shutdown_date": date(2027, 1, 1),
    }
    base.update(changes)
    return base


def test_fingerprint_ignores_dict_order_and_price_spelling_but_sees_every_change():
    one = _values()
    reordered = _values(
        capabilities={"tools": False, "vision": True},
        provenance={"kind": "policy", "input_price": "genai-prices"},
        input_price=money("2.50"),
    )
    assert fingerprint(one) == fingerprint(reordered)
    for change in (
        {"input_price": Decimal("2.4")},
        {"capabilities": {"vision": True}},
        {"tags": []},
        {"shutdown_date": None},
        {"deprecated_at": NOW},
        {"provenance": {"input_price": "overrides"}},
    ):
        assert fingerprint(_values(**change)) != fingerprint(one), change


def test_fingerprint_is_the_same_for_a_timestamp_in_another_zone():
    east = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert canonical_row(_values(deprecated_at=east)) == canonical_row(_values(deprecated_at=NOW))


def layer(source, model_id="m", **fields):
    return Layer(source, {model_id: SourceRecord(model_id, fields)})


def test_merge_takes_each_field_from_the_highest_layer_that_knows_it():
    merged = merge_model(
        "openai",
        "m",
        [
            layer("overrides", input_price=Decimal("1")),
            layer("openai", context_window=None, display_name="Live name"),
            layer("genai-prices", input_price=Decimal("2"), output_price=Decimal("8")),
            layer("models-dev", context_window=128000, display_name="Catalog name", input_price=Decimal("3")),
        ],
    )
    values = merged.values
    assert values["input_price"] == Decimal("1") and values["provenance"]["input_price"] == "overrides"
    assert values["output_price"] == Decimal("8") and values["provenance"]["output_price"] == "genai-prices"
    # None in a higher layer never hides a lower layer's value.
    assert values["context_window"] == 128000 and values["provenance"]["context_window"] == "models-dev"
    assert values["display_name"] == "Live name" and values["provenance"]["display_name"] == "openai"


def test_capabilities_merge_key_by_key_and_unknown_stays_absent():
    merged = merge_model(
        "anthropic",
        "m",
        [
            layer("anthropic", capabilities={"vision": True}),
            layer("models-dev", capabilities={"vision": False, "tools": True}),
        ],
    )
    caps = merged.values["capabilities"]
    assert caps == {"vision": True, "tools": True}
    assert merged.values["provenance"]["capabilities.vision"] == "anthropic"
    assert merged.values["provenance"]["capabilities.tools"] == "models-dev"
    assert "reasoning" not in caps


def policy(**changes):
    return load_settings().policy.model_copy(update=changes)


def merged_record(model_id="m", provider="openai", **fields):
    return merge_model(provider, model_id, [layer("src", model_id, **fields)])


@pytest.mark.parametrize(
    ("inp", "out", "tier"),
    [
        ("0", "0", "free"),
        ("1", "2", "affordable"),
        ("5", "1", "premium"),
        ("1", "20", "premium"),
        (None, None, None),
        ("0", None, "affordable"),
    ],
)
def test_tier_from_prices(inp, out, tier):
    assert tier_for(money(inp), money(out), policy()) == tier


def test_policy_decides_kind_status_tier_tags_and_defaults_with_provenance():
    records = [
        merged_record(
            "gpt-4o-mini",
            input_price=Decimal("0.15"),
            output_price=Decimal("0.6"),
            modalities_in=["image", "text"],
            capabilities={"reasoning": False},
        ),
        merged_record("text-embedding-3-small", input_price=Decimal("0.02")),
        merged_record("old-model", deprecated=True),
    ]
    apply_policy(records, policy(recommended=("openai/gpt-4o-mini",)), {})
    mini, embedding, old = (record.values for record in records)
    assert mini["kind"] == "chat" and mini["provenance"]["kind"] == "policy"
    assert mini["tier"] == "affordable" and mini["recommended"] is True and mini["is_allowed"] is True
    assert {"fast", "affordable", "multimodal", "recommended"} <= set(mini["tags"])
    assert "reasoning" not in mini["tags"]
    assert "streaming" not in mini["capabilities"]  # no source says, and no default rule covers OpenAI
    assert "capabilities.streaming" not in mini["provenance"]
    assert embedding["kind"] == "embedding" and embedding["capabilities"]["embedding"] is True
    assert "streaming" not in embedding["capabilities"]
    assert old["status"] == "deprecated" and old["provenance"]["status"] == "src"
    assert old["tier"] is None and "affordable" not in old["tags"]
    assert old["display_name"] == "old-model"


def test_admin_decisions_win_over_policy():
    records = [merged_record("gpt-4o")]
    apply_policy(
        records, policy(recommended=("openai/gpt-4o",)), {"gpt-4o": {"is_allowed": False, "recommended": False}}
    )
    values = records[0].values
    assert values["is_allowed"] is False and values["recommended"] is False
    assert values["provenance"]["is_allowed"] == "manual" and "recommended" not in values["tags"]


def test_kind_rules_apply_in_order_and_come_from_configuration():
    rules = (KindRule(kind="audio", pattern="tts"), KindRule(kind="image", pattern="image"))
    records = [merged_record("gpt-image-tts"), merged_record("my-image"), merged_record("plain")]
    apply_policy(records, policy(kind_rules=rules, tags=TagRules()), {})
    assert [r.values["kind"] for r in records] == ["audio", "image", "chat"]


def test_streaming_is_no_longer_set_for_every_chat_model():
    records = [merged_record(model_id) for model_id in ("o1-pro", "gpt-5-pro", "gpt-5.4")]
    records.append(merged_record("claude-opus-4-7", provider="anthropic"))
    records.append(merged_record("gpt-x", provider="openrouter", capabilities={"streaming": False}))
    apply_policy(records, policy(), {})
    o1_pro, gpt5_pro, gpt54, claude, stated = (record.values for record in records)
    for values in (o1_pro, gpt5_pro, gpt54):
        assert values["kind"] == "chat" and "streaming" not in values["capabilities"]
    # The default rule names its reason in provenance; a source's statement is never overruled.
    assert claude["capabilities"]["streaming"] is True
    assert claude["provenance"]["capabilities.streaming"].startswith("policy: Anthropic's Messages API")
    assert stated["capabilities"]["streaming"] is False and stated["provenance"]["capabilities.streaming"] == "src"


def test_capability_rules_match_provider_kind_and_pattern_and_the_first_decides():
    rules = (
        CapabilityRule(capability="json", value=False, reason="no JSON for minis", pattern="-mini$"),
        CapabilityRule(capability="json", reason="docs: every chat model", provider=("acme",), kind=("chat",)),
        CapabilityRule(capability="tools", reason="docs: tools everywhere", provider=("other",)),
    )
    records = [
        merged_record("big", provider="acme"),
        merged_record("big-mini", provider="acme"),
        merged_record("text-embed-1", provider="acme"),
        merged_record("stated", provider="acme", capabilities={"json": False}),
    ]
    apply_policy(records, policy(capability_rules=rules), {})
    big, mini, embed, stated = (record.values for record in records)
    assert big["capabilities"] == {"json": True}
    assert big["provenance"]["capabilities.json"] == "policy: docs: every chat model"
    assert mini["capabilities"]["json"] is False
    assert mini["provenance"]["capabilities.json"] == "policy: no JSON for minis"
    assert "json" not in embed["capabilities"] and "tools" not in big["capabilities"]
    assert stated["capabilities"] == {"json": False} and stated["provenance"]["capabilities.json"] == "src"


def test_the_deprecated_streaming_kinds_setting_is_a_rule_that_says_so():
    records = [merged_record("gpt-5-pro"), merged_record("text-embedding-3-small")]
    apply_policy(records, policy(streaming_kinds=("chat",), capability_rules=()), {})
    chat, embedding = (record.values for record in records)
    assert chat["capabilities"]["streaming"] is True
    assert chat["provenance"]["capabilities.streaming"] == "policy: streaming_kinds setting (deprecated)"
    assert "streaming" not in embedding["capabilities"]


@pytest.mark.parametrize(
    ("provider", "model_id", "kind"),
    [
        # The examples, as the fixture listings spell them.
        ("google", "lyria-3-pro-preview", "audio"),
        ("google", "lyria-3.5", "audio"),
        ("openrouter", "google/lyria-3-clip-preview", "audio"),
        ("google", "nano-banana-pro-preview", "image"),
        ("google", "gemini-nano-banana-2.1", "image"),
        ("google", "gemini-3-pro-image-preview", "image"),
        ("openrouter", "openai/gpt-5-image", "image"),
        ("google", "deep-research-pro-preview-12-2025", "agent"),
        ("google", "deep-research-max-preview-04-2026", "agent"),
        ("google", "antigravity-preview-latest", "agent"),
        ("openai", "o4-mini-deep-research-2025-06-26", "agent"),
        ("openrouter", "perplexity/sonar-deep-research", "agent"),
        ("xai", "grok-4.20-multi-agent-0309", "agent"),
        ("replicate", "bytedance/seedance-1-pro", "video"),
        # Still chat: the client drives computer use; a research-trained open model is a plain model.
        ("google", "gemini-2.5-computer-use-preview-10-2025", "chat"),
        ("openrouter", "alibaba/tongyi-deepresearch-30b-a3b", "chat"),
        ("google", "gemini-2.5-pro", "chat"),
        ("openai", "gpt-5-search-api", "chat"),
    ],
)
def test_default_kind_rules_over_the_fixture_ids(provider, model_id, kind):
    record = merged_record(model_id, provider=provider)
    apply_policy([record], policy(), {})
    assert record.values["kind"] == kind and record.values["provenance"]["kind"] == "policy"


def test_a_source_kind_wins_over_the_rules_and_a_file_writer_is_never_guessed_chat():
    stated = merged_record("lyria-but-chat", kind="chat")
    writer = merge_model("replicate", "acme/eraser", [layer("replicate", "acme/eraser")])
    writer.extra = {"output": "file"}
    named = merge_model("replicate", "acme/flux-eraser", [layer("replicate", "acme/flux-eraser")])
    named.extra = {"output": "file"}
    apply_policy([stated, writer, named], policy(), {})
    assert stated.values["kind"] == "chat" and stated.values["provenance"]["kind"] == "src"
    assert writer.values["kind"] == "other" and named.values["kind"] == "image"


def test_a_model_priced_only_by_audio_is_an_audio_model_and_one_priced_for_text_is_not():
    hourly = [{"unit": "audio_hours", "usd": "3", "source": "gp"}]
    mixed = [*hourly, {"unit": "input_tokens", "usd": "1", "source": "gp"}]
    voice = merged_record("acme-live-1", prices=hourly)
    talker = merged_record("acme-talk-1", prices=mixed)
    unpriced = merged_record("acme-quiet-1")
    stated = merged_record("acme-live-2", prices=hourly, kind="chat")
    apply_policy([voice, talker, unpriced, stated], policy(), {})
    assert [record.values["kind"] for record in (voice, talker, unpriced, stated)] == ["audio", "chat", "chat", "chat"]


def test_latest_tag_marks_the_newest_of_each_family():
    records = [
        merge_model(
            "x", "a-1", [Layer("s", {"a-1": SourceRecord("a-1", {"release_date": "2025-01-01"}, {"family": "a"})})]
        ),
        merge_model(
            "x", "a-2", [Layer("s", {"a-2": SourceRecord("a-2", {"release_date": "2026-01-01"}, {"family": "a"})})]
        ),
    ]
    apply_policy(records, PolicySettings(), {})
    assert "latest" in records[1].values["tags"] and "latest" not in records[0].values["tags"]


def settled(record_values, model_id="m"):
    record = merged_record(model_id, **record_values)
    apply_policy([record], PolicySettings(), {})
    return record


def test_classify_sorts_created_changed_unchanged_and_vanished():
    same = settled({"display_name": "same"}, "same")
    changed = settled({"display_name": "new"}, "changed")
    created = settled({}, "created")
    classify([same], {}, NOW)  # fingerprints `same`
    snapshot = {
        "same": SnapshotRow(1, same.fingerprint, "active", None),
        "changed": SnapshotRow(2, "old-hash", "active", None),
        "gone": SnapshotRow(3, "h", "active", None),
        "already-gone": SnapshotRow(4, "h", "deprecated", NOW - timedelta(days=3)),
    }
    result = classify([same, changed, created], snapshot, NOW)
    assert [r.model_id for r in result.created] == ["created"]
    assert [r.model_id for r, _ in result.candidates] == ["changed"]
    assert result.unchanged == 1
    assert [model_id for model_id, _ in result.vanished] == ["gone"]
    assert classify([same], snapshot, NOW, authoritative=False).vanished == []


def test_vanished_model_keeps_every_value_and_gains_deprecation():
    old = {**_values(), "status": "active", "replacement_model": "m2"}
    change = describe_vanished("openai", "m", SnapshotRow(7, "h", "active", None), old, NOW)
    assert change.kind == "deprecated" and change.pk == 7 and not change.seen
    values = dict(zip(SYNCED_FIELDS, decode_canonical(change.canonical), strict=True))
    assert values["status"] == "deprecated" and values["deprecated_at"] == NOW
    assert values["replacement_model"] == "m2" and values["input_price"] == Decimal("2.5")
    assert set(change.changes) == {"status", "deprecated_at", "provenance"}


def test_update_without_a_real_difference_is_not_a_change():
    record = settled({"display_name": "n"})
    old = dict(record.values)
    assert describe_update(record, SnapshotRow(1, "stale", "active", None), old) is None
    assert field_changes({"tags": []}, {"tags": None}) == {}


def test_reactivation_is_its_own_kind():
    record = settled({"display_name": "n"})
    old = {**record.values, "status": "deprecated", "deprecated_at": NOW}
    change = describe_update(record, SnapshotRow(1, "h", "deprecated", NOW), old)
    assert change.kind == "reactivated" and change.changes["status"] == ("deprecated", "active")


@pytest.mark.parametrize(
    ("count", "last", "force", "refused"),
    [
        (0, None, False, True),
        (0, 10, True, True),
        (4, 10, False, True),
        (4, 10, True, False),
        (5, 10, False, False),
        (3, None, False, False),
    ],
)
def test_gates(count, last, force, refused):
    assert (check_listing("P", count, last, force) is not None) == refused


def test_last_known_values_stand_in_for_fields_a_listing_sends_unreadable():
    from datetime import date

    from modelsync.sync.merge import LAST_KNOWN, last_known_layer

    rows = {
        "announced": {"status": "deprecated", "provenance": {"status": "openai"}, "deprecated_at": NOW,
                      "shutdown_date": date(2026, 12, 1), "context_window": 8192},
        "vanished": {"status": "deprecated", "provenance": {"status": "disappeared"}, "shutdown_date": None},
    }  # fmt: skip
    unknown = {
        "announced": ("shutdown_date", "deprecated", "context_window"),
        "vanished": ("deprecated",),
        "new": ("x",),
    }
    layer = last_known_layer(unknown, rows)
    assert layer.source == LAST_KNOWN and set(layer.records) == {"announced"}  # nothing known of a new model
    fields = layer.records["announced"].fields
    assert fields == {"shutdown_date": date(2026, 12, 1), "deprecated": True, "deprecated_at": NOW,
                      "context_window": 8192}  # fmt: skip
    # Merged below a listing that sent nothing readable, the model stays deprecated with its date.
    merged = merge_model("openai", "announced", [Layer("openai", {"announced": SourceRecord("announced", {})}), layer])
    assert merged.values["deprecated"] is True and merged.values["provenance"]["shutdown_date"] == LAST_KNOWN
