"""Hostile provider answers end to end: the real CLI over real HTTP to the fake provider server, on SQLite and
PostgreSQL (issue 8, items 2 and 3).

One bad value never sinks a provider: out-of-range limits and prices, NUL bytes, 10 KB ids and terminal escapes
are dropped with warnings that name the provider, the model and the field, the rest of each record and every
other record is applied, and the run exits 0. Unreadable lifecycle values are unknown, never "not deprecated".
A listing that trickles, inflates or never ends is cut off at the configured limit, naming the setting.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
import shutil
import time
import tracemalloc
import zlib
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import dbread
from fake_provider import LIVE_CONFIG, PROVIDERS, REGISTRY, FakeProviders, fixture_ids, fixture_models
from modelsync.db.engine import create_db_engine
from modelsync.db.tables import metadata, sync_run
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings
from modelsync.sources.live import fetch_all, fetch_listings

HUGE = 1e30  # a JSON number far past 64 bits: `context_length: 1e30`
ANSI = "\x1b[31mEvil\x1b[0m"
NUL_ID = "evil\x00id"
LONG_ID = "x" * 10_240
BIG = "hostile-big"
PG_URL = os.environ.get("MODELSYNC_TEST_POSTGRES_URL", "").strip()  # as conftest reads it


@pytest.fixture
def hostile(live_env: FakeProviders, db_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    """Every key set against the fake server, the test database as DATABASE_URL, small pages."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    return live_env


def entry(provider: str, model_id: str) -> dict[str, Any]:
    """A listing entry of `provider`'s shape for `model_id`, carrying every hostile value that shape can hold."""
    compat = {"id": model_id, "object": "model", "owned_by": "\x1b[2Jowner", "max_completion_tokens": 1024}
    shapes: dict[str, dict[str, Any]] = {
        "openai": {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "\x1b[2Jsystem"},
        "anthropic": {
            "type": "model",
            "id": model_id,
            "display_name": ANSI,
            "created_at": "2026-01-01T00:00:00Z",
            "max_input_tokens": HUGE,
            "max_tokens": 8192,
            "lifecycle": "active",
        },
        "google": {
            "name": f"models/{model_id}",
            "displayName": ANSI,
            "inputTokenLimit": HUGE,
            "outputTokenLimit": 8192,
            "supportedGenerationMethods": ["generateContent"],
        },
        "replicate": {"owner": "hostile", "name": model_id, "is_official": False, "run_count": 2**70},
        "openrouter": {
            "id": model_id,
            "name": ANSI,
            "context_length": HUGE,
            "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
            "pricing": {"prompt": "1e22", "completion": "0.000002"},
            "top_provider": {"context_length": HUGE, "max_completion_tokens": 4096},
        },
        "mistral": {**compat, "display_name": ANSI, "max_context_length": HUGE},
        "xai": dict(compat),
        "groq": {**compat, "display_name": ANSI, "context_window": HUGE, "active": True},
        "deepseek": {**compat, "display_name": ANSI, "context_window": HUGE},
        "together": {
            "id": model_id,
            "type": "chat",
            "display_name": ANSI,
            "context_length": HUGE,
            "pricing": {"input": "1e22", "output": 0.5},
        },
        "ollama": {"name": model_id, "model": model_id, "details": {"family": "llama"}},
        "vllm": {**compat, "display_name": ANSI, "max_model_len": HUGE},
    }
    return shapes[provider]


def stored_id(provider: str, model_id: str) -> str:
    return f"hostile/{model_id}" if provider == "replicate" else model_id


def poison(fake: FakeProviders, provider: str) -> None:
    """Add the hostile entries to a provider's listing: one carrying bad values, a NUL id, a 10 KB id, a repeat."""
    listing = list(fake.models[provider])
    repeat = copy.deepcopy(listing[0])  # right after its original, so no page boundary falls between them
    for key in ("display_name", "displayName", "name"):
        if key in repeat and provider not in ("google", "replicate", "ollama"):
            repeat[key] = "Second copy"
    listing.insert(1, repeat)
    listing += [entry(provider, BIG), entry(provider, NUL_ID), entry(provider, LONG_ID)]
    fake.models[provider] = listing
    if provider == "xai":
        fake.xai_language.append({"id": BIG, "prompt_text_token_price": "1e22", "completion_text_token_price": 12500})
    if provider == "ollama":
        fake.ollama_shows[BIG] = {
            "capabilities": ["completion"],
            "model_info": {"general.architecture": "llama", "llama.context_length": HUGE},
        }


