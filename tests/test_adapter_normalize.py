"""Each adapter's pure normalize over the captured fixture bodies: exact ids and every fact the listing carries."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from fake_provider import FIXTURES, fixture_ids, load
from modelsync.sources import anthropic, gemini, ollama, openai, openai_compat, openrouter, paging, replicate
from modelsync.sources.fields import ListingFormatError
from modelsync.sources.listing import Unreadable, WarningLog
from modelsync.sources.live import listing_digest
from modelsync.sources.validate import check_records


def compat(provider: str, enrichment: str | None = None, body: str = "models.json"):
    return openai_compat.normalize(load(f"{provider}/{body}"), load(enrichment) if enrichment else None)


# --- OpenAI ---------------------------------------------------------------------------------------------------------


def test_openai_ids_shutdown_dates_and_fine_tune_bases():
    records = openai.normalize([load("openai/models.json")])
    assert list(records) == fixture_ids("openai")
    dated = records["gpt-3.5-turbo"]
    assert dated.fields == {"shutdown_date": date(2026, 10, 23), "deprecated": True}
    undated = next(r for r in records.values() if r.fields["shutdown_date"] is None)
    assert undated.fields["deprecated"] is False
    checkpoint = records["ft:gpt-4.1-mini-2025-04-14:acme-robotics:support-triage:OU4JCx6k:ckpt-step-480"]
    assert checkpoint.extra["base_model"] == "gpt-4.1-mini-2025-04-14"
    assert records["ft:gpt-4o-mini-2024-07-18:acme-robotics::7XSvNra2"].extra["base_model"] == "gpt-4o-mini-2024-07-18"
    assert "base_model" not in (records["gpt-3.5-turbo"].extra or {})


def test_openai_without_shutdown_field_says_nothing_about_deprecation():
    records = openai.normalize([{"object": "list", "data": [{"id": "gpt-x", "owned_by": "system"}]}])
    assert records["gpt-x"].fields == {}


# --- Anthropic ------------------------------------------------------------------------------------------------------


def test_anthropic_limits_capabilities_and_lifecycle_from_the_listing():
    pages = [load("anthropic/models_page1.json"), load("anthropic/models_page2.json")]
    records = anthropic.normalize(pages)
    assert list(records) == fixture_ids("anthropic")
    raw = {m["id"]: m for page in pages for m in page["data"]}
    for model_id, record in records.items():
        assert record.fields["context_window"] == raw[model_id]["max_input_tokens"]
        assert record.fields["max_output_tokens"] == raw[model_id]["max_tokens"]
        assert record.fields["display_name"] == raw[model_id]["display_name"]
        caps = raw[model_id]["capabilities"]
        assert record.fields["capabilities"]["vision"] is caps["image_input"]["supported"]
        assert record.fields["capabilities"]["json"] is caps["structured_outputs"]["supported"]
        assert record.fields["capabilities"]["reasoning"] is caps["thinking"]["supported"]
        assert record.fields["capabilities"]["web_search"] is caps["server_tools"]["web_search"]["supported"]
        assert record.fields["deprecated"] is False


def test_anthropic_deprecated_and_retired_lifecycle():
    page = load("anthropic/models_page1.json")
    first = dict(page["data"][0], lifecycle="deprecated", deprecated_at="2026-09-01T00:00:00Z")
    first["retires_at"] = "2027-03-01T00:00:00Z"
    second = dict(page["data"][1], lifecycle="retired")
    records = anthropic.normalize([{"data": [first, second], "has_more": False}])
    record = records[first["id"]]
    assert record.fields["deprecated"] is True
    assert record.fields["deprecated_at"] == datetime(2026, 9, 1, tzinfo=UTC)
    assert record.fields["shutdown_date"] == date(2027, 3, 1)
    assert records[second["id"]].fields["deprecated"] is True
    assert records[second["id"]].extra["lifecycle"] == "retired"


def test_anthropic_has_more_without_a_new_cursor_is_a_format_error():
    pages = paging.AfterId("http://127.0.0.1:9/v1/models", 5)
    where = "page 1 of the model listing"
    with pytest.raises(ListingFormatError, match="says has_more but gives no last_id"):
        pages.next({"data": [], "has_more": True, "last_id": None}, pages.first(), where)
    assert pages.next({"has_more": False, "last_id": "x"}, pages.first(), where) is None


# --- Gemini ---------------------------------------------------------------------------------------------------------


def test_gemini_ids_limits_and_kinds_from_generation_methods():
    records = gemini.normalize([load("google/models_page1.json"), load("google/models_page2.json")])
    assert list(records) == fixture_ids("google") and len(records) == 68
    flash = records["gemini-2.5-flash"]
    assert flash.fields["context_window"] == 1048576 and flash.fields["max_output_tokens"] == 65536
    assert flash.fields["capabilities"] == {"reasoning": True, "batch": True}
    assert flash.fields["kind"] is None
    assert records["gemini-embedding-001"].fields["kind"] == "embedding"
    assert records["imagen-4.0-generate-001"].fields["kind"] == "image"
    assert records["veo-3.1-generate-preview"].fields["kind"] == "video"
    assert records["gemini-3.1-flash-live-preview"].fields["kind"] == "audio"
    assert records["lyria-realtime-exp"].fields["kind"] == "audio"
    # aqa has no method that generates content (only generateAnswer): no chat model. Lyria 3 and Nano Banana
    # generate through generateContent, so the methods leave them to the kind rules.
    assert records["aqa"].fields["kind"] == "other"
    assert records["lyria-3-pro-preview"].fields["kind"] is None
    assert records["nano-banana-pro-preview"].fields["kind"] is None
    # `thinking` is only sent when true: its absence is unknown, not False.
    assert "reasoning" not in records["gemini-2.5-flash-image"].fields["capabilities"]
    assert records["gemma-4-31b-it"].fields["capabilities"]["batch"] is False


def test_gemini_empty_page_and_an_entry_without_a_name_is_skipped_with_a_warning():
    assert gemini.normalize([{}]) == {}
    records = gemini.normalize([{"models": [{"displayName": "x"}, {"name": "models/"}, {"name": "models/g-1"}]}])
    assert list(records) == ["g-1"]
    assert records.warnings.kept == [
        "page 1 of the model listing, entry #1: it has no `name`; the entry is skipped",
        "page 1 of the model listing, entry #2: its name is empty; the entry is skipped",
    ]


# --- Replicate ------------------------------------------------------------------------------------------------------


def test_replicate_full_listing_ids_are_owner_slash_name():
    pages = [load(f"replicate/models_page{n}.json") for n in (1, 2, 3)]
    records = replicate.normalize(pages)
    assert list(records) == fixture_ids("replicate") and len(records) == 59
    assert records["black-forest-labs/flux-schnell"].extra == {"is_official": True, "output": "file"}
    assert "output" not in (records["ndreca/hunyuan3d-2.1-test"].extra or {})  # no output schema: nothing said


def test_replicate_output_schema_says_whether_a_model_writes_files():
    def item(output):
        schema = {"components": {"schemas": {"Output": output}}} if output is not None else {}
        return {"owner": "o", "name": "n", "latest_version": {"openapi_schema": schema}}

    url = {"type": "string", "format": "uri"}
    assert replicate.writes_files(item(url))
    assert replicate.writes_files(item({"type": "array", "items": url}))
    # A language model streams strings: no file.
    text = {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"}
    assert not replicate.writes_files(item(text))
    assert not replicate.writes_files(item(None)) and not replicate.writes_files({"latest_version": "garbage"})


def test_replicate_collections_union_with_kind_and_membership():
    image = load("replicate/collection_text-to-image.json")
    official = {"slug": "official", "models": [image["models"][0]]}
    records = replicate.normalize_collections([image, official])
    assert set(records) == {f"{m['owner']}/{m['name']}" for m in image["models"]}
    first = records[f"{image['models'][0]['owner']}/{image['models'][0]['name']}"]
    assert first.fields["kind"] == "image" and first.extra["collections"] == ["official", "text-to-image"]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("http://127.0.0.1:9/replicate/v1/models?cursor=abc", "http://127.0.0.1:9/replicate/v1/models?cursor=abc"),
        ("/replicate/v1/models?cursor=abc", "http://127.0.0.1:9/replicate/v1/models?cursor=abc"),
        ("https://api.replicate.com/v1/models?cursor=abc", "http://127.0.0.1:9/replicate/v1/models?cursor=abc"),
        ("https://evil.example/v1/models?cursor=abc", None),
        ("http://127.0.0.1:10/replicate/v1/models", None),
    ],
)
def test_replicate_next_links_stay_on_the_configured_host(link, expected):
    assert replicate.safe_next(link, "http://127.0.0.1:9/replicate", "https://api.replicate.com") == expected


# --- OpenRouter -----------------------------------------------------------------------------------------------------


def test_openrouter_prices_are_exactly_per_token_times_a_million():
    body = load("openrouter/models.json")
    records = openrouter.normalize([body])
    assert list(records) == fixture_ids("openrouter")
    for raw in body["data"]:
        fields = records[raw["id"]].fields
        prompt = raw["pricing"]["prompt"]
        if prompt == "-1":
            assert fields["input_price"] is None and fields["output_price"] is None
            continue
        assert fields["input_price"] == Decimal(prompt) * 1_000_000
        assert fields["output_price"] == Decimal(raw["pricing"]["completion"]) * 1_000_000
        if "input_cache_write" in raw["pricing"]:
            assert fields["cache_write_price"] == Decimal(raw["pricing"]["input_cache_write"]) * 1_000_000
    # An awkward one: 0.000000083333 per token is 0.083333 per 1M, not a float approximation.
    assert records["google/gemini-3.5-flash"].fields["cache_write_price"] == Decimal("0.083333")


def test_openrouter_limits_capabilities_modalities_and_expiration():
    body = load("openrouter/models.json")
    raw = dict(body["data"][0], expiration_date="2026-12-31")
    record = openrouter.normalize([{"data": [raw]}])[raw["id"]]
    assert record.fields["context_window"] == raw["context_length"]
    assert record.fields["max_output_tokens"] == raw["top_provider"]["max_completion_tokens"]
    assert record.fields["modalities_in"] == ["image", "text"]
    assert record.fields["capabilities"]["tools"] is True and record.fields["capabilities"]["vision"] is True
    assert record.fields["deprecated"] is True and record.fields["shutdown_date"] == date(2026, 12, 31)
    plain = openrouter.normalize([{"data": [dict(raw, supported_parameters=["temperature"])]}])[raw["id"]]
    assert "tools" not in plain.fields["capabilities"]  # never set False from an absent parameter


# --- OpenAI-compatible ----------------------------------------------------------------------------------------------


def test_mistral_capabilities_limits_and_alias_groups():
    records = compat("mistral")
    assert list(records) == fixture_ids("mistral") and len(records) == 64
    codestral = records["codestral-2508"]
    assert codestral.fields["kind"] == "chat" and codestral.fields["context_window"] == 256000
    assert codestral.fields["capabilities"]["tools"] is True and codestral.fields["capabilities"]["fim"] is True
    assert codestral.fields["deprecated"] is False
    assert "alias_of" not in codestral.extra
    for alias in ("codestral-latest", "mistral-code-latest", "mistral-code-fim-latest"):
        assert records[alias].extra["alias_of"] == "codestral-2508"
    assert records["mistral-moderation-2603"].fields["kind"] == "moderation"
    assert records["voxtral-mini-tts-2603"].fields["kind"] == "audio"
    assert records["mistral-ocr-3"].fields["kind"] == "other"
    assert records["mistral-ocr-3"].fields["display_name"] == "Mistral OCR 3.0"
    assert records["codestral-latest"].fields["display_name"] is None  # `name` is an id there, not a name
    # One canonical entry per alias group, and every group points at a listed id.
    assert {r.extra["alias_of"] for r in records.values() if r.extra and "alias_of" in r.extra} <= set(records)
    fine_tune = records["ft:ministral-8b-2512:778565ac:20260914:e1536a15"]
    assert fine_tune.extra["base_model"] == "ministral-8b-2512"


def test_mistral_deprecation_and_replacement():
    body = load("mistral/models.json")
    card = dict(
        body["data"][0],
        deprecation="2026-11-30T12:00:00Z",
        deprecation_replacement_model="codestral-2609",
    )
    record = openai_compat.normalize({"data": [card]})[card["id"]]
    assert record.fields["deprecated"] is True
    assert record.fields["deprecated_at"] == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert record.fields["replacement_model"] == "codestral-2609"


def test_xai_prices_are_cents_per_100m_tokens_merged_by_id():
    records = compat("xai", "xai/language_models.json")
    assert list(records) == fixture_ids("xai") and len(records) == 14
    language = {m["id"]: m for m in load("xai/language_models.json")["models"]}
    for model_id, raw in language.items():
        fields = records[model_id].fields
        assert fields["input_price"] == Decimal(raw["prompt_text_token_price"]) * Decimal("0.0001")
        assert fields["output_price"] == Decimal(raw["completion_text_token_price"]) * Decimal("0.0001")
        assert records[model_id].extra.get("aliases", []) == sorted(raw["aliases"])
    assert records["grok-4.20-0309-reasoning"].fields["input_price"] == Decimal("1.25")
    image_only = next(model_id for model_id in records if model_id not in language)
    assert "input_price" not in records[image_only].fields


def test_groq_limits_and_active_flag():
    records = compat("groq")
    assert list(records) == fixture_ids("groq")
    whisper = records["whisper-large-v3-turbo"]
    assert whisper.fields["context_window"] == 448 and whisper.fields["max_output_tokens"] == 448
    assert whisper.fields["deprecated"] is False
    inactive = openai_compat.normalize({"data": [dict(load("groq/models.json")["data"][1], active=False)]})
    assert next(iter(inactive.values())).fields["deprecated"] is True


@pytest.mark.parametrize("body", ["models.json", "models_extended_unverified.json"])
def test_deepseek_both_shapes(body):
    records = compat("deepseek", body=body)
    assert list(records) == ["deepseek-chat", "deepseek-reasoner", "deepseek-v4-flash", "deepseek-v4-pro"]
    reasoner = records["deepseek-reasoner"]
    if body == "models.json":
        assert reasoner.fields["context_window"] is None and reasoner.fields["capabilities"] == {}
    else:
        assert reasoner.fields["display_name"] == "DeepSeek Reasoner"
        assert reasoner.fields["context_window"] == 1000000 and reasoner.fields["max_output_tokens"] == 384000
        assert reasoner.fields["capabilities"]["reasoning"] is True


def test_together_bare_array_prices_per_million_and_types():
    records = compat("together")
    assert list(records) == fixture_ids("together") and len(records) == 29
    first = load("together/models.json")[0]
    fields = records[first["id"]].fields
    assert fields["input_price"] == Decimal("0.3") and fields["output_price"] == Decimal("1.2")
    assert fields["cache_read_price"] == Decimal("0.06") and fields["kind"] == "chat"
    assert fields["context_window"] == first["context_length"]
    flux = records["black-forest-labs/FLUX.1-schnell"].fields
    assert flux["kind"] == "image"
    assert "input_price" not in flux  # zero token prices of an image model are "not priced per token"


def test_vllm_lora_adapter_inherits_base_and_context():
    records = compat("vllm")
    assert records["Qwen/Qwen3-32B"].fields["context_window"] == 40960
    lora = records["sql-lora"]
    assert lora.extra["base_model"] == "Qwen/Qwen3-32B" and lora.fields["context_window"] == 40960
    assert "created" not in json.dumps(lora.extra)


def test_compat_listing_without_a_list_is_a_format_error_and_an_entry_without_an_id_is_skipped():
    with pytest.raises(ListingFormatError, match="has no `data` list"):
        openai_compat.normalize({"object": "list"})
    with pytest.raises(ListingFormatError, match="entry #2 is not an object"):
        openai_compat.normalize([{"id": "a"}, "b"])
    records = openai_compat.normalize({"data": [{"object": "model"}, {"id": "a"}, {"id": " "}]})
    assert list(records) == ["a"]
    assert records.warnings.total == 2
    assert records.warnings.kept[0] == "the model listing, entry #1: it has no `id`; the entry is skipped"


# --- Ollama ---------------------------------------------------------------------------------------------------------


def test_ollama_tags_and_show_capabilities_and_context():
    shows = {
        path.stem.removeprefix("show_").replace("--", ":"): json.loads(path.read_text())
        for path in (FIXTURES / "ollama").glob("show_*.json")
    }
    records = ollama.normalize(load("ollama/tags.json"), shows)
    assert list(records) == fixture_ids("ollama")
    qwen = records["qwen3:8b"].fields
    assert qwen["kind"] == "chat" and qwen["context_window"] == 40960
    assert qwen["capabilities"] == {"vision": False, "tools": True, "reasoning": True, "fim": False}
    assert records["nomic-embed-text:latest"].fields["kind"] == "embedding"
    assert records["gemma3:12b"].fields["context_window"] == 131072
    assert records["gpt-oss:120b-cloud"].extra["remote_host"] == "https://ollama.com:443"
    assert records["llama3.2:3b"].fields == {"kind": None, "capabilities": {}, "context_window": None}


def test_listing_digest_ignores_order_and_request_time_fields():
    body = load("mistral/models.json")
    again = {"data": [dict(card, created=card["created"] + 3600) for card in reversed(body["data"])]}
    assert listing_digest(openai_compat.normalize(body)) == listing_digest(openai_compat.normalize(again))
    changed = {"data": [dict(body["data"][0], max_context_length=128000), *body["data"][1:]]}
    assert listing_digest(openai_compat.normalize(body)) != listing_digest(openai_compat.normalize(changed))


# --- lifecycle values that cannot be read -------------------------------------------------------------------------


def test_unreadable_lifecycle_values_are_unknown_never_not_deprecated():
    records = openai.normalize([{"data": [{"id": "a", "shutdown_date": "soon"}, {"id": "b", "shutdown_date": 1}]}])
    for model_id in "ab":
        assert isinstance(records[model_id].fields["shutdown_date"], Unreadable)
        assert isinstance(records[model_id].fields["deprecated"], Unreadable)
    router = openrouter.normalize([{"data": [{"id": "r", "expiration_date": "next year"}]}])["r"].fields
    assert isinstance(router["shutdown_date"], Unreadable) and isinstance(router["deprecated"], Unreadable)
    page = {
        "data": [{"id": "c", "lifecycle": "sunsetting"}, {"id": "d", "lifecycle": "Deprecated", "retires_at": "x"}],
        "has_more": False,
    }
    claude = anthropic.normalize([page])
    assert claude["c"].fields["deprecated"] == Unreadable("sunsetting", "not a known lifecycle")
    assert claude["d"].fields["deprecated"] is True and isinstance(claude["d"].fields["shutdown_date"], Unreadable)
    compat = openai_compat.normalize(
        {
            "data": [
                {"id": "m1", "deprecation": "garbage"},
                {"id": "m2", "deprecation": "garbage", "archived": True},
                {"id": "m3", "deprecation": None},
                {"id": "g1", "active": "yes"},
                {"id": "g2", "active": False},
            ]
        }
    )
    assert isinstance(compat["m1"].fields["deprecated"], Unreadable)
    assert compat["m2"].fields["deprecated"] is True  # another field says so: deprecated whatever the date is
    assert compat["m3"].fields["deprecated"] is False
    assert isinstance(compat["g1"].fields["deprecated"], Unreadable)
    assert compat["g2"].fields["deprecated"] is True

    checked = check_records(compat, WarningLog())
    assert "deprecated" not in checked.records["m1"].fields and "deprecated_at" not in checked.records["m1"].fields
    assert checked.dropped == {"m1": ("deprecated_at", "deprecated"), "m2": ("deprecated_at",), "g1": ("deprecated",)}


def test_a_repeated_id_keeps_its_first_entry_in_every_shape_with_a_warning():
    first, second = {"id": "x", "display_name": "First"}, {"id": "x", "display_name": "Second"}
    compat = openai_compat.normalize({"data": [first, second]})
    assert compat["x"].fields["display_name"] == "First" and compat.warnings.total == 1
    tags = {"models": [{"model": "t:1", "details": {"family": "a"}}, {"model": "t:1", "details": {"family": "b"}}]}
    local = ollama.normalize(tags, {})
    assert local["t:1"].extra == {"family": "a"} and local.warnings.total == 1
    image = load("replicate/collection_text-to-image.json")
    doubled = dict(image, models=[image["models"][0], *image["models"]])
    members = replicate.normalize_collections([doubled, {"slug": "official", "models": [image["models"][0]]}])
    assert members.warnings.total == 1  # the repeat inside one collection; a second collection is not a repeat
