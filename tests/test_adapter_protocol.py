"""The adapter protocol end to end: the registry as the only list of adapters, and each adapter's error quirks
applied by the shared HTTP client (over real HTTP to the fake provider server).
"""

from __future__ import annotations

import json

import pytest

from fake_provider import FIXTURES, KEYS, SPEND_LIMIT, FakeProviders
from modelsync.errors import ConfigError
from modelsync.settings import load_settings
from modelsync.sources.adapter import ListingAdapter
from modelsync.sources.live import fetch_listings
from modelsync.sources.registry import ADAPTERS, adapter_for, check_adapters

ACME = """
[provider.acme]
label = "Acme AI"
adapter = "{adapter}"
base_url = "{base_url}"
base_url_env = "ACME_BASE_URL"
key_env = ["ACME_API_KEY"]
"""


def fetch(settings, provider: str):
    return fetch_listings(settings, [provider], lambda *_: None)[provider]


# --- the registry ---------------------------------------------------------------------------------------------------


def test_every_bundled_row_names_a_registered_adapter():
    settings = load_settings()
    check_adapters(settings)
    assert {spec.adapter for spec in settings.registry.values()} == set(ADAPTERS)
    assert all(isinstance(adapter, ListingAdapter) for adapter in ADAPTERS.values())
    assert adapter_for(settings.registry["xai"]) is ADAPTERS["openai_compat"]


def test_an_unknown_adapter_is_a_config_error_naming_the_row_the_adapter_and_the_valid_ones(clean_env):
    (clean_env / "modelsync.toml").write_text(ACME.format(adapter="openai-compat", base_url="https://acme.example/v1"))
    settings = load_settings()  # the row is read as it is; the registry decides which adapters exist

    with pytest.raises(ConfigError) as caught:
        check_adapters(settings)

    message = caught.value.message
    assert "[provider.acme] names adapter 'openai-compat'" in message
    assert "Valid adapters: anthropic, gemini, ollama, openai, openai_compat, openrouter, replicate." in message
    assert caught.value.exit_code == 4
    with pytest.raises(ConfigError, match=r"\[provider.acme\] names adapter 'openai-compat'"):
        adapter_for(settings.registry["acme"])


def test_fetch_listings_refuses_an_unknown_adapter_before_any_request(live_env: FakeProviders, clean_env):
    # The bad row is not even among the providers asked for: a broken registry stops the run up front.
    (clean_env / "modelsync.toml").write_text(ACME.format(adapter="nope", base_url=live_env.base_url("xai")))
    with pytest.raises(ConfigError, match=r"\[provider.acme\] names adapter 'nope'"):
        fetch_listings(load_settings(), ["openai", "anthropic"], lambda *_: None)
    assert live_env.requests == []


# --- error quirks, by the adapter that owns them --------------------------------------------------------------------


def test_anthropic_spend_limit_429_is_not_retried(live_env):
    live_env.fail("anthropic", 429, times=None, body=json.dumps(SPEND_LIMIT).encode(), headers={"retry-after": "0"})
    result = fetch(load_settings(), "anthropic")
    assert result.records is None and len(live_env.requests_for("anthropic")) == 1
    assert result.error.startswith("Anthropic refused the listing (429: You have reached your specified API usage")
    assert "raise the limit or add credits in the Anthropic console" in result.error


def test_the_same_429_from_another_adapter_is_a_rate_limit_and_retried(live_env):
    live_env.fail("openai", 429, times=None, body=json.dumps(SPEND_LIMIT).encode(), headers={"retry-after": "0"})
    result = fetch(load_settings(), "openai")
    assert len(live_env.requests_for("openai")) == 5
    assert result.error == (
        "OpenAI rate limited the requests for the model listing (429), retried 4 times; try again later"
    )


def test_a_generic_anthropic_429_is_retried(live_env):
    live_env.fail("anthropic", 429, times=2, headers={"retry-after": "0"})
    result = fetch(load_settings(), "anthropic")
    assert result.error is None and len(live_env.requests_for("anthropic")) == 3


def test_xai_exhausted_credits_are_not_retried(live_env):
    live_env.fail("xai", 429, times=None, body=(FIXTURES / "xai/errors/429.json").read_bytes())
    result = fetch(load_settings(), "xai")
    assert "spend limit or credits are exhausted" in result.error and "in the xAI console" in result.error
    assert len(live_env.requests_for("xai")) == 2  # /models and /language-models, each once


def test_a_compatible_row_pointing_at_an_xai_style_server_gets_xais_quirks(live_env, clean_env, monkeypatch):
    # No code knows "acme": the quirks come with the openai_compat adapter and are recognised by the answer.
    (clean_env / "modelsync.toml").write_text(ACME.format(adapter="openai_compat", base_url="http://unused.example"))
    monkeypatch.setenv("ACME_BASE_URL", live_env.base_url("xai"))
    monkeypatch.setenv("ACME_API_KEY", "not-the-xai-key")

    result = fetch(load_settings(), "acme")

    assert result.error.startswith("Acme AI rejected the key (400: Incorrect API key provided")
    assert result.error.endswith("check ACME_API_KEY")
    assert len(live_env.requests_for("xai")) == 1

    monkeypatch.setenv("ACME_API_KEY", KEYS["xai"])
    live_env.fail("xai", 429, times=None, body=(FIXTURES / "xai/errors/429.json").read_bytes())
    result = fetch(load_settings(), "acme")
    assert "spend limit or credits are exhausted" in result.error
    assert len(live_env.requests_for("xai")) == 2


def test_gemini_bad_key_is_an_auth_failure_only_for_gemini(live_env):
    body = (FIXTURES / "google/errors/400_api_key_invalid.json").read_bytes()
    live_env.fail("google", 400, times=None, body=body)
    live_env.fail("openai", 400, times=None, body=body)
    results = fetch_listings(load_settings(), ["google", "openai"], lambda *_: None)
    assert results["google"].error.startswith("Google rejected the key (400: API key not valid.")
    assert results["openai"].error == (
        "OpenAI refused the request for the model listing (400: API key not valid. Please pass a valid API key.)"
    )