# What each shape's hostile record still carries once its bad values are dropped (its other fields are kept).
KEPT: dict[str, dict[str, Any]] = {
    "anthropic": {"max_output_tokens": 8192},
    "google": {"max_output_tokens": 8192},
    "openrouter": {"max_output_tokens": 4096, "output_price": Decimal(2)},
    "mistral": {"max_output_tokens": 1024},
    "xai": {"max_output_tokens": 1024, "output_price": Decimal("1.25")},
    "groq": {"max_output_tokens": 1024},
    "deepseek": {"max_output_tokens": 1024},
    "together": {"output_price": Decimal("0.5")},
    "ollama": {"kind": "chat"},
    "vllm": {"max_output_tokens": 1024},
}
# The fields of the hostile record whose listed value must be dropped, per shape.
DROPPED: dict[str, tuple[str, ...]] = {
    "anthropic": ("context_window", "display_name"),
    "google": ("context_window", "display_name"),
    "openrouter": ("context_window", "display_name", "input_price"),
    "mistral": ("context_window", "display_name"),
    "xai": ("input_price",),
    "groq": ("context_window", "display_name"),
    "deepseek": ("context_window", "display_name"),
    "together": ("context_window", "display_name", "input_price"),
    "ollama": ("context_window",),
    "vllm": ("context_window", "display_name"),
}


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "modelsync.sources" and r.levelno == logging.WARNING]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hostile_values_are_dropped_with_warnings_and_the_provider_still_syncs(hostile, engine, cli, caplog, provider):
    poison(hostile, provider)
    label = REGISTRY[provider].label

    with caplog.at_level(logging.WARNING, logger="modelsync.sources"):
        result = cli("sync", "-p", provider)

    assert result.code == 0, result
    rows = dbread.models_by_ref(engine, provider)
    big = stored_id(provider, BIG)
    assert sorted(rows) == sorted(f"{provider}/{model_id}" for model_id in [*fixture_ids(provider), big])
    row = rows[f"{provider}/{big}"]
    for name in DROPPED.get(provider, ()):
        # Nothing else knows this made-up model: a dropped value is unknown (the policy names it by its id).
        assert row["provenance"].get(name) != provider, name
    assert row["context_window"] is None and row["input_price"] is None
    assert row["display_name"] == big
    for name, value in KEPT.get(provider, {}).items():
        assert row[name] == value, name
        assert row["provenance"][name] == provider, name
    logged = warnings_in(caplog)
    if "owned_by" in entry(provider, BIG):  # a terminal escape in an extra: dropped too
        assert "owned_by" not in (row["extra"] or {})
        assert any(line.startswith(f"{label}: model {big}: extra owned_by ") for line in logged), logged
    nul = stored_id(provider, "evil\\x00id")
    assert f"{label}: model {nul} skipped: its id contains a control character (\\x00)" in logged, logged
    assert any("skipped: its id is longer than 512 characters" in line for line in logged), logged
    assert any("is listed more than once; the first entry is kept" in line for line in logged), logged
    for name in DROPPED.get(provider, ()):
        assert any(line.startswith(f"{label}: model {big}: {name} ") and " dropped: " in line for line in logged), name
    assert all("\x00" not in line and "\x1b" not in line and len(line) < 400 for line in logged)
    # The warnings are in the summary the CLI prints and in the run it records, not only in the log.
    assert "value(s) dropped while reading the listing" in result.out and nul in result.out
    [run] = dbread.rows(engine, sync_run)
    stored = next(entry for entry in run["summary"]["providers"] if entry["provider"] == provider)
    assert stored["warning_count"] >= len(DROPPED.get(provider, ())) + 3
    assert any(f"model {nul} skipped" in line for line in stored["warnings"])


