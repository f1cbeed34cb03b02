"""The one sync service, whoever calls it: the same audit trail from the CLI and the API, one sync at a time with
the loser refused before any provider request, a new modelsync version recomputing everything, settings that are
a snapshot."""

from __future__ import annotations

import threading

import pytest

import dbread
from modelsync.db.tables import sync_run
from modelsync.errors import SyncBusyError
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import Settings, load_settings
from modelsync.sync import assemble


def comparable(entry: dict) -> tuple:
    """What an audit entry says, without who, from where and when."""
    details = dict(entry["details"] or {})
    details.pop("trigger", None)
    return entry["action"], entry["outcome"], entry["target"], details


def test_a_cli_dry_run_and_an_api_dry_run_leave_the_same_audit_trail(api, cli):
    before = len(dbread.audit_entries(api.engine))
    assert cli("sync", "--dry-run", "-p", "anthropic", "-p", "google").code == 0
    with api.client("super_admin") as root:
        response = root.post("/api/admin/ai-models/sync", json={"provider": "anthropic", "dryRun": True})
    assert response.status_code == 200
    with api.client("super_admin") as root:
        assert root.post("/api/admin/ai-models/sync", json={"provider": "google", "dryRun": True}).status_code == 200
    entries = dbread.audit_entries(api.engine)[before:]
    assert [entry["action"] for entry in entries] == ["sync.dry_run"] * 3
    cli_entry, api_entries = entries[0], entries[1:]
    assert cli_entry["details"]["trigger"] == "cli" and api_entries[0]["details"]["trigger"] == "api"
    assert cli_entry["details"]["providers"] == ["anthropic", "google"]
    # Same shape and meaning: the CLI's one entry covers what the API's two say.
    assert set(cli_entry["details"]) == set(api_entries[0]["details"])
    assert comparable(api_entries[0])[:2] == comparable(cli_entry)[:2]
    assert dbread.count(api.engine, sync_run) == 1  # the fixture's


def test_a_cli_sync_and_an_api_sync_leave_the_same_audit_trail(api, cli):
    before = len(dbread.audit_entries(api.engine))
    assert cli("sync", "-p", "anthropic").code == 0
    with api.client("super_admin") as root:
        assert root.post("/api/admin/ai-models/sync", json={"provider": "anthropic"}).status_code == 200
    first, second = dbread.audit_entries(api.engine)[before:]
    assert comparable(first)[:3] == comparable(second)[:3] == ("sync", "ok", "anthropic")
    assert set(first["details"]) == set(second["details"]) == {"runId", "trigger", "providers", "totals"}
    assert first["details"]["totals"] == second["details"]["totals"]


def test_two_syncs_started_together_one_runs_and_the_other_never_fetches(engine, settings):
    """The second is refused before a single provider request, while the first is still fetching."""
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_fetch(_settings, names, _progress):
        calls.append("first")
        started.set()
        release.wait(10)  # a provider that takes its time
        return {}

    def counting_fetch(_settings, names, _progress):
        calls.append("second")
        return {}

    results: dict[str, object] = {}

    def first() -> None:
        results["first"] = run_sync(engine, settings, SyncOptions(providers=["anthropic"]), fetch=slow_fetch)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    with pytest.raises(SyncBusyError) as caught:
        run_sync(engine, settings, SyncOptions(providers=["anthropic"]), fetch=counting_fetch)
    release.set()
    thread.join(30)

    assert calls == ["first"]
    report = results["first"]
    assert caught.value.running_run_id == report.run_id  # type: ignore[attr-defined]
    assert report.exit_code == 0  # type: ignore[attr-defined]


def test_a_new_modelsync_version_recomputes_every_provider(engine, settings, monkeypatch):
    providers = ["openai", "anthropic", "google"]
    run_sync(engine, settings, SyncOptions(providers=providers))
    again = run_sync(engine, settings, SyncOptions(providers=providers))
    assert all(outcome.inputs_unchanged for outcome in again.outcomes)

    assemble.code_version.cache_clear()
    monkeypatch.setattr(assemble, "version", lambda package: "99.0.0" if package == "modelsync" else "1")
    try:
        upgraded = run_sync(engine, settings, SyncOptions(providers=providers))
    finally:
        assemble.code_version.cache_clear()

    assert not any(outcome.inputs_unchanged for outcome in upgraded.outcomes)
    assert upgraded.total("processed") == again.total("processed") and upgraded.total("created") == 0


def test_recompute_ignores_unchanged_inputs(engine, settings):
    run_sync(engine, settings, SyncOptions(providers=["anthropic"]))
    assert run_sync(engine, settings, SyncOptions(providers=["anthropic"])).outcomes[0].inputs_unchanged
    forced = run_sync(engine, settings, SyncOptions(providers=["anthropic"], recompute=True))
    assert not forced.outcomes[0].inputs_unchanged and forced.total("updated") == 0


def test_the_cli_takes_recompute(cli):
    assert cli("sync", "-p", "anthropic").code == 0
    import json

    again = json.loads(cli("sync", "-p", "anthropic", "--json").out)
    forced = json.loads(cli("sync", "-p", "anthropic", "--json", "--recompute").out)
    assert again["totals"] == forced["totals"] and forced["totals"]["updated"] == 0


def test_settings_are_a_snapshot_and_can_be_built_without_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-snapshot-1")
    loaded = load_settings()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-snapshot-2")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert loaded.api_key("openai").get_secret_value() == "sk-snapshot-1"  # read once, at load
    assert "sk-snapshot-1" not in repr(loaded) and "sk-snapshot-1" not in str(loaded.model_dump())

    registry = load_settings().registry
    built = Settings(registry=registry, keys={"anthropic": "sk-direct"}, base_urls={"anthropic": "http://x:1/"})
    assert built.api_key("anthropic").get_secret_value() == "sk-direct"
    assert built.api_key("openai") is None
    assert built.base_url("anthropic") == "http://x:1" and built.base_url("google") == registry["google"].base_url


def test_the_collector_is_only_paused_when_the_sync_is_alone_and_always_restored(engine, settings):
    import gc

    from modelsync.services.sync import collector_paused_when_alone

    seen: list[bool] = []

    def fetch(*_args):
        seen.append(gc.isenabled())
        return {}

    # A second thread is alive (a server's workers, the fake provider server): the collector keeps running.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        run_sync(engine, settings, SyncOptions(providers=["anthropic"]), fetch=fetch)
    finally:
        stop.set()
        other.join()
    assert seen == [True] and gc.isenabled()

    # Alone (as the CLI is): paused during the sync and restored after it, also when it fails. A process of its
    # own, because the test process has the fake servers' threads.
    probe = (
        "import gc\n"
        "from modelsync.services.sync import collector_paused_when_alone\n"
        "try:\n"
        "    with collector_paused_when_alone() as paused:\n"
        "        print(paused, gc.isenabled())\n"
        "        raise KeyboardInterrupt\n"
        "except KeyboardInterrupt:\n"
        "    print(gc.isenabled())\n"
    )
    import subprocess
    import sys

    lines = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert lines == ["True", "False", "True"]
    gc.disable()
    try:
        with collector_paused_when_alone() as paused:
            assert not paused  # it was not running: nothing to pause, nothing to turn on afterwards
        assert not gc.isenabled()
    finally:
        gc.enable()
