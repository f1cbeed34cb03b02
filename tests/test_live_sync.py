"""Live listings end to end: the real CLI and sync engine, over real HTTP to the fake provider server, into SQLite
and PostgreSQL. Covers the acceptance of issue 3 and, for every adapter, isolation, broken bodies and lifecycle.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

import dbread
from fake_provider import KEYS, LIVE_CONFIG, PROVIDERS, FakeProviders, fixture_ids, fixture_models
from modelsync.cli import common
from modelsync.cli.app import app
from modelsync.fieldspec import IDENTITIES
from modelsync.services import catalog
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings

# A small companion provider for isolation tests (any other would do).
PARTNER = {provider: "deepseek" for provider in PROVIDERS} | {"deepseek": "vllm"}


@pytest.fixture
def live(live_env: FakeProviders, db_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProviders:
    """Every key set against the fake server, the test database as DATABASE_URL, small pages configured."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    return live_env


def cli(*args: str):
    """Run the real CLI in-process on fresh settings and database handles."""
    common.settings.cache_clear()
    common.database.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        if common.database.cache_info().currsize:
            common.database().dispose()
        common.settings.cache_clear()
        common.database.cache_clear()


def sync(engine: Engine, *providers: str):
    return run_sync(engine, load_settings(), SyncOptions(providers=providers))


def history_kinds(engine: Engine, provider: str, model_id: str) -> list[str]:
    return [entry["kind"] for entry in catalog.model_history(engine, provider, model_id)]


# --- acceptance -----------------------------------------------------------------------------------------------------


def test_every_fixture_model_is_stored_once_with_its_exact_id_and_listing_facts(live, engine):
    result = cli("sync")

    assert result.exit_code == 0, result.output
    stored_rows = dbread.models_by_ref(engine)
    for provider in PROVIDERS:
        ids = [key.split("/", 1)[1] for key in stored_rows if key.startswith(provider + "/")]
        assert sorted(ids) == sorted(fixture_ids(provider)), provider
    assert len(stored_rows) == sum(len(fixture_ids(provider)) for provider in PROVIDERS)
    for model in fixture_models("anthropic"):
        row = stored_rows[f"anthropic/{model['id']}"]
        assert row["context_window"] == model["max_input_tokens"]
        assert row["max_output_tokens"] == model["max_tokens"]
        assert row["provenance"]["context_window"] == "anthropic"
    second_page = fixture_models("google")[50:]
    assert second_page and all(f"google/{m['name'].removeprefix('models/')}" in stored_rows for m in second_page)
    third_page = fixture_models("replicate")[50:]
    assert third_page and all(f"replicate/{m['owner']}/{m['name']}" in stored_rows for m in third_page)
    for model in fixture_models("openrouter"):
        row = stored_rows[f"openrouter/{model['id']}"]
        if model["pricing"]["prompt"] == "0" and row["provenance"]["input_price"] == "genai-prices":
            # A 0 per token does not make a model free when another source prices it (z-ai/glm-5.1).
            assert row["input_price"] > 0 and row["prices"]
        elif model["pricing"]["prompt"] != "-1":
            assert row["input_price"] == Decimal(model["pricing"]["prompt"]) * 10**6
            assert row["output_price"] == Decimal(model["pricing"]["completion"]) * 10**6
            assert row["provenance"]["input_price"] == "openrouter"
        assert row["description"] == model["description"] and row["provenance"]["description"] == "openrouter"
    assert "live listing" in result.stdout