# Columns that hold the time of the sync (and the fingerprint, which covers deprecated_at) or a surrogate key.
_TIMES = {"id", "created_at", "updated_at", "last_verified", "deprecated_at", "content_hash"}


def _timeless(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in _TIMES}


@pytest.mark.skipif(not PG_URL, reason="compares SQLite with PostgreSQL: set MODELSYNC_TEST_POSTGRES_URL")
def test_every_poisoned_listing_is_stored_identically_on_sqlite_and_postgresql(
    live_env, clean_env, tmp_path, request, monkeypatch
):
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    for provider in PROVIDERS:
        poison(live_env, provider)
    sqlite_file = tmp_path / "both.db"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), sqlite_file)
    stored = []
    for url in (f"sqlite:///{sqlite_file}", request.getfixturevalue("postgres_url")):
        monkeypatch.setenv("DATABASE_URL", url)
        engine = create_db_engine(url)
        try:
            if url.startswith("postgresql"):
                with engine.begin() as conn:
                    conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)))
            report = run_sync(engine, load_settings(), SyncOptions(providers=PROVIDERS))
            assert report.exit_code == 0
            stored.append({(r["provider"], r["model_id"]): _timeless(r) for r in dbread.models(engine)})
        finally:
            engine.dispose()
    assert stored[0] == stored[1] and len(stored[0]) == sum(len(fixture_ids(p)) + 1 for p in PROVIDERS)


def test_the_first_of_two_entries_with_one_id_wins_across_pages_with_a_warning(hostile, engine, cli, caplog):
    models = fixture_models("anthropic")
    first, second = dict(models[0], display_name="First copy"), dict(models[0], display_name="Second copy")
    hostile.models["anthropic"] = [first, *models[1:7], second, *models[7:]]  # pages of 5: the repeat is on page 2

    with caplog.at_level(logging.WARNING, logger="modelsync.sources"):
        result = cli("sync", "-p", "anthropic")

    assert result.code == 0, result
    assert dbread.model_row(engine, "anthropic", models[0]["id"])["display_name"] == "First copy"
    assert warnings_in(caplog) == [
        f"Anthropic: page 2 of the model listing: model {models[0]['id']} is listed more than once; "
        "the first entry is kept"
    ]


def listing(providers: list[str], **settings: Any) -> dict[str, Any]:
    return fetch_listings(load_settings(**settings), providers, lambda *_: None)


def test_warnings_and_unknown_fields_travel_on_the_listing_result(hostile):
    poison(hostile, "openrouter")
    results = listing(["openrouter"])
    result = results["openrouter"]
    assert result.error is None and result.warning_count == len(result.warnings) >= 5
    assert result.unknown[BIG] == ("display_name", "context_window", "input_price")
    assert NUL_ID not in (result.records or {}) and BIG in (result.records or {})


def test_warnings_are_bounded_to_the_first_hundred_and_a_count(hostile):
    template = entry("openrouter", "m")
    hostile.models["openrouter"] = [dict(template, id=f"m-{n}") for n in range(150)]
    result = listing(["openrouter"])["openrouter"]
    # Three bad values per model (name, context length, prompt price): 450 warnings, 100 kept.
    assert result.warning_count == 450 and len(result.warnings) == 101
    assert result.warnings[-1] == "OpenRouter: … and 350 more warnings (the first 100 are shown)"
    assert len(result.records or {}) == 150


# --- lifecycle: unreadable is unknown -------------------------------------------------------------------------------


def test_an_unreadable_shutdown_date_says_nothing_about_deprecation(hostile):
    hostile.models["openai"] = [
        {"id": "gpt-old", "object": "model", "shutdown_date": "not-a-date"},
        {"id": "gpt-live", "object": "model", "shutdown_date": None},
    ]
    result = listing(["openai"])["openai"]
    records = result.records or {}
    assert records["gpt-old"].fields == {}  # neither `deprecated` nor `shutdown_date`: unknown, not "active"
    assert records["gpt-live"].fields == {"shutdown_date": None, "deprecated": False}
    assert result.unknown == {"gpt-old": ("shutdown_date", "deprecated")}
    assert "OpenAI: model gpt-old: shutdown_date 'not-a-date' dropped: not a date" in result.warnings


