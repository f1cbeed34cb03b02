"""Prometheus metrics of one app: the sync and catalog gauges read from the database, and HTTP request latency.

Rules:
- Each app has a registry of its own (tests and embedders build several apps in one process).
- Sync and catalog values are read from the database at scrape time (services/metrics.py), at most once per
  `ttl` seconds, so every replica reports the shared database's truth and a busy scraper costs a few queries per
  interval. A database that cannot be read gives `modelsync_database_up 0` and the HTTP metrics, not an error.
- Request latency is measured by an ASGI middleware around everything else (cache hits and early refusals
  included), labelled by method, route template (`/api/ai-models/{provider}/{model_id:path}`, never the raw path,
  so ids cannot blow up the label set) and status class (`2xx`). A path no route matches is `unmatched`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import fastapi.routing
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelsync.services.metrics import OUTCOMES, SyncMetrics, sync_metrics

log = logging.getLogger("modelsync.api")

UNMATCHED = "unmatched"
# Paths answered before routing whose template is remembered: cache hits repeat the same few paths, and matching
# one against every route costs more than the cached answer itself (bench/metrics.py). Cleared when full.
_REMEMBERED = 4096
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class CatalogCollector(Collector):
    """Sync outcomes, durations and model counts, read from the database at most once per `ttl` seconds."""

    def __init__(self, engine: Engine, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, SyncMetrics | None] | None = None

    def _read(self) -> SyncMetrics | None:
        with self._lock:
            now = self._clock()
            if self._cached is not None and now < self._cached[0]:
                return self._cached[1]
            try:
                data: SyncMetrics | None = sync_metrics(self._engine)
            except Exception as exc:
                # A scrape must still answer (with database_up 0) when the database does not.
                log.warning("metrics: the database could not be read (%s)", type(exc).__name__)
                data = None
            self._cached = (now + self._ttl, data)
            return data

    def describe(self) -> Iterable[Metric]:
        """No description up front: the registry must not read the database when the collector is registered."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The metric families of the current (cached) database reading."""
        data = self._read()
        up = GaugeMetricFamily("modelsync_database_up", "1 when the last reading of the database succeeded.")
        up.add_metric([], 0 if data is None else 1)
        yield up
        if data is None:
            return
        yield from _sync_families(data)
        models = GaugeMetricFamily(
            "modelsync_models", "Stored models per provider and status.", labels=["provider", "status"]
        )
        for (provider, status), count in sorted(data.models.items()):
            models.add_metric([provider, status], count)
        yield models


def _sync_families(data: SyncMetrics) -> Iterator[Metric]:
    duration = GaugeMetricFamily(
        "modelsync_sync_last_duration_seconds",
        "Duration of the provider's newest finished sync run (providers are fetched concurrently in one run).",
        labels=["provider"],
    )
    finished = GaugeMetricFamily(
        "modelsync_sync_last_timestamp_seconds",
        "When the provider's newest finished sync run ended.",
        labels=["provider"],
    )
    outcome = GaugeMetricFamily(
        "modelsync_sync_last_outcome",
        "1 for the outcome of the provider's newest finished sync run, 0 for the others.",
        labels=["provider", "outcome"],
    )
    run_id = GaugeMetricFamily(
        "modelsync_sync_last_run_id", "The provider's newest finished sync run.", labels=["provider"]
    )
    for provider, last in sorted(data.last.items()):
        duration.add_metric([provider], last.duration_seconds)
        finished.add_metric([provider], last.finished_at.timestamp())
        run_id.add_metric([provider], last.run_id)
        for name in (*OUTCOMES, *([last.outcome] if last.outcome not in OUTCOMES else [])):
            outcome.add_metric([provider, name], 1 if name == last.outcome else 0)
    success = GaugeMetricFamily(
        "modelsync_sync_last_success_timestamp_seconds",
        "When a sync last applied the provider's listing.",
        labels=["provider"],
    )
    for provider, at in sorted(data.last_success.items()):
        success.add_metric([provider], at.timestamp())
    runs = CounterMetricFamily(
        "modelsync_sync_runs", "Finished sync runs by status (every replica and the CLI).", labels=["status"]
    )
    for status, count in sorted(data.runs_by_status.items()):
        runs.add_metric([status], count)
    running = GaugeMetricFamily("modelsync_sync_running", "Sync runs recorded as running.")
    running.add_metric([], data.running)
    yield from (duration, finished, outcome, run_id, success, runs, running)


def _route_entries(app: Any) -> list[Any]:
    # Since FastAPI 0.137 app.routes holds one lazy entry per included router; iter_route_contexts expands them.
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(expand(app.routes)) if expand else list(app.routes)


class RequestMetrics:
    """ASGI middleware observing every HTTP request's latency by method, route template and status class."""

    def __init__(self, app: ASGIApp, histogram: Histogram, root: Any) -> None:
        self.app = app
        self.histogram = histogram
        self._root = root  # the FastAPI app, whose routes name the templates of requests answered before routing
        self._entries: list[Any] | None = None
        self._templates: dict[tuple[str, str], str] = {}

    def _matched(self, scope: Scope) -> str:
        """The template of the route a request would reach (it was answered before routing: a cache hit, a 413)."""
        key = (str(scope.get("method", "GET")), str(scope.get("path", "")))
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) >= _REMEMBERED:
                self._templates.clear()
            template = self._templates[key] = self._match(*key)
        return template

    def _match(self, method: str, path: str) -> str:
        if self._entries is None:
            self._entries = _route_entries(self._root)
        probe = {"type": "http", "method": method, "path": path, "root_path": ""}
        for entry in self._entries:
            if entry.matches(probe)[0] == Match.FULL:
                template = getattr(entry, "path", None)
                if not isinstance(template, str):
                    return UNMATCHED
                # A mount (the web UI, the docs' assets) matches every path below it.
                return template if getattr(entry, "methods", None) else f"{template}/{{path}}"
        return UNMATCHED

    def template(self, scope: Scope, root_path: str) -> str:
        """The route template that answered `scope` (its mount prefix included)."""
        prefix = str(scope.get("root_path", ""))[len(root_path) :]
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return prefix + path
        if prefix:
            return f"{prefix}/{{path}}"  # a mounted application that answered without a route of its own
        return self._matched(scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record it once its answer is complete."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        root_path = str(scope.get("root_path", ""))
        status = 500  # an exception before any answer is what the client sees as a server error

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            method = scope.get("method", "GET")
            self.histogram.labels(
                method if method in _METHODS else "other", self.template(scope, root_path), f"{status // 100}xx"
            ).observe(time.perf_counter() - started)


def build_registry(engine: Engine, ttl: float) -> tuple[CollectorRegistry, Histogram]:
    """A registry with the database collector and the request latency histogram."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CatalogCollector(engine, ttl))
    histogram = Histogram(
        "modelsync_http_request_duration_seconds",
        "HTTP request latency of this process, by method, route template and status class.",
        ["method", "route", "status"],
        registry=registry,
    )
    return registry, histogram
