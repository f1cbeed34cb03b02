"""LiteLLM's cost map as the lowest catalog layer: exact reading, exact keys per provider, precedence, and syncs
with the fixture map served over real HTTP from a local server (never the internet), on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

import dbread
from fake_provider import LIVE_CONFIG, FakeProviders
from modelsync.records import KIND_HINT, ModelRecord, SourceRecord
from modelsync.services import feeds as feed_service
from modelsync.services.feeds import catalog_status
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import ProviderSpec, load_settings
from modelsync.sources.catalog_data import CatalogCopy, activate, active_fingerprint, litellm_map
from modelsync.sources.catalogs import genai_prices_lookup, models_dev_lookup
from modelsync.sources.feed_parse import LITELLM, parse_catalog
from modelsync.sources.litellm import litellm_limits, litellm_lookup, litellm_schedule
from modelsync.sources.overrides import NO_OVERRIDES
from modelsync.sync.assemble import assemble
from modelsync.sync.merge import Layer, merge_model
from modelsync.sync.policy import apply_policy

FEED = Path(__file__).with_name("fixtures") / "feeds" / "litellm" / "model_prices_and_context_window.json.gz"
TODAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def feed_body() -> bytes:
    return gzip.decompress(FEED.read_bytes())


@pytest.fixture(scope="module")
def lite() -> Any:
    """The fixture map as a sync reads it."""
    return parse_catalog(LITELLM, feed_body(), TODAY).data


def parse(entries: dict[str, Any]) -> Any:
    """A map of the given entries, read from JSON text as the feed is."""
    return parse_catalog(LITELLM, json.dumps(entries).encode(), TODAY).data


def schedule_of(entry_text: str) -> list[dict[str, Any]] | None:
    """The schedule of one entry written as JSON text (so numbers keep their own spelling)."""
    body = ('{"m": {"litellm_provider": "openai", ' + entry_text + "}}").encode()
    return litellm_schedule(parse_catalog(LITELLM, body, TODAY).data["m"])


def by_unit(schedule: list[dict[str, Any]] | None) -> dict[tuple[str, int, bool], str]:
    return {(item["unit"], item.get("above", 0), item.get("batch", False)): item["usd"] for item in schedule or ()}


# --- reading -------------------------------------------------------------------------------------------------------


def test_per_token_prices_become_exact_prices_per_million():
    schedule = schedule_of(
        '"input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05, '
        '"cache_read_input_token_cost": 1.4e-07, "cache_creation_input_token_cost": 3.75e-06'
    )
    assert by_unit(schedule) == {
        ("input_tokens", 0, False): "1.25",
        ("output_tokens", 0, False): "10",
        ("cache_read_tokens", 0, False): "0.14",
        ("cache_write_tokens", 0, False): "3.75",
    }
    # The feed keeps the number's own text: no binary float stands between the file and the price.
    entry = parse_catalog(LITELLM, b'{"m": {"litellm_provider": "x", "input_cost_per_token": 1.25e-06}}', TODAY)
    assert entry.data["m"]["input_cost_per_token"] == Decimal("1.25e-06")


def test_tiers_and_batch_rates_are_kept_and_service_tiers_are_not_the_list_price():
    schedule = schedule_of(
        '"input_cost_per_token": 1.25e-06, "input_cost_per_token_above_200k_tokens": 2.5e-06, '
        '"input_cost_per_token_batches": 6.25e-07, "input_cost_per_token_above_200k_tokens_batches": 1.25e-06, '
        '"output_cost_per_token": 1e-05, "output_cost_per_token_priority": 1.8e-05, '
        '"output_cost_per_token_flex": 5e-06, "input_cost_per_token_above_272k_tokens_ultrafast": 9e-06, '
        '"cache_creation_input_token_cost_above_1hr": 1e-05, "search_context_cost_per_query": {"low": 0.01}'
    )
    assert by_unit(schedule) == {
        ("input_tokens", 0, False): "1.25",
        ("input_tokens", 200000, False): "2.5",
        ("input_tokens", 0, True): "0.625",
        ("input_tokens", 200000, True): "1.25",
        ("output_tokens", 0, False): "10",
        ("cache_write_1h_tokens", 0, False): "10",
    }


def test_per_second_prices_only_where_the_mode_says_what_the_second_is_of():
    whisper = schedule_of(
        '"mode": "audio_transcription", "input_cost_per_second": 0.0001, "output_cost_per_second": 0.0001'
    )
    assert by_unit(whisper) == {("audio_input_hours", 0, False): "0.36"}  # per hour, never divided into tokens
    assert schedule_of('"mode": "chat", "input_cost_per_second": 0.0001') is None
    assert by_unit(schedule_of('"mode": "video_generation", "output_cost_per_second": 0.1')) == {
        ("video_seconds", 0, False): "0.1"
    }
    # Billed per token, with a per-second "estimate" beside it (gpt-4o-transcribe): per token only.
    transcribe = schedule_of(
        '"mode": "audio_transcription", "input_cost_per_token": 2.5e-06, "input_cost_per_audio_token": 6e-06, '
        '"output_cost_per_token": 1e-05, "input_cost_per_second": 0.0001'
    )
    assert "audio_input_hours" not in {unit for unit, _, _ in by_unit(transcribe)}


def test_free_unknown_and_not_per_token():
    # A source that says 0 says free; one that says nothing leaves the price unknown.
    assert by_unit(schedule_of('"input_cost_per_token": 0.0, "output_cost_per_token": 0.0')) == {
        ("input_tokens", 0, False): "0",
        ("output_tokens", 0, False): "0",
    }
    assert schedule_of('"mode": "chat", "max_input_tokens": 1000') is None
    # In a paid model, a 0 cache write is no separate price (those tokens cost the input price), never "free".
    paid = schedule_of('"input_cost_per_token": 2.8e-07, "output_cost_per_token": 4.2e-07, '
                       '"cache_creation_input_token_cost": 0, "output_cost_per_token_batches": 0')  # fmt: skip
    assert by_unit(paid) == {
        ("input_tokens", 0, False): "0.28",
        ("output_tokens", 0, False): "0.42",
        ("output_tokens", 0, True): "0",
    }
    # 0 per token next to a charge per clip is "not charged per token", not free.
    assert schedule_of('"input_cost_per_token": 0, "output_cost_per_token": 0, "output_cost_per_image": 0.04') is None


def test_a_record_states_limits_capabilities_shutdown_and_a_kind_hint(lite):
    found = litellm_lookup(lite, "openai", "", ["gpt-4o", "whisper-1", "gpt-live-1"])
    gpt4o = found["gpt-4o"]
    assert gpt4o.fields["capabilities"] == {"vision": True, "tools": True, "json": True, "pdf": True}
    assert "reasoning" not in gpt4o.fields["capabilities"]  # not stated: unknown, never False
    assert gpt4o.fields["shutdown_date"] == date(2027, 1, 14)
    assert gpt4o.extra == {"kind_hint": "chat"} and found["whisper-1"].extra == {"kind_hint": "audio"}
    assert "context_window" not in gpt4o.fields  # limits are a fallback layer of their own
    limits = litellm_limits(lite, "openai", "", ["gpt-4o", "chat-latest"])
    assert limits["chat-latest"].fields == {"context_window": 400000, "max_output_tokens": 128000}


def test_the_kind_hint_is_below_the_kind_rules_and_above_the_default():
    def merged(model_id: str, hint: str) -> ModelRecord:
        record = SourceRecord(model_id, {}, {KIND_HINT: hint})
        return merge_model("openai", model_id, [Layer(LITELLM, {model_id: record})])

    records = [merged("x-deep-research", "chat"), merged("gpt-live-1", "audio"), merged("plain", "no-such-kind")]
    apply_policy(records, load_settings().policy, {})
    assert [record.values["kind"] for record in records] == ["agent", "audio", "chat"]
    assert all(record.values["provenance"]["kind"] == "policy" for record in records)


# --- keys ------------------------------------------------------------------------------------------------------------

# One API id per provider that LiteLLM's fixture map has under that provider's naming.
KNOWN = {
    "openai": "gpt-5-search-api-2025-10-14",
    "anthropic": "claude-opus-4-5",
    "google": "gemini-2.5-pro",
    "mistral": "glm-5-2",
    "xai": "grok-4.3",
    "groq": "openai/gpt-oss-120b",
    "deepseek": "deepseek-chat",
    "together": "deepseek-ai/DeepSeek-V3",
}


@pytest.mark.parametrize("provider", sorted(KNOWN))
def test_each_provider_reads_its_own_entries_by_exact_key(lite, provider):
    spec = load_settings().registry[provider]
    model_id = KNOWN[provider]
    assert spec.litellm and spec.litellm_prefix in ("", f"{spec.litellm}/")
    found = litellm_lookup(lite, spec.litellm, spec.litellm_prefix, [model_id, model_id + "-2099-01-01"])
    assert set(found) == {model_id}  # no fuzzy matching: a made-up snapshot of a known id is not in it
    assert found[model_id].fields["input_price"] is not None


def test_keys_of_another_provider_or_spelling_are_not_read(lite):
    # A bare Gemini key, or OpenAI's own key read for another provider, is not that provider's entry.
    assert litellm_lookup(lite, "gemini", "gemini/", ["gemini/gemini-2.5-pro"]) == {}
    assert litellm_lookup(lite, "mistral", "mistral/", ["gpt-4o"]) == {}
    assert litellm_lookup(lite, "openai", "", ["gemini/gemini-2.5-pro"]) == {}
    # OpenRouter's mapping is configured, and this fixture map has no OpenRouter entry: nothing is found.
    spec = load_settings().registry["openrouter"]
    assert litellm_lookup(lite, spec.litellm, spec.litellm_prefix, ["openai/gpt-4o"]) == {}
    # A provider without a mapping, or no map at all, reads nothing.
    assert litellm_lookup(lite, "", "", ["gpt-4o"]) == {} and litellm_lookup(None, "openai", "", ["gpt-4o"]) == {}


def test_mistral_glm_is_priced_from_litellm_and_nothing_else_prices_it(lite):
    found = litellm_lookup(lite, "mistral", "mistral/", ["glm-5-2"])["glm-5-2"]
    assert (found.fields["input_price"], found.fields["output_price"]) == (Decimal("1.4"), Decimal("4.4"))
    assert "glm-5-2" not in genai_prices_lookup("mistral", ["glm-5-2"], NOW)
    assert models_dev_lookup("mistral", ["glm-5-2"]) == {}


# --- the layer -------------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_activation() -> Iterator[None]:
    yield
    activate(())
    feed_service._parsed.clear()


def _copy(data: Any, version: str) -> CatalogCopy:
    return CatalogCopy(LITELLM, "feed", data, len(data), None, version)


def test_the_layer_is_lowest_and_exists_only_with_a_copy(lite, clean_activation):
    spec = ProviderSpec(name="openai", label="OpenAI", adapter="openai", base_url="http://x", models_dev="openai",
                        genai_prices="openai", litellm="openai")  # fmt: skip
    listing: dict[str, Any] = {}
    without = assemble(spec, NO_OVERRIDES, listing, NOW)
    assert LITELLM not in [layer.source for layer in without.layers] and litellm_map() is None
    activate([_copy(lite, "a" * 64)])
    with_map = assemble(spec, NO_OVERRIDES, listing, NOW)
    assert [layer.source for layer in with_map.layers][-1] == LITELLM
    assert [layer.source for layer in with_map.fallback] == ["genai-prices", LITELLM]


def test_the_input_digest_moves_with_the_litellm_copy(lite, clean_activation):
    none = active_fingerprint()
    activate([_copy(lite, "a" * 64)])
    one = active_fingerprint()
    activate([_copy(lite, "b" * 64)])
    other = active_fingerprint()
    assert len({none, one, other}) == 3 and "litellm=none" in none and "litellm=feed:" + "b" * 64 in other


# --- syncs -----------------------------------------------------------------------------------------------------------


class _Server:
    """A local HTTP server answering every GET with the current body (the LiteLLM map)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return None

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/litellm.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def feed(monkeypatch: pytest.MonkeyPatch, clean_activation: None) -> Iterator[_Server]:
    server = _Server(feed_body())
    monkeypatch.setenv("MODELSYNC_OFFLINE", "false")
    monkeypatch.setenv("MODELSYNC_FEED_MODELS_DEV_URL", "")
    monkeypatch.setenv("MODELSYNC_FEED_GENAI_PRICES_URL", "")
    monkeypatch.setenv("MODELSYNC_FEED_LITELLM_URL", server.url)
    yield server
    server.close()