def test_removed_models_become_deprecated_with_history_and_nothing_else_changes(live, engine):
    assert cli("sync").exit_code == 0
    before = dbread.models_by_ref(engine)
    removed = {"anthropic": {"claude-opus-5"}, "google": {"gemini-2.5-pro"}, "openrouter": {"x-ai/grok-build-0.1"}}
    for provider, ids in removed.items():
        live.remove(provider, ids)

    result = cli("sync")

    assert result.exit_code == 0, result.output
    after = dbread.models_by_ref(engine)
    gone = {f"{provider}/{model_id}" for provider, ids in removed.items() for model_id in ids}
    # OpenRouter no longer lists x-ai/grok-build-0.1, so xAI's own grok-build-0.1 loses that candidate: bookkeeping
    # only (crosslisting.py), none of its fields changes.
    evidence = "xai/grok-build-0.1"
    assert {key for key in after if after[key] != before[key]} == gone | {evidence}
    assert "openrouter" in before[evidence]["candidates"]["input_price"]
    assert "openrouter" not in after[evidence]["candidates"]["input_price"]
    bookkeeping = ("candidates", "content_hash")
    assert {k: v for k, v in after[evidence].items() if k not in bookkeeping} == {
        k: v for k, v in before[evidence].items() if k not in bookkeeping
    }
    for key in gone:
        provider, model_id = key.split("/", 1)
        assert after[key]["status"] == "deprecated" and after[key]["deprecated_at"] is not None
        assert after[key]["provenance"]["status"] == "disappeared"
        assert history_kinds(engine, provider, model_id) == ["created", "deprecated"]
    assert set(after) == set(before)  # nothing deleted


def test_a_provider_answering_500_every_time_changes_nothing_for_it_and_the_rest_sync(live, engine):
    assert cli("sync").exit_code == 0
    anthropic_before = dbread.provider_rows(engine, "anthropic")
    live.fail("anthropic", 500, times=None)
    live.remove("openai", {"o3"})

    result = cli("sync")

    assert result.exit_code == 3
    assert dbread.provider_rows(engine, "anthropic") == anthropic_before
    assert "Anthropic: failed - Anthropic answered 500 (Internal server error) for the model listing, retried 4" in (
        result.stdout
    )
    assert dbread.models_by_ref(engine, "openai")["openai/o3"]["status"] == "deprecated"
    assert len(live.requests_for("anthropic")) == 3 + 5  # the first sync's three pages, then 1 try + 4 retries


def test_an_empty_listing_is_refused_with_the_reason_and_changes_nothing(live, engine):
    assert cli("sync", "--provider", "anthropic").exit_code == 0
    before = dbread.provider_rows(engine, "anthropic")
    live.models["anthropic"] = []

    result = cli("sync", "--provider", "anthropic")

    assert result.exit_code == 2
    assert "Anthropic: refused - Anthropic returned an empty model list; nothing was changed." in result.stdout
    assert dbread.provider_rows(engine, "anthropic") == before


def test_an_unknown_adapter_stops_the_sync_before_any_request_with_exit_4(live, engine, clean_env, request):
    config = clean_env / "modelsync.toml"
    config.write_text(
        config.read_text() + '\n[provider.acme]\nlabel = "Acme"\nadapter = "openai-compat"\nbase_url = "http://x"\n'
    )
    run_main = request.getfixturevalue("cli")  # conftest's: through main(), where errors become exit codes

    result = run_main("sync")

    message = " ".join(result.err.split())
    assert result.code == 4, result
    assert "[provider.acme] names adapter 'openai-compat'" in message and "Traceback" not in message
    assert "Valid adapters: anthropic, gemini, ollama, openai, openai_compat, openrouter, replicate." in message
    assert live.requests == [] and dbread.models(engine) == []


def test_the_key_never_appears_in_output_logs_or_the_database(live, engine, caplog):
    # The worst case: providers that echo the key they were sent back in their error messages.
    echo = f'{{"error": {{"message": "invalid key {KEYS["anthropic"]} / {KEYS["openai"]}"}}}}'.encode()
    live.fail("anthropic", 401, times=None, body=echo)
    live.fail("openai", 500, times=None, body=echo)
    live.fail("mistral", 429, times=1, headers={"retry-after": "0"}, body=echo)
    with caplog.at_level(logging.DEBUG):
        human = cli("sync")
        machine = cli("sync", "--json")

    assert human.exit_code == 3 and machine.exit_code == 3
    assert "check ANTHROPIC_API_KEY" in human.stdout and "[redacted]" in human.stdout
    texts = [human.stdout, human.stderr, machine.stdout, machine.stderr, caplog.text]
    texts += [record.getMessage() for record in caplog.records]
    data = dbread.database_bytes(engine)
    for key in KEYS.values():
        assert all(key not in text for text in texts)
        assert key.encode() not in data


