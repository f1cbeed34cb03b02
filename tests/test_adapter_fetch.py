"""Every adapter over real HTTP against the fake provider server: pagination, auth, retries, broken bodies.

Each test goes through `fetch_listings`, the function the sync engine calls, with the provider's base URL and
key pointed at the fake server (`live_env`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_provider import KEYS, PROVIDERS, FakeProviders, fixture_ids
from modelsync.settings import load_settings
from modelsync.sources.live import ListingResult, fetch_listings

# Small page sizes, so that every paginated listing takes several pages.
PAGED_CONFIG = """
[provider.anthropic]
page_size = 5
[provider.google]
page_size = 7
[provider.openrouter]
page_size = 100
"""
# Listing requests each provider makes for the fixture listing with PAGED_CONFIG.
REQUESTS = {
    "openai": 1,
    "anthropic": 3,  # 14 models, 5 a page
    "google": 10,  # 68 models, 7 a page
    "replicate": 3,  # 59 models, 25 a page (the server's size)
    "openrouter": 4,  # 358 models, 100 a page
    "mistral": 1,
    "xai": 2,  # /models and /language-models
    "groq": 1,
    "deepseek": 1,
    "together": 1,
    "ollama": 10,  # /api/tags and one /api/show per model
    "vllm": 1,
}
# A retryable status per provider, as each one really sends them.
RETRYABLE = {
    "openai": 500,
    "anthropic": 529,
    "google": 503,
    "replicate": 429,
    "openrouter": 502,
    "mistral": 429,
    "xai": 500,
    "groq": 429,
    "deepseek": 500,
    "together": 429,
    "ollama": 500,
    "vllm": 500,
}


def fetch(provider: str, clean_env: Path | None = None, config: str = PAGED_CONFIG, **settings) -> ListingResult:
    if clean_env is not None:
        (clean_env / "modelsync.toml").write_text(config)
    settings.setdefault("replicate_full_listing", True)
    messages: list[tuple[str | None, str]] = []
    result = fetch_listings(load_settings(**settings), [provider], lambda name, text: messages.append((name, text)))
    assert all(name == provider for name, _ in messages)
    return result[provider]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_full_listing_every_page_every_exact_id(live_env: FakeProviders, clean_env, provider):
    result = fetch(provider, clean_env)

    assert result.error is None, result.error
    assert list(result.records) == fixture_ids(provider)
    assert len(live_env.requests_for(provider)) == REQUESTS[provider]
    assert result.digest and len(result.digest) == 40


def test_anthropic_pages_follow_after_id_with_the_requested_limit(live_env, clean_env):
    fetch("anthropic", clean_env)
    queries = [request.query for request in live_env.requests_for("anthropic")]
    assert queries == [
        {"limit": "5"},
        {"limit": "5", "after_id": "claude-opus-5"},
        {"limit": "5", "after_id": fixture_ids("anthropic")[9]},
    ]
    assert all(r.headers["anthropic-version"] == "2023-06-01" for r in live_env.requests_for("anthropic"))


def test_default_page_sizes_are_the_api_maximum(live_env):
    for provider in ("anthropic", "google"):
        result = fetch(provider)
        assert list(result.records) == fixture_ids(provider)
    assert live_env.requests_for("anthropic")[0].query == {"limit": "1000"}
    assert live_env.requests_for("google")[0].query == {"pageSize": "1000"}
    result = fetch("openrouter")
    assert len(result.records) == 358
    assert live_env.requests_for("openrouter")[0].query == {"output_modalities": "all"}


def test_gemini_page_tokens_are_passed_back_verbatim(live_env, clean_env):
    fetch("google", clean_env, config="[provider.google]\npage_size = 50\n")
    requests = live_env.requests_for("google")
    assert [r.query for r in requests] == [
        {"pageSize": "50"},
        {"pageSize": "50", "pageToken": "ChVtb2RlbHMvZ2VtaW5pLTQtYXJnb24="},  # the real fixture token
    ]
    assert all(r.headers["x-goog-api-key"] == KEYS["google"] and "key" not in r.query for r in requests)


def test_replicate_cursor_pages_reach_the_third_page(live_env):
    result = fetch("replicate")
    third_page_model = fixture_ids("replicate")[-1]
    assert third_page_model in result.records
    cursors = [r.query.get("cursor") for r in live_env.requests_for("replicate")]
    assert cursors[0] is None and len(set(cursors)) == 3


def test_replicate_never_sends_the_token_to_another_host(live_env):
    live_env.replicate_next_root = "http://localhost:9"  # same machine, different host and port
    result = fetch("replicate")
    assert result.records is None
    assert "sent a next-page link to another host (localhost:9)" in result.error
    assert len(live_env.requests_for("replicate")) == 1


def test_replicate_collections_by_default(live_env):
    result = fetch("replicate", replicate_full_listing=False, replicate_collections=("text-to-image",))
    assert result.error is None
    assert len(result.records) == 8
    assert all(record.fields["kind"] == "image" for record in result.records.values())
    assert [r.path for r in live_env.requests_for("replicate")] == ["/v1/collections/text-to-image"]


def test_replicate_unknown_collection_fails_instead_of_shrinking(live_env):
    result = fetch("replicate", replicate_full_listing=False, replicate_collections=("text-to-image", "nope"))
    assert result.records is None
    assert result.error == "Replicate has no collection 'nope'; fix replicate_collections in modelsync.toml"


def test_openrouter_offset_pages(live_env, clean_env):
    fetch("openrouter", clean_env)
    offsets = [r.query["offset"] for r in live_env.requests_for("openrouter")]
    assert offsets == ["0", "100", "200", "300"]


def test_xai_language_models_enrich_the_listing(live_env):
    result = fetch("xai")
    assert str(result.records["grok-4.20-0309-reasoning"].fields["input_price"]) == "1.25"
    assert {r.path for r in live_env.requests_for("xai")} == {"/v1/models", "/v1/language-models"}


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p not in ("openrouter", "ollama", "vllm")])
def test_wrong_key_is_reported_once_naming_the_variable(live_env, provider):
    live_env.keys[provider] = "the-real-key"
    result = fetch(provider)

    key_var = {"google": "GEMINI_API_KEY", "replicate": "REPLICATE_API_TOKEN"}.get(
        provider, f"{provider.upper()}_API_KEY"
    )
    assert result.records is None
    assert "rejected the key (" in result.error and result.error.endswith(f"check {key_var}")
    assert KEYS[provider] not in result.error
    # Never retried: one request (xAI asks its two endpoints at once, each once).
    assert len(live_env.requests_for(provider)) == (2 if provider == "xai" else 1)


def test_openrouter_rejected_key_is_not_retried(live_env):
    live_env.fail("openrouter", 401, times=None)
    result = fetch("openrouter")
    assert result.error == "OpenRouter rejected the key (401: No auth credentials found); check OPENROUTER_API_KEY"
    assert len(live_env.requests_for("openrouter")) == 1


def test_vllm_started_with_a_key_asks_for_one(live_env, monkeypatch):
    live_env.keys["vllm"] = "vllm-secret"
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    result = fetch("vllm")
    assert result.error == "vLLM requires a key (401: Unauthorized); set VLLM_API_KEY"
    monkeypatch.setenv("VLLM_API_KEY", "vllm-secret")
    assert fetch("vllm").error is None


def test_ollama_behind_a_refusing_proxy(live_env):
    live_env.fail("ollama", 403, times=None, body=b'{"error":"forbidden"}')
    result = fetch("ollama")
    assert result.error == "Ollama refused access (403: forbidden); check the server's access settings"


def test_gemini_missing_key_is_403_and_wrong_key_is_400_not_retried(live_env, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "wrong")
    result = fetch("google")
    assert result.error.startswith("Google rejected the key (400: API key not valid. Please pass a valid API key.)")
    assert len(live_env.requests_for("google")) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_retry_then_success(live_env, provider):
    live_env.fail(provider, RETRYABLE[provider], times=2, headers={"retry-after": "0"})
    result = fetch(provider)

    assert result.error is None, result.error
    assert list(result.records) == fixture_ids(provider)
    # Two failed requests, then the listing (the collections default uses one request per collection).
    expected = {"anthropic": 1, "google": 1, "openrouter": 1}.get(provider, REQUESTS[provider])
    assert len(live_env.requests_for(provider)) == expected + 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_body_fails_the_provider(live_env, provider):
    live_env.fail(provider, 200, times=None, body=b'{"data": [{"id": "half')
    result = fetch(provider)
    assert result.records is None
    assert "with a body that is not valid JSON; nothing was changed" in result.error


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wrong_shape_fails_the_provider_with_what_was_wrong(live_env, provider):
    live_env.fail(provider, 200, times=None, body=b'{"unexpected": true}')
    result = fetch(provider)
    assert result.records is None
    assert f"{load_settings().registry[provider].label} sent a listing modelsync cannot read (" in result.error


@pytest.mark.parametrize(
    ("provider", "path", "after"),
    [
        ("anthropic", "/v1/models", 1),
        ("google", "/v1beta/models", 2),
        ("replicate", "/v1/models", 2),
        ("openrouter", "/models", 3),
        ("xai", "/language-models", 0),
        ("ollama", "/api/show", 4),
    ],
)
def test_a_failure_on_any_page_fails_the_whole_listing(live_env, clean_env, provider, path, after):
    live_env.fail(provider, 500, times=None, after=after, path=path)
    result = fetch(provider, clean_env)
    assert result.records is None
    assert "answered 500" in result.error and "retried 4 times" in result.error


def test_one_provider_failing_does_not_stop_the_others(live_env):
    live_env.fail("anthropic", 500, times=None)
    live_env.fail("google", 200, times=None, body=b"<html>oops</html>")
    results = fetch_listings(load_settings(), list(PROVIDERS), lambda *_: None)
    assert results["anthropic"].error and results["google"].error
    for provider in PROVIDERS:
        if provider not in ("anthropic", "google", "replicate"):
            assert results[provider].error is None and results[provider].records


def test_providers_are_fetched_concurrently(live_env):
    live_env.latency = 0.2  # long enough that sequential fetching could never overlap two requests
    names = ["openai", "mistral", "groq", "deepseek", "together"]
    results = fetch_listings(load_settings(), names, lambda *_: None)
    assert all(results[name].records for name in names)
    assert live_env.max_in_flight == len(names)


def test_provider_without_key_is_skipped_without_a_request(fake, monkeypatch):
    for name, value in fake.env(keys=False).items():
        monkeypatch.setenv(name, value)
    results = fetch_listings(load_settings(), ["anthropic", "ollama"], lambda *_: None)
    assert results["anthropic"].skipped == "catalog only; set ANTHROPIC_API_KEY to add the account's live listing"
    assert results["ollama"].records and not fake.requests_for("anthropic")


def test_empty_listing_is_returned_empty_for_the_gates(live_env):
    for provider in PROVIDERS:
        live_env.models[provider] = []
    live_env.collections["text-to-image"] = {**live_env.collections["text-to-image"], "models": []}
    results = fetch_listings(load_settings(replicate_full_listing=True), list(PROVIDERS), lambda *_: None)
    assert {provider: result.records for provider, result in results.items()} == {
        provider: {} for provider in PROVIDERS
    }
