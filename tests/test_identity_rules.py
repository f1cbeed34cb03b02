"""The pure identity rules (sync/identity.py) and inheritance through them (sync/inherit.py), without a database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from modelsync.fieldspec import PRICES
from modelsync.records import ModelRecord, SourceRecord
from modelsync.sync.identity import ALIAS, FINE_TUNE, SNAPSHOT, identities, ordered, split_stamp, wanted_parents
from modelsync.sync.inherit import Lender
from modelsync.sync.merge import Layer

OWN = frozenset({"manual", "overrides", "mistral", "openai", "last-known"})


@pytest.mark.parametrize(
    ("model_id", "base", "shown"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o", "2024-08-06"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet", "2024-10-22"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo", "0125"),
        ("mistral-large-2512", "mistral-large", "2512"),
        ("gemini-1.5-flash-001", "gemini-1.5-flash", "001"),
        ("antigravity-preview-09-2026", "antigravity-preview", "09-2026"),
        ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash-preview", "05-20"),
    ],
)
def test_a_dated_or_versioned_suffix_is_split_from_the_base(model_id, base, shown):
    stamp = split_stamp(model_id)
    assert stamp is not None and (stamp.base, stamp.shown) == (base, shown)


@pytest.mark.parametrize("model_id", ["gpt-4o", "gpt-3.5-turbo-16k", "llama-3.1-8b", "claude-opus-4-5", "o3"])
def test_an_id_without_a_stamp_has_none(model_id):
    assert split_stamp(model_id) is None


def test_mistral_year_month_stamps_sort_after_older_ones_and_openai_month_days_among_themselves():
    assert split_stamp("x-2512").key > split_stamp("x-2407").key  # type: ignore[union-attr]
    assert split_stamp("x-1106").key > split_stamp("x-0613").key  # type: ignore[union-attr]


def test_a_snapshot_needs_its_base_listed():
    found = identities(["gpt-4o", "gpt-4o-2024-08-06", "mistral-large-2512"], {})
    assert found["gpt-4o-2024-08-06"].snapshot_of == "gpt-4o"
    assert found["gpt-4o-2024-08-06"].relation == SNAPSHOT and found["gpt-4o-2024-08-06"].stamp == "2024-08-06"
    assert found["gpt-4o"].family == "gpt-4o" and found["gpt-4o"].parent is None
    assert found["mistral-large-2512"].parent is None and found["mistral-large-2512"].family is None


def test_a_latest_id_is_an_alias_of_its_stem_or_of_the_newest_snapshot_of_it():
    ids = ["omni-moderation-2024-09-26", "omni-moderation-2023-01-01", "omni-moderation-latest", "o1", "o1-latest"]
    found = identities(ids, {})
    assert found["omni-moderation-latest"].alias_of == "omni-moderation-2024-09-26"
    assert found["o1-latest"].alias_of == "o1"
    assert identities(["chat-latest"], {})["chat-latest"].parent is None  # nothing to point at: no guess


def test_a_fine_tune_names_its_base_whether_or_not_it_is_listed_and_inherits_only_from_a_listed_one():
    tuned = "ft:gpt-4o-mini-2024-07-18:acme::7XSv"
    alone = identities([tuned], {})[tuned]
    assert alone.base_model == "gpt-4o-mini-2024-07-18" and alone.parent is None
    listed = identities([tuned, "gpt-4o-mini-2024-07-18", "gpt-4o-mini"], {})
    assert listed[tuned].parent == "gpt-4o-mini-2024-07-18" and listed[tuned].relation == FINE_TUNE
    assert listed[tuned].family == "gpt-4o-mini"  # fine-tune -> snapshot -> base
    lora = identities(["sql-lora", "Qwen/Qwen3-32B"], {"sql-lora": {"base_model": "Qwen/Qwen3-32B"}}, "vllm")
    assert lora["sql-lora"].base_model == "Qwen/Qwen3-32B" and lora["sql-lora"].source == "vllm"


def test_a_listed_alias_wins_over_a_stamp_and_an_edge_closing_a_cycle_is_dropped():
    # Mistral: mistral-embed is an alias of mistral-embed-2312, whose stamp would make it a snapshot of the alias.
    extras = {"mistral-embed": {"alias_of": "mistral-embed-2312"}}
    found = identities(["mistral-embed-2312", "mistral-embed"], extras, "mistral")
    assert found["mistral-embed"].alias_of == "mistral-embed-2312" and found["mistral-embed"].source == "mistral"
    assert found["mistral-embed-2312"].parent is None
    assert found["mistral-embed"].family == found["mistral-embed-2312"].family == "mistral-embed-2312"
    looping = identities(["a", "b"], {"a": {"alias_of": "b"}, "b": {"alias_of": "a"}})
    assert [looping[i].parent for i in ("a", "b")].count(None) == 1


def test_openrouter_variants_and_aliases_point_at_the_plain_model():
    extras = {
        "openai/gpt-oss-20b": {"canonical_slug": "openai/gpt-oss-20b-20250805"},
        "openai/gpt-oss-20b:free": {"canonical_slug": "openai/gpt-oss-20b-20250805"},
        "~anthropic/claude-sonnet-latest": {"alias_of": "anthropic/claude-sonnet-4.6"},
        "anthropic/claude-sonnet-4.6": {"canonical_slug": "anthropic/claude-4.6-sonnet-20260217"},
    }
    found = identities(list(extras), extras, "openrouter")
    assert found["openai/gpt-oss-20b:free"].alias_of == "openai/gpt-oss-20b"
    assert found["openai/gpt-oss-20b"].parent is None
    assert found["~anthropic/claude-sonnet-latest"].alias_of == "anthropic/claude-sonnet-4.6"


def test_parents_come_before_their_children_in_a_chain():
    extras = {"x-latest": {"alias_of": "x-2024-01-01"}}
    found = identities(["x-latest", "x-2024-01-01", "x"], extras)
    assert ordered(["x-latest", "x-2024-01-01", "x"], found) == ["x", "x-2024-01-01", "x-latest"]
    assert found["x-latest"].relation == ALIAS and found["x-latest"].family == "x"


# --- inheritance ------------------------------------------------------------------------------------------------


def merged(model_id: str, provider: str = "openai", **values: Any) -> ModelRecord:
    """A record as the merge leaves it: values, flags and provenance (each value from `source` unless given)."""
    provenance = dict(values.pop("provenance", {}))
    source = values.pop("source", "models-dev")
    for name in values:
        if name != "capabilities":
            provenance.setdefault(name, source)
    values.setdefault("capabilities", {})
    return ModelRecord(provider, model_id, {**values, "provenance": provenance})


def lend(records: list[ModelRecord], extras: dict | None = None, provider: str = "openai", **options: Any):
    found = identities([record.model_id for record in records], extras or {}, provider)
    by_id = {record.model_id: record for record in records}
    lender = Lender(found, OWN, **options)
    lender.apply([by_id[model_id] for model_id in ordered(list(by_id), found)])
    return by_id


def test_a_snapshot_inherits_missing_facts_and_a_dated_name_but_keeps_its_own_and_never_a_price():
    base = merged(
        "gpt-4o", display_name="GPT-4o", context_window=128000, kind="chat", input_price=Decimal("2.5"),
        capabilities={"vision": True, "tools": True}, provenance={"capabilities.vision": "models-dev"},
    )  # fmt: skip
    snap = merged("gpt-4o-2024-08-06", max_output_tokens=16384, capabilities={"tools": False})
    lend([snap, base])
    values = snap.values
    assert values["context_window"] == 128000 and values["provenance"]["context_window"] == "inherited:gpt-4o"
    assert values["max_output_tokens"] == 16384 and values["provenance"]["max_output_tokens"] == "models-dev"
    assert values["capabilities"] == {"tools": False, "vision": True}
    assert values["provenance"]["capabilities.vision"] == "inherited:gpt-4o"
    assert values["display_name"] == "GPT-4o (2024-08-06)" and values["kind"] == "chat"
    assert values.get("input_price") is None and "input_price" not in values["provenance"]
    assert values["snapshot_of"] == "gpt-4o" and values["family"] == "gpt-4o" and values["alias_of"] is None


def test_an_alias_carries_its_targets_price_group_unless_a_source_prices_the_alias_itself():
    target = merged(
        "mistral-large-2512", "mistral", input_price=Decimal("0.5"), output_price=Decimal("1.5"),
        source="genai-prices", display_name="Mistral Large 3",
    )  # fmt: skip
    fuzzy = merged(
        "mistral-large-latest", "mistral", input_price=Decimal(2), output_price=Decimal(6),
        cache_read_price=Decimal("0.2"), source="genai-prices",
    )  # fmt: skip
    extras = {"mistral-large-latest": {"alias_of": "mistral-large-2512"}}
    lend([fuzzy, target], extras, "mistral")
    values = fuzzy.values
    assert (values["input_price"], values["output_price"]) == (Decimal("0.5"), Decimal("1.5"))
    assert "cache_read_price" not in values  # the target has none: the group moves whole
    assert {values["provenance"][name] for name in ("input_price", "output_price")} == {"inherited:mistral-large-2512"}
    assert values["display_name"] == "Mistral Large 3"

    for own in ("overrides", "manual", "mistral"):
        priced = merged("mistral-large-latest", "mistral", input_price=Decimal(3), source=own)
        again = merged("mistral-large-2512", "mistral", input_price=Decimal("0.5"), source="genai-prices")
        lend([priced, again], extras, "mistral")
        assert priced.values["input_price"] == Decimal(3) and priced.values["provenance"]["input_price"] == own


def test_prices_are_handled_as_the_catalogues_price_fields():
    # Every price field of the catalogue moves with an alias; none is named in the inheritance code.
    target = merged("t", **{name: Decimal(index + 1) for index, name in enumerate(PRICES)})
    alias = merged("t-latest")
    lend([alias, target])
    assert all(alias.values[name] == target.values[name] for name in PRICES)


def test_a_fine_tune_takes_its_bases_facts_and_a_fine_tune_name_but_never_its_price():
    base = merged("gpt-4o-mini-2024-07-18", display_name="GPT-4o mini", context_window=128000,
                  input_price=Decimal("0.15"))  # fmt: skip
    tuned = merged("ft:gpt-4o-mini-2024-07-18:acme::7XSv")
    lend([tuned, base])
    values = tuned.values
    assert values["context_window"] == 128000
    assert values["provenance"]["context_window"] == "inherited:gpt-4o-mini-2024-07-18"
    assert values["display_name"] == "GPT-4o mini fine-tune (acme:7XSv)"
    assert values.get("input_price") is None and values["base_model"] == "gpt-4o-mini-2024-07-18"


def test_chains_resolve_across_chunks_and_the_fallback_fills_only_what_is_still_missing():
    base = merged("x", display_name="X", context_window=1000)
    snap = merged("x-2024-01-01")
    alias = merged("x-latest")
    lonely = merged("y")
    found = identities(["x", "x-2024-01-01", "x-latest", "y"], {"x-latest": {"alias_of": "x-2024-01-01"}})
    fallback = Layer("genai-prices", {m: SourceRecord(m, {"context_window": 5}) for m in ("x-latest", "y")})
    lender = Lender(found, OWN, fallback)
    for chunk in ([base], [snap], [alias, lonely]):  # one model per chunk, parents first
        lender.apply(chunk)
    assert alias.values["context_window"] == 1000
    assert alias.values["provenance"]["context_window"] == "inherited:x-2024-01-01"
    assert alias.values["display_name"] == "X (2024-01-01)"
    assert lonely.values["context_window"] == 5 and lonely.values["provenance"]["context_window"] == "genai-prices"
    assert set(lender.lent) == {"x", "x-2024-01-01"}  # only parents are kept


def test_a_parent_only_the_database_holds_is_still_a_parent_but_never_a_child():
    listed = ["gpt-4o-2024-08-06", "ft:gpt-4o-mini-2024-07-18:acme::x"]
    wanted = wanted_parents(listed, {})
    assert wanted == {"gpt-4o", "gpt-4o-mini-2024-07-18"}
    found = identities(listed, {}, "openai", stored=["gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"])
    assert found["gpt-4o-2024-08-06"].snapshot_of == "gpt-4o"
    assert found["gpt-4o-mini-2024-07-18"].parent is None  # stored: a parent only, not linked further
    assert found["ft:gpt-4o-mini-2024-07-18:acme::x"].family == "gpt-4o-mini-2024-07-18"


def test_a_stored_parent_lends_its_facts_but_not_what_the_policy_decided():
    found = identities(["x-2024-01-01"], {}, "openai", stored=["x"])
    lender = Lender(found, OWN)
    row = {
        "display_name": "x", "kind": "chat", "context_window": 4096, "capabilities": {"tools": True, "streaming": True},
        "provenance": {"display_name": "policy", "kind": "policy", "context_window": "models-dev",
                       "capabilities.tools": "models-dev", "capabilities.streaming": "policy: a rule"},
    }  # fmt: skip
    lender.lend_stored("x", row)
    child = merged("x-2024-01-01")
    lender.apply([child])
    assert child.values["context_window"] == 4096 and child.values["capabilities"] == {"tools": True}
    assert child.values.get("display_name") is None and child.values.get("kind") is None