def test_an_unreadable_shutdown_date_neither_reactivates_nor_erases_the_stored_one(hostile, engine, cli):
    first = {"id": "gpt-old", "object": "model", "shutdown_date": "2026-12-01"}
    hostile.models["openai"] = [first, {"id": "gpt-live", "object": "model", "shutdown_date": None}]
    assert cli("sync", "-p", "openai").code == 0
    assert dbread.model_row(engine, "openai", "gpt-old")["status"] == "deprecated"

    hostile.models["openai"][0] = dict(first, shutdown_date="not-a-date")
    assert cli("sync", "-p", "openai").code == 0

    row = dbread.model_row(engine, "openai", "gpt-old")
    assert row["status"] == "deprecated" and row["shutdown_date"].isoformat() == "2026-12-01"


# --- bounded I/O ----------------------------------------------------------------------------------------------------


def listing_body(n: int = 100) -> bytes:
    return json.dumps({"object": "list", "data": [{"id": f"m-{i}", "object": "model"} for i in range(n)]}).encode()


def test_a_trickling_server_is_cut_off_at_the_request_deadline_and_the_others_sync(hostile, engine, cli, monkeypatch):
    monkeypatch.setenv("MODELSYNC_HTTP_DEADLINE", "1")
    hostile.fail("openai", 200, times=None, body=listing_body(), trickle=50)

    started = time.monotonic()
    result = cli("sync", "-p", "openai", "-p", "deepseek")
    elapsed = time.monotonic() - started

    assert result.code == 3, result
    assert elapsed < 5  # one second of deadline, never retried (the body alone would take minutes)
    assert "OpenAI: failed - OpenAI did not finish sending the model listing within 1 s (MODELSYNC_HTTP_DEADLINE)" in (
        " ".join(result.out.split())
    )
    assert dbread.models(engine, provider="openai") == []
    assert len(dbread.models(engine, provider="deepseek")) == len(fixture_ids("deepseek"))
    assert len(hostile.requests_for("openai")) == 1


def test_a_provider_over_its_deadline_fails_naming_the_setting_and_the_others_sync(hostile, engine, cli, monkeypatch):
    monkeypatch.setenv("MODELSYNC_PROVIDER_DEADLINE", "1")
    hostile.latency = 0.5  # Anthropic's 14 models in pages of 5: three pages, 1.5 s; DeepSeek's one answer fits

    started = time.monotonic()
    result = cli("sync", "-p", "anthropic", "-p", "deepseek")

    assert result.code == 3, result
    assert time.monotonic() - started < 5
    out = " ".join(result.out.split())
    assert "Anthropic: failed - Anthropic did not finish its listing within 1 s (MODELSYNC_PROVIDER_DEADLINE)" in out
    assert dbread.models(engine, provider="anthropic") == []
    assert len(dbread.models(engine, provider="deepseek")) == len(fixture_ids("deepseek"))


