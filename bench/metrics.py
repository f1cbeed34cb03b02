"""What /metrics costs: the latency middleware per request, and one uncached scrape of the database.

1. Builds a catalog (the bundled catalogs for OpenAI, Anthropic and Google, through the real sync engine, offline)
   in a fresh SQLite database (or the PostgreSQL one given with --database-url), then records --runs synthetic
   finished sync runs of 10 providers each (a long history: a scrape must not read it all).
2. Times, in this process over ASGI calls (no network), a cached model read (the fastest answer the API has) with
   the app as built and the latency middleware's own work on the same request (a no-op app wrapped by it), and
   prints the middleware's share of that request.
3. Times one uncached database reading behind /metrics against the /healthz check, and prints the ratio.

Usage: .venv/bin/python bench/metrics.py [--runs 2000] [--requests 3000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("MODELSYNC_OFFLINE", "true")

from modelsync.api.app import create_app
from modelsync.api.metrics import RequestMetrics, build_registry
from modelsync.db import repo
from modelsync.db.engine import open_database
from modelsync.records import utc_now
from modelsync.services import runs
from modelsync.services.metrics import sync_metrics
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings

PROVIDERS = ("openai", "anthropic", "google", "mistral", "xai", "groq", "deepseek", "together", "openrouter", "ollama")


def record_runs(engine: Any, count: int) -> None:
    """Append `count` finished runs of every provider (summaries shaped as the sync stores them)."""
    start = utc_now() - timedelta(days=count)
    with engine.begin() as conn:
        for index in range(count):
            at = start + timedelta(days=index)
            run_id = repo.insert_run(conn, "schedule", None, list(PROVIDERS), at)
            entries = [
                {"provider": name, "label": name, "status": "ok", "message": None, "listing": "live",
                 "counts": {"created": 0, "updated": 3, "unchanged": 400, "deprecated": 0, "reactivated": 0},
                 "notes": [], "warnings": [], "warning_count": 0, "inputs_unchanged": False}
                for name in PROVIDERS
            ]  # fmt: skip
            summary = {"format": 2, "status": "ok", "providers": entries, "catalogs": {}}
            repo.finish_run(conn, run_id, "ok", summary, at + timedelta(seconds=42))


async def call(app: Any, path: str) -> int:
    """One GET through the ASGI app; returns the status."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": [],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
    await app(scope, receive, send)
    return status


async def per_request(app: Any, path: str, requests: int) -> float:
    """Median of 5 rounds of the mean seconds per request."""
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(requests):
            await call(app, path)
        rounds.append((time.perf_counter() - started) / requests)
    return statistics.median(rounds)


async def noop(scope: Any, receive: Any, send: Any) -> None:
    """The cheapest ASGI answer: a 200 with no body."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def timed(function: Any, rounds: int = 20) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    """Run the benchmark and print its ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="modelsync-bench-metrics-"))
    url = args.database_url or f"sqlite:///{folder / 'modelsync.db'}"
    os.environ["DATABASE_URL"] = url
    os.environ["MODELSYNC_PUBLIC_READ"] = "true"
    settings = load_settings()
    engine = open_database(url)
    run_sync(engine, settings, SyncOptions(providers=["openai", "anthropic", "google"], trigger="cli"))
    record_runs(engine, args.runs)
    app = create_app(settings, engine, stamp_interval=3600.0)
    path = "/api/ai-models/openai/gpt-4o"

    async def requests() -> tuple[float, float, float]:
        assert await call(app, path) == 200  # routed once: later calls are cache hits
        full = await per_request(app, path, args.requests)
        _, histogram = build_registry(engine, 5.0)
        wrapped = RequestMetrics(noop, histogram, app)
        bare = await per_request(noop, path, args.requests)
        measured = await per_request(wrapped, path, args.requests)
        return full, bare, measured

    full, bare, measured = asyncio.run(requests())
    overhead = max(measured - bare, 0.0)
    print(f"cached model read through the app: {full * 1e6:.1f} us per request")
    print(f"latency middleware (route template by matching, as for a cache hit): {overhead * 1e6:.1f} us per request")
    print(f"ratio middleware / cached read: {overhead / full:.3f}")
    scrape = timed(lambda: sync_metrics(engine))
    health = timed(lambda: runs.health(engine))
    print(f"uncached /metrics database reading with {args.runs + 1} runs: {scrape * 1e3:.2f} ms")
    print(f"/healthz database check: {health * 1e3:.2f} ms")
    print(f"ratio metrics reading / health check: {scrape / health:.2f}")
    engine.dispose()


if __name__ == "__main__":
    main()
