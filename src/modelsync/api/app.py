"""The FastAPI application factory.

Rules: the app holds no state of its own beyond caches it can rebuild (price index, verified tokens, rendered
reads) and this minute's count of denied attempts, the caches tied to one catalog watch that re-reads the
database's stamp at most every `stamp_interval` seconds; so several replicas can serve one PostgreSQL and each
sees another's writes within that interval. Settings and the engine are made once per app and shared by every
request. OpenAPI is at /openapi.json; its interactive pages, /docs (Swagger UI) and /redoc, load their scripts and
styles from the installed `fastapi-offline` package under /docs/assets, never from a CDN, so they work without
internet access. Request bodies are limited in size before they are parsed, and NUL characters in paths and query
parameters are refused before routing.
While the app runs, a housekeeping task writes pending counts of denied attempts every `housekeeping_interval`
seconds (and once more at shutdown) and applies the audit and webhook event retention settings at most once an
hour (services/event_retention.py).
`GET /metrics` (api/metrics.py) reads the database at most every `metrics_ttl` seconds. With a `schedule`, the app
runs the scheduled sync (services/scheduler.py) on a thread from start to shutdown; /healthz shows its next run.
A delivery loop sends pending webhook deliveries (services/delivery.py) on a worker thread every
`webhook_interval` seconds and right after a sync this process ran.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import anyio
import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import Engine

from modelsync.api.cache import ResponseCache
from modelsync.api.errors import install_error_handlers
from modelsync.api.fastpath import CachedReads
from modelsync.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit, ParameterGuard
from modelsync.api.metrics import RequestMetrics, build_registry
from modelsync.api.routes import admin, cost, health, metrics, models, runs, webhooks
from modelsync.records import utc_now
from modelsync.schedule import CronSchedule
from modelsync.services.audit import DENIALS_PER_MINUTE, DenialLog, Retention
from modelsync.services.delivery import DeliveryLoop
from modelsync.services.event_retention import EventRetention
from modelsync.services.prices import PriceIndex
from modelsync.services.scheduler import SyncScheduler, next_runs_text, sync_scheduler
from modelsync.services.tokens import TokenCache
from modelsync.services.versions import CatalogWatch
from modelsync.settings import Settings
from modelsync.web import PREFIX as WEB_PREFIX
from modelsync.web import create_web_app

DESCRIPTION = """\
The team's table of AI models, kept current by modelsync: exact API ids, names, prices, limits, capabilities,
lifecycle. Send `Authorization: Bearer <token>` (tokens come from `modelsync tokens create --user NAME`); reads are
open without one only when the server runs with MODELSYNC_PUBLIC_READ=true. Errors are
`{"error": {"code", "message"}}`.
"""
DOCS_ASSETS = "/docs/assets"
_WAKE_CHECK = 0.1  # seconds between looks at whether a sync asked for a delivery pass

log = logging.getLogger("modelsync.api")


def _housekeeping(denials: DenialLog, retention: Retention, events: EventRetention | None = None) -> None:
    # Never lets an error out: housekeeping failing must not stop the server; it is retried on the next round.
    try:
        denials.flush()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("could not write the counts of denied attempts yet (%s); retrying", type(exc).__name__)
    except Exception:
        log.exception("writing the counts of denied attempts failed")
    try:
        retention.run()
    except Exception:
        log.exception("applying the audit retention failed")
    try:
        if events is not None:
            events.run()
    except Exception:
        log.exception("applying the webhook event retention failed")


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    stamp_interval: float = 1.0,
    denials_per_minute: int = DENIALS_PER_MINUTE,
    housekeeping_interval: float = 5.0,
    clock: Callable[[], datetime] = utc_now,
    metrics_ttl: float = 5.0,
    schedule: CronSchedule | None = None,
) -> FastAPI:
    """Build the app over the given settings and engine (loaded and opened, with migrations, when omitted)."""
    if settings is None:
        from modelsync.settings import load_settings

        settings = load_settings()
    owns_engine = engine is None
    if engine is None:
        from modelsync.db.engine import open_database

        engine = open_database(settings.database_url)

    denials = DenialLog(engine, denials_per_minute, clock=clock)
    retention = Retention(engine, settings.audit_retention_days)
    event_retention = EventRetention(engine, settings.webhook_retention_days, clock=clock)

    async def housekeep() -> None:
        while True:
            await anyio.to_thread.run_sync(_housekeeping, denials, retention, event_retention)
            await anyio.sleep(housekeeping_interval)

    deliveries = DeliveryLoop(engine, settings, clock)

    async def deliver() -> None:
        # Webhook deliveries on a worker thread: every `webhook_interval` seconds, and soon after a sync wakes it.
        while True:
            await anyio.to_thread.run_sync(deliveries.run_once)
            waited = 0.0
            while waited < settings.webhook_interval and not deliveries.woken.is_set():
                await anyio.sleep(_WAKE_CHECK)
                waited += _WAKE_CHECK

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler: SyncScheduler | None = None
        if schedule is not None:

            def changed() -> None:
                app.state.watch.invalidate()
                deliveries.wake()  # a scheduled sync's webhook events go out from the delivery loop

            scheduler = sync_scheduler(engine, settings, schedule, on_change=changed)
            scheduler.start()
            log.info(next_runs_text(scheduler))
        app.state.scheduler = scheduler
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(housekeep)
            tasks.start_soon(deliver)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                if scheduler is not None:
                    await anyio.to_thread.run_sync(scheduler.stop)
        await anyio.to_thread.run_sync(_housekeeping, denials, Retention(engine, None))
        if owns_engine:
            engine.dispose()

    app = FastAPIOffline(
        title="modelsync",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        debug=False,
        static_url=DOCS_ASSETS,
        # The online validator badge would make the page call out to swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.clock = clock
    # The scheduled sync's thread, while the app runs with a schedule (`modelsync serve --schedule`).
    app.state.scheduler = None
    app.state.denials = denials
    app.state.deliveries = deliveries
    app.state.watch = CatalogWatch(engine, interval=stamp_interval)
    app.state.prices = PriceIndex(engine, app.state.watch)
    app.state.tokens = TokenCache(engine)
    app.state.responses = ResponseCache()
    app.state.metrics, latency = build_registry(engine, metrics_ttl)
    install_error_handlers(app)
    for module in (models, admin, cost, runs, health, metrics, webhooks):
        app.include_router(module.router)
    # The admin web UI (server-rendered pages with sessions of their own) over the same services and state.
    app.mount(WEB_PREFIX, create_web_app(app.state))
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(CachedReads, state=app.state)
    app.add_middleware(ParameterGuard)
    # Outermost, so the latency covers everything the other layers do (and their early answers).
    app.add_middleware(RequestMetrics, histogram=latency, root=app)
    return app