def assert_only_tags_moved(report, gone: str | None = None) -> None:
    """Other models may only change tags (the `latest` tag moves to the newest active member of a family), and the
    snapshots, aliases and fine-tunes of a model gone from the listing their identity and what they inherited."""
    for change in report.outcomes[0].sample:
        if change.kind != "updated":
            continue
        if gone is not None and any(gone in diff for diff in change.changes.values() if isinstance(diff, tuple)):
            continue
        # A parent whose last child went stands alone again: it leaves its family.
        assert set(change.changes) <= {"tags", "provenance", *IDENTITIES}, change.changes
        assert set(change.changes) & {"tags", *IDENTITIES}, change.changes


# --- every adapter --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_failure_is_isolated_and_exits_3(live, engine, provider):
    partner = PARTNER[provider]
    assert cli("sync", "-p", provider, "-p", partner).exit_code == 0
    before = dbread.provider_rows(engine, provider)
    live.fail(provider, 500, times=None)
    live.remove(partner, {fixture_ids(partner)[0]})

    result = cli("sync", "-p", provider, "-p", partner)

    assert result.exit_code == 3, result.output
    assert dbread.provider_rows(engine, provider) == before
    assert dbread.models_by_ref(engine, partner)[f"{partner}/{fixture_ids(partner)[0]}"]["status"] == "deprecated"
    assert "failed" in result.stdout and "retried 4 times; try again later" in result.stdout


@pytest.mark.parametrize("provider", PROVIDERS)
def test_broken_body_leaves_the_database_unchanged(live, engine, provider):
    sync(engine, provider)
    before = dbread.provider_rows(engine, provider)
    live.fail(provider, 200, times=None, body=b'{"data": [{"id": "only-this-one"}]')
    live.remove(provider, {fixture_ids(provider)[0]})  # a real change the broken listing must not apply

    report = sync(engine, provider)

    assert report.exit_code == 3 and report.outcomes[0].status == "failed"
    assert "not valid JSON" in report.outcomes[0].message
    assert dbread.provider_rows(engine, provider) == before


@pytest.mark.parametrize("provider", PROVIDERS)
def test_disappearance_deprecates_and_return_reactivates(live, engine, provider):
    assert sync(engine, provider).exit_code == 0
    gone = fixture_ids(provider)[-1]
    full = list(live.models[provider])
    live.remove(provider, {gone})

    report = sync(engine, provider)

    assert report.total("deprecated") == 1
    assert_only_tags_moved(report, gone)
    row = dbread.models_by_ref(engine, provider)[f"{provider}/{gone}"]
    assert row["status"] == "deprecated" and row["provenance"]["status"] == "disappeared"

    live.models[provider] = full
    report = sync(engine, provider)

    assert report.total("reactivated") == 1 and report.total("deprecated") == 0
    assert_only_tags_moved(report, gone)
    row = dbread.models_by_ref(engine, provider)[f"{provider}/{gone}"]
    assert row["status"] == "active" and row["deprecated_at"] is None
    assert history_kinds(engine, provider, gone) == ["created", "deprecated", "reactivated"]


