"""The FastAPI application factory.

Rules: the app holds no state of its own beyond caches it can rebuild (price index, verified tokens, rendered
reads), all tied to one catalog watch that re-reads the database's stamp at most every `stamp_interval` seconds;
so several replicas can serve one PostgreSQL and each sees another's writes within that interval. Settings and
the engine are made once per app and shared by every request. OpenAPI is at
/openapi.json and its interactive page at /docs. Request bodies are limited in size before they are parsed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from modelsync.api.cache import ResponseCache
from modelsync.api.errors import install_error_handlers
from modelsync.api.fastpath import CachedReads
from modelsync.api.limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from modelsync.api.routes import admin, cost, health, models, runs
from modelsync.services.prices import PriceIndex
from modelsync.services.tokens import TokenCache
from modelsync.services.versions import CatalogWatch
from modelsync.settings import Settings

DESCRIPTION = """\
The team's table of AI models, kept current by modelsync: exact API ids, names, prices, limits, capabilities,
lifecycle. Send `Authorization: Bearer <token>` (tokens come from `modelsync tokens create --user NAME`); reads are
open without one only when the server runs with MODELSYNC_PUBLIC_READ=true. Errors are
`{"error": {"code", "message"}}`.
"""


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    stamp_interval: float = 1.0,
) -> FastAPI:
    """Build the app over the given settings and engine (loaded and opened, with migrations, when omitted)."""
    if settings is None:
        from modelsync.settings import load_settings

        settings = load_settings()
    owns_engine = engine is None
    if engine is None:
        from modelsync.db.engine import open_database

        engine = open_database(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="modelsync",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        debug=False,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.watch = CatalogWatch(engine, interval=stamp_interval)
    app.state.prices = PriceIndex(engine, app.state.watch)
    app.state.tokens = TokenCache(engine)
    app.state.responses = ResponseCache()
    install_error_handlers(app)
    for module in (models, admin, cost, runs, health):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    app.add_middleware(CachedReads, state=app.state)
    return app
