"""GET /metrics over real HTTP, on both databases: sync outcomes and durations per provider, runs by status, models
per provider and status, and the request latency histogram by route template; and who may scrape it.
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

import dbread
from modelsync.api.app import create_app
from modelsync.db import repo
from modelsync.db.engine import create_db_engine
from modelsync.db.tables import ai_model, sync_run
from modelsync.records import utc_now
from modelsync.services.metrics import sync_metrics
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import Settings, load_settings

METRICS_TOKEN = "scrape-token-0123456789abcdef0123456789"


def scrape(client) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The samples of /metrics, parsed by prometheus_client's own parser: {sample name: {labels: value}}."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get(name, {}).get(tuple(sorted(labels.items())))


def runs(engine) -> list[dict]:
    return dbread.rows(engine, sync_run, order_by=("id",))


def test_metrics_show_each_providers_last_sync_and_the_models(engine, live_env, api_factory):
    settings = load_settings()
    live_env.fail("anthropic", 401, times=None)
    run_sync(engine, settings, SyncOptions(providers=["openai", "anthropic"], trigger="cli"))
    first = runs(engine)[-1]
    assert first["status"] == "partial"

    with api_factory(engine, settings, stamp_interval=0.0, metrics_ttl=0.0) as api, api.client() as anonymous:
        samples = scrape(anonymous)
        assert value(samples, "modelsync_database_up") == 1
        assert value(samples, "modelsync_sync_last_outcome", provider="openai", outcome="ok") == 1
        assert value(samples, "modelsync_sync_last_outcome", provider="openai", outcome="failed") == 0
        assert value(samples, "modelsync_sync_last_outcome", provider="anthropic", outcome="failed") == 1
        duration = (first["finished_at"] - first["started_at"]).total_seconds()
        for provider in ("openai", "anthropic"):
            assert value(samples, "modelsync_sync_last_duration_seconds", provider=provider) == duration
            assert value(samples, "modelsync_sync_last_run_id", provider=provider) == first["id"]
            assert value(samples, "modelsync_sync_last_timestamp_seconds", provider=provider) == (
                first["finished_at"].timestamp()
            )
        assert value(samples, "modelsync_sync_last_success_timestamp_seconds", provider="openai") == (
            first["finished_at"].timestamp()
        )
        assert value(samples, "modelsync_sync_last_success_timestamp_seconds", provider="anthropic") is None
        assert value(samples, "modelsync_sync_runs_total", status="partial") == 1
        assert value(samples, "modelsync_sync_runs_total", status="ok") is None
        for status in ("active", "deprecated"):
            stored = dbread.count(engine, ai_model, provider="openai", status=status)
            assert value(samples, "modelsync_models", provider="openai", status=status) == (stored or None)
        assert dbread.count(engine, ai_model, provider="openai", status="active") > 0
        assert value(samples, "modelsync_models", provider="anthropic", status="active") is None

        # The provider comes back; a sync through the API (the fake provider's listing) moves its metrics.
        live_env.faults.clear()
        with api.client("super_admin") as admin:
            answer = admin.post("/api/admin/ai-models/sync", json={"provider": "anthropic"})
            assert answer.status_code == 200, answer.text
        second = runs(engine)[-1]
        samples = scrape(anonymous)
        assert value(samples, "modelsync_sync_last_outcome", provider="anthropic", outcome="ok") == 1
        assert value(samples, "modelsync_sync_last_outcome", provider="anthropic", outcome="failed") == 0
        assert value(samples, "modelsync_sync_last_run_id", provider="anthropic") == second["id"]
        assert value(samples, "modelsync_sync_last_duration_seconds", provider="anthropic") == (
            (second["finished_at"] - second["started_at"]).total_seconds()
        )
        assert value(samples, "modelsync_sync_last_success_timestamp_seconds", provider="anthropic") == (
            second["finished_at"].timestamp()
        )
        assert value(samples, "modelsync_sync_last_run_id", provider="openai") == first["id"]  # not in that run
        assert value(samples, "modelsync_sync_runs_total", status="ok") == 1
        assert value(samples, "modelsync_sync_runs_total", status="partial") == 1
        stored = dbread.count(engine, ai_model, provider="anthropic", status="active")
        assert stored > 0 and value(samples, "modelsync_models", provider="anthropic", status="active") == stored


def test_the_latency_histogram_counts_requests_by_route_template_and_status_class(synced, offline, api_factory):
    with api_factory(synced, offline, stamp_interval=60.0, metrics_ttl=0.0) as api, api.client("viewer") as viewer:
        model = dbread.models(synced, provider="openai")[0]["model_id"]
        for _ in range(3):  # the first is routed; the others are answered from the response cache, before routing
            assert viewer.get(f"/api/ai-models/openai/{model}").status_code == 200
        assert viewer.get("/api/ai-models/openai/no-such-model").status_code == 404
        assert viewer.get("/no/such/path").status_code == 404
        assert viewer.get("/opshub/login").status_code == 200
        samples = scrape(viewer)
    count = "modelsync_http_request_duration_seconds_count"
    one = "/api/ai-models/{provider}/{model_id:path}"
    assert value(samples, count, method="GET", route=one, status="2xx") == 3
    assert value(samples, count, method="GET", route=one, status="4xx") == 1
    assert value(samples, count, method="GET", route="unmatched", status="4xx") == 1
    assert value(samples, count, method="GET", route="/opshub/login", status="2xx") == 1
    assert value(samples, "modelsync_http_request_duration_seconds_sum", method="GET", route=one, status="2xx") > 0
    buckets = samples["modelsync_http_request_duration_seconds_bucket"]
    assert any(dict(labels)["le"] == "+Inf" and dict(labels)["route"] == one for labels in buckets)
    routes = {dict(labels)["route"] for labels in samples[count]}
    assert not any(model in route or "no-such" in route for route in routes), routes


def test_a_metrics_token_guards_the_scrape(engine, offline, api_factory):
    settings = offline.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    with api_factory(engine, settings, metrics_ttl=0.0) as api:
        with api.client() as anonymous:
            assert anonymous.get("/metrics").status_code == 401
        with api.client("super_admin") as admin:  # a user's API token is not the scrape token
            assert admin.get("/metrics").status_code == 401
        with api.live.client(METRICS_TOKEN) as scraper:
            samples = scrape(scraper)
    assert value(samples, "modelsync_database_up") == 1
    assert value(samples, "modelsync_sync_runs_total", status="ok") is None


def test_an_unreadable_database_still_answers_with_database_up_zero(tmp_path, server):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'missing' / 'modelsync.db'}")
    app = create_app(Settings(), engine, metrics_ttl=0.0)
    with server(app) as live, live.client() as client:
        samples = scrape(client)
    assert value(samples, "modelsync_database_up") == 0
    assert "modelsync_models" not in samples


def test_the_database_is_read_at_most_once_per_interval(engine, offline, api_factory):
    with api_factory(engine, offline, metrics_ttl=3600.0) as api, api.client() as client:
        before = scrape(client)
        run_sync(engine, offline, SyncOptions(providers=["openai"], trigger="cli"))
        assert dbread.count(engine, sync_run) == 1
        after = scrape(client)
    # Within the interval a scrape answers from the last reading (no runs yet then), not from the database.
    assert value(before, "modelsync_sync_runs_total", status="ok") is None
    assert value(after, "modelsync_sync_runs_total", status="ok") is None


def test_a_run_that_ended_before_its_providers_did_gives_each_its_end(engine):
    now = utc_now()
    with engine.begin() as conn:
        old = repo.insert_run(conn, "cli", None, ["openai", "google"], now - timedelta(hours=2))
        # A run stored in the API's shape (before the storage format), with its providers keyed by name.
        stored = {"providers": {"openai": {"provider": "openai", "status": "ok"}}, "status": "partial"}
        repo.finish_run(conn, old, "partial", stored, now - timedelta(hours=2) + timedelta(seconds=30))
        cancelled = repo.insert_run(conn, "api", "root", ["openai"], now - timedelta(minutes=5))
        repo.finish_run(conn, cancelled, "cancelled", {"format": 2, "status": "cancelled"}, now)
        repo.insert_run(conn, "schedule", None, ["openai"], now)  # still running: not finished, not counted
    data = sync_metrics(engine)
    assert data.last["openai"].outcome == "cancelled" and data.last["openai"].run_id == cancelled
    assert data.last["openai"].duration_seconds == 300
    assert "google" not in data.last  # the partial run says nothing of it
    assert data.runs_by_status == {"partial": 1, "cancelled": 1} and data.running == 1
    assert data.last_success == {} and data.models == {}