def test_provider_announced_deprecation_is_recorded(live, engine):
    sync(engine, "openai", "anthropic")
    row = dbread.models_by_ref(engine, "openai")["openai/gpt-3.5-turbo"]
    assert row["status"] == "deprecated" and row["provenance"]["status"] == "openai"
    assert row["shutdown_date"].isoformat() == "2026-10-23"
    claude = dict(fixture_models("anthropic")[0], lifecycle="deprecated", deprecated_at="2026-11-01T00:00:00Z")
    live.models["anthropic"] = [claude, *fixture_models("anthropic")[1:]]

    report = sync(engine, "anthropic")

    assert report.total("deprecated") == 1
    row = dbread.models_by_ref(engine, "anthropic")[f"anthropic/{claude['id']}"]
    assert row["status"] == "deprecated" and row["deprecated_at"].isoformat().startswith("2026-11-01")


def test_fine_tuned_openai_model_gets_its_base_models_catalog_facts(live, engine):
    sync(engine, "openai")
    stored_rows = dbread.models_by_ref(engine, "openai")
    tuned = stored_rows["openai/ft:gpt-4o-mini-2024-07-18:acme-robotics::7XSvNra2"]
    base = stored_rows["openai/gpt-4o-mini-2024-07-18"]
    # Facts of the base; the price of fine-tuned inference, never the base's.
    assert tuned["context_window"] == base["context_window"] is not None
    assert tuned["input_price"] is not None and tuned["provenance"]["input_price"] == "genai-prices"
    assert tuned["input_price"] != base["input_price"]


def test_the_installed_command_keeps_keys_out_of_its_output(live, engine):
    echo = f'{{"error": {{"message": "invalid key {KEYS["anthropic"]}"}}}}'.encode()
    live.fail("anthropic", 401, times=None, body=echo)
    command = Path(sys.executable).with_name("modelsync")
    env = {**os.environ, "MODELSYNC_HTTP_BACKOFF": "0"}

    done = subprocess.run([str(command), "sync"], env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 3, done.stderr
    assert "Anthropic: failed - Anthropic rejected the key (401: invalid key [redacted]); check ANTHROPIC_API_KEY" in (
        done.stdout
    )
    data = dbread.database_bytes(engine)
    for key in KEYS.values():
        assert key not in done.stdout and key not in done.stderr and key.encode() not in data


def test_a_changed_listing_is_applied_and_an_unchanged_one_is_not_recomputed(live, engine):
    sync(engine, "openrouter")
    unchanged = sync(engine, "openrouter")
    assert unchanged.outcomes[0].inputs_unchanged and unchanged.total("updated") == 0

    model = dict(fixture_models("openrouter")[0])
    model["pricing"] = {**model["pricing"], "prompt": "0.0000025"}
    live.models["openrouter"] = [model, *fixture_models("openrouter")[1:]]
    report = sync(engine, "openrouter")

    assert not report.outcomes[0].inputs_unchanged and report.total("updated") == 1
    row = dbread.models_by_ref(engine, "openrouter")[f"openrouter/{model['id']}"]
    assert row["input_price"] == Decimal("2.5")
    assert catalog.model_history(engine, "openrouter", model["id"])[-1]["changes"]["inputCostPer1M"][1] == "2.5"


def test_a_change_to_the_extras_alone_is_saved_with_history(live, engine):
    assert cli("sync", "-p", "replicate").exit_code == 0
    flipped = dict(fixture_models("replicate")[0])
    flipped["is_official"] = not flipped.get("is_official", False)
    live.models["replicate"] = [flipped, *fixture_models("replicate")[1:]]
    model_id = f"{flipped['owner']}/{flipped['name']}"

    report = sync(engine, "replicate")

    assert report.total("updated") == 1, report.to_dict()
    row = dbread.model_row(engine, "replicate", model_id)
    assert row["extra"]["is_official"] is flipped["is_official"]
    change = catalog.model_history(engine, "replicate", model_id)[-1]
    assert change["kind"] == "updated" and change["changes"]["extra"][1]["is_official"] is flipped["is_official"]
    assert sync(engine, "replicate").total("updated") == 0  # and then it is settled
