"""The `modelsync` command: the README's first command in a fresh process, output, JSON and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dbread
from modelsync.db.engine import create_db_engine


def test_readme_first_command_works_in_a_fresh_directory_without_keys_or_network(tmp_path):
    """`modelsync sync` in a new directory, in a new process, with no keys: exit 0 and a filled modelsync.db."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN")) and k != "DATABASE_URL"}
    # Any attempt to reach the network would fail loudly instead of hanging.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    exe = shutil.which("modelsync", path=str(Path(sys.executable).parent)) or "modelsync"
    result = subprocess.run([exe, "sync"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "OpenAI:" in result.stdout and "created" in result.stdout and "Total:" in result.stdout
    engine = create_db_engine(f"sqlite:///{tmp_path / 'modelsync.db'}")
    try:
        ids = {row["model_id"] for row in dbread.models(engine, provider="openai")}
        sonnet = dbread.model_row(engine, "anthropic", "claude-3-5-sonnet-20241022")
    finally:
        engine.dispose()
    assert "gpt-4o" in ids and "GPT-4o" not in ids
    assert sonnet["context_window"] == 200000


def test_sync_prints_a_summary_line_per_provider_and_totals(cli):
    result = cli("sync")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("modelsync sync (run ")
    assert any(line.strip().startswith("OpenAI: ") and " created, 0 updated" in line for line in lines)
    assert any("Replicate: skipped" in line and "REPLICATE_API_TOKEN" in line for line in lines)
    assert lines[-1].startswith("Total: ") and "processed" in lines[-1]


def test_second_json_sync_reports_nothing_created_or_updated(cli):
    first = json.loads(cli("sync", "--json").out)
    second = json.loads(cli("sync", "--json").out)
    assert first["totals"]["created"] > 90
    assert second["totals"]["created"] == 0 and second["totals"]["updated"] == 0
    for name in ("openai", "anthropic", "google"):
        entry = second["providers"][name]
        assert set(entry) >= {"created", "updated", "unchanged", "deprecated", "reactivated", "status", "message"}
        assert entry["status"] == "ok"
    assert second["providers"]["replicate"]["status"] == "skipped"


def test_provider_flag_is_repeatable(cli):
    data = json.loads(cli("sync", "--json", "--provider", "anthropic", "-p", "google").out)
    assert set(data["providers"]) == {"anthropic", "google"}


def test_unknown_provider_exits_4_listing_valid_ones_and_touches_nothing(cli, engine):
    cli("sync", "--provider", "anthropic")
    before = dbread.database_dump(engine)
    result = cli("sync", "--provider", "nope")
    assert result.code == 4
    assert "unknown provider 'nope'" in result.err and "anthropic" in result.err
    assert dbread.database_dump(engine) == before


def test_corrupt_overrides_file_exits_4_and_touches_nothing(cli, engine, clean_env):
    cli("sync", "--provider", "anthropic")
    before = dbread.database_dump(engine)
    (clean_env / "modelsync.overrides.toml").write_text("[[model]\nprovider = 'openai'\n")
    result = cli("sync")
    assert result.code == 4
    assert "modelsync.overrides.toml is not valid TOML" in result.err
    assert "Traceback" not in result.err
    assert dbread.database_dump(engine) == before


def test_dry_run_lists_changes_and_writes_nothing(cli):
    result = cli("sync", "--dry-run", "--provider", "anthropic")
    assert result.code == 0
    assert "dry run, nothing written" in result.out and "created     claude-" in result.out
    assert cli("models", "list", "--json").out.strip() == "[]"


def test_models_list_show_set_history_and_cost(cli):
    cli("sync", "--provider", "openai")
    models = json.loads(cli("models", "list", "--provider", "openai", "--json").out)
    assert models and all(m["provider"] == "openai" for m in models)
    gpt4o = json.loads(cli("models", "show", "openai/gpt-4o", "--json").out)
    camel = {
        "id",
        "provider",
        "name",
        "displayName",
        "status",
        "capabilities",
        "contextWindow",
        "maxOutputTokens",
        "costPer1kInputTokens",
        "costPer1kOutputTokens",
        "inputCostPer1M",
        "outputCostPer1M",
        "supportsStreaming",
        "supportsJSON",
        "supportsVision",
        "recommended",
        "tier",
        "isAllowed",
        "tags",
        "lastVerified",
        "createdAt",
        "updatedAt",
        "replacementModel",
        "deprecatedAt",
        "shutdownDate",
        "kind",
    }
    assert camel <= set(gpt4o)
    assert gpt4o["id"] == gpt4o["name"] == "gpt-4o"

    result = cli("models", "set", "openai/gpt-4o", "--not-allowed", "--replacement", "gpt-4.1", "--actor", "erin")
    assert result.code == 0 and "allowed True -> False" in result.out
    assert json.loads(cli("models", "show", "openai/gpt-4o", "--json").out)["isAllowed"] is False
    assert json.loads(cli("sync", "--json", "-p", "openai").out)["totals"]["updated"] == 0

    history = cli("history", "openai/gpt-4o", "--format", "table")
    assert "manual by erin" in history.out and "replacement: - -> gpt-4.1" in history.out

    cost = json.loads(cli("cost", "gpt-4o", "--input-tokens", "1000", "--output-tokens", "1000", "--json").out)
    expected = (float(gpt4o["inputCostPer1M"]) + float(gpt4o["outputCostPer1M"])) / 1000
    assert float(cost["totalCost"]) == pytest.approx(expected)


def test_bad_model_refs_and_missing_models_are_clear(cli):
    cli("sync", "--provider", "anthropic")
    assert cli("models", "show", "no-slash").code == 4
    missing = cli("models", "show", "anthropic/claude-9")
    assert missing.code == 4 and "no model anthropic/claude-9" in missing.err
    assert cli("cost", "claude-9", "--input-tokens", "1", "--output-tokens", "1").code == 4
    assert cli("cost", "gpt-4o", "--input-tokens", "-1", "--output-tokens", "1").code == 4


def test_unpriced_model_cost_says_so_and_fails(cli, clean_env):
    (clean_env / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "openai"\nid = "mystery"\ncustom = true\n'
    )
    cli("sync", "--provider", "openai")
    result = cli("cost", "openai/mystery", "--input-tokens", "10", "--output-tokens", "10", "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["priced"] is False and data["totalCost"] is None and "unpriced" in data["notes"][-1]


def test_help_answers_without_touching_a_database(tmp_path):
    exe = shutil.which("modelsync", path=str(Path(sys.executable).parent)) or "modelsync"
    result = subprocess.run([exe, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "sync" in result.stdout
    assert not (tmp_path / "modelsync.db").exists()