@pytest.fixture
def live(live_env: FakeProviders, db_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    monkeypatch.setenv("DATABASE_URL", db_url)
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    return live_env


def sync(engine: Engine, *providers: str) -> Any:
    return run_sync(engine, load_settings(), SyncOptions(providers=providers))


def test_a_sync_with_the_feed_fills_gaps_and_never_overrides_the_other_catalogs(live, feed, engine):
    report = sync(engine, "openai", "mistral")
    assert report.exit_code == 0 and report.catalogs[LITELLM]["source"] == "feed"
    rows = dbread.models_by_ref(engine)

    search = rows["openai/gpt-5-search-api-2025-10-14"]
    assert (search["input_price"], search["output_price"]) == (Decimal("1.25"), Decimal("10"))
    assert search["provenance"]["input_price"] == LITELLM
    latest = rows["openai/chat-latest"]
    assert latest["context_window"] == 400000 and latest["provenance"]["context_window"] == LITELLM
    assert latest["provenance"]["input_price"] == "genai-prices"  # genai-prices prices it: LiteLLM only fills gaps
    glm = rows["mistral/glm-5-2"]
    assert (glm["input_price"], glm["output_price"]) == (Decimal("1.4"), Decimal("4.4"))
    assert glm["provenance"]["input_price"] == LITELLM

    # Where genai-prices or models-dev price a model, theirs is the price (gpt-4o: both agree with LiteLLM anyway).
    for row in rows.values():
        if row["provenance"].get("input_price") == LITELLM:
            assert row["model_id"] not in genai_prices_lookup("openai" if row["provider"] == "openai" else "mistral",
                                                              [row["model_id"]], NOW)  # fmt: skip
    assert rows["openai/gpt-4o"]["provenance"]["input_price"] == "genai-prices"
    # A snapshot's context window comes from its family (models-dev's 400,000), not LiteLLM's prompt-only 272,000.
    snapshot = rows["openai/gpt-5-2025-08-07"]
    assert snapshot["context_window"] == 400000 and snapshot["provenance"]["context_window"] == "inherited:gpt-5"
    # A fine-tune is never priced at its base's LiteLLM price.
    tuned = [row for ref, row in rows.items() if ref.startswith("mistral/ft:")]
    assert tuned and all(row["provenance"].get("input_price") != LITELLM for row in tuned)
    # The kind hint is below the kind rules: a deep-research id stays an agent; gpt-live-1 (realtime) is audio.
    assert rows["openai/o4-mini-deep-research"]["kind"] == "agent"
    assert rows["openai/gpt-live-1"]["kind"] == "audio"


def test_a_changed_map_is_a_new_input_and_the_stored_copy_is_read_offline(live, feed, db_url, engine,
                                                                                    monkeypatch):  # fmt: skip
    assert sync(engine, "mistral").exit_code == 0
    raw = json.loads(feed_body())
    raw["mistral/glm-5-2"]["input_cost_per_token"] = 2e-06
    feed.body = json.dumps(raw).encode()
    assert sync(engine, "mistral").exit_code == 0
    assert dbread.model_row(engine, "mistral", "glm-5-2")["input_price"] == Decimal("2")

    # Offline, the stored copy is still read.
    monkeypatch.setenv("MODELSYNC_OFFLINE", "true")
    activate(())
    feed_service._parsed.clear()
    report = sync(engine, "mistral")
    assert report.catalogs[LITELLM]["source"] == "feed" and report.catalogs[LITELLM]["fetch"] == "offline"
    status = {entry["catalog"]: entry for entry in catalog_status(engine, load_settings(), NOW)}
    assert status[LITELLM]["usedForSync"] is True and status[LITELLM]["note"] is None
    assert status[LITELLM]["models"] == report.catalogs[LITELLM]["models"] > 4000


def test_offline_without_a_stored_copy_there_is_no_litellm_layer(live, engine, settings):
    report = sync(engine, "mistral")
    assert report.exit_code == 0 and report.catalogs[LITELLM]["source"] == "none"
    glm = dbread.model_row(engine, "mistral", "glm-5-2")
    assert glm["input_price"] is None and LITELLM not in glm["provenance"].values()
    status = {entry["catalog"]: entry for entry in catalog_status(engine, settings, NOW)}
    assert status[LITELLM]["usedForSync"] is False and "layer is off" in status[LITELLM]["note"]