@cache
def gzip_bomb(megabytes: int) -> bytes:
    """A gzip body that inflates to `megabytes` MB of valid JSON (built a block at a time, never held inflated)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"object":"list","data":[')]
    block = b" " * (1024 * 1024)
    parts += [packer.compress(block) for _ in range(megabytes)]
    parts += [packer.compress(b"]}"), packer.flush()]
    return b"".join(parts)


def test_a_gzip_bomb_is_refused_at_the_size_limit_without_inflating_it(hostile):
    bomb = gzip_bomb(64)
    assert len(bomb) < 100 * 1024  # under 100 KB on the wire, 64 MB inflated
    hostile.fail("openai", 200, times=None, body=bomb, headers={"content-encoding": "gzip"})
    settings = load_settings(http_max_bytes=1024 * 1024)

    tracemalloc.start()
    try:
        results = asyncio.run(fetch_all(settings, ["openai"], lambda *_: None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    error = results["openai"].error or ""
    assert "answered the model listing with more than 1,048,576 bytes (MODELSYNC_HTTP_MAX_BYTES)" in error
    assert peak < 8 * 1024 * 1024  # the limit plus a network chunk, never the 64 MB it inflates to


def test_a_body_over_the_size_limit_fails_naming_the_setting(hostile, engine, cli, monkeypatch):
    monkeypatch.setenv("MODELSYNC_HTTP_MAX_BYTES", "4096")
    result = cli("sync", "-p", "openrouter", "-p", "deepseek")
    assert result.code == 3, result
    assert "with more than 4,096 bytes (MODELSYNC_HTTP_MAX_BYTES); nothing was changed" in " ".join(result.out.split())
    assert dbread.models(engine, provider="openrouter") == []
    assert dbread.models(engine, provider="deepseek")


@pytest.mark.parametrize(("provider", "requests"), [("anthropic", 2), ("openai", 1)])
def test_a_listing_over_the_model_limit_is_refused(hostile, engine, cli, monkeypatch, provider, requests):
    monkeypatch.setenv("MODELSYNC_MAX_MODELS_PER_PROVIDER", "7")
    result = cli("sync", "-p", provider)
    assert result.code == 3, result
    out = " ".join(result.out.split())
    assert "listed more than 7 models (MODELSYNC_MAX_MODELS_PER_PROVIDER); nothing was changed" in out
    assert dbread.models(engine, provider=provider) == []
    # Paged: refused as soon as a page takes it over the limit (page 2 of 3 for Anthropic's 14 models).
    assert len(hostile.requests_for(provider)) == requests


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MODELSYNC_HTTP_DEADLINE", "0", "http_deadline"),
        ("MODELSYNC_PROVIDER_DEADLINE", "-1", "provider_deadline"),
        ("MODELSYNC_HTTP_MAX_BYTES", "10", "http_max_bytes"),
        ("MODELSYNC_MAX_MODELS_PER_PROVIDER", "0", "max_models_per_provider"),
    ],
)
def test_bad_bounds_settings_exit_4_naming_the_setting(hostile, cli, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    result = cli("sync", "-p", "openai")
    assert result.code == 4 and message in result.err


def test_bounds_defaults():
    settings = load_settings()
    assert settings.request_deadline == 4 * settings.http_timeout == 120
    assert settings.provider_deadline == 600 and settings.http_max_bytes == 64 * 1024 * 1024
    assert settings.max_models_per_provider == 200_000
    assert load_settings(http_timeout=5).request_deadline == 20
    assert load_settings(http_deadline=7, http_timeout=5).request_deadline == 7


# --- the overrides file ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('id = "gpt-4o"\ninput_price = "1e22"', "entry #1 (openai/gpt-4o) is invalid: input_price: Value error, above"),
        ('id = "a\\u0000b"\ninput_price = "1"', "entry #1 (openai/a\\x00b) is invalid: id: Value error, the id"),
        ('id = "gpt-4o"\ncontext_window = 1e30', "entry #1 (openai/gpt-4o) is invalid: context_window"),
        ('id = "gpt-4o"\ndisplay_name = "\\u001b[31mred"', "display_name: Value error, contains a control character"),
        ('id = "gpt-4o"\noutput_price = "1e999999999"', "output_price: Value error, above the ceiling"),
        ('id = "gpt-4o"\nreplacement_model = "gpt-4o"', "names the model as its own replacement_model"),
    ],
)
def test_a_bad_value_in_the_overrides_file_exits_4_naming_the_entry(hostile, engine, cli, clean_env, lines, expected):
    (clean_env / "modelsync.overrides.toml").write_text(f'[[model]]\nprovider = "openai"\n{lines}\n')

    result = cli("sync", "-p", "openai")

    assert result.code == 4, result
    message = " ".join(result.err.split())
    assert expected in message and "Traceback" not in message
    assert "\x00" not in result.err and "\x1b" not in result.err
    assert dbread.models(engine) == [] and dbread.rows(engine, sync_run) == []
    assert hostile.requests == []  # stopped before any provider was asked
