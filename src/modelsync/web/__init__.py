"""The admin web UI at /opshub/ai-models: server-rendered pages over the API's services, mounted by the API app.

Rules: the UI is a sub-application mounted at /opshub, sharing the API app's engine, settings, catalog watch and
sessions key; it has its own sign-in (sessions, web/session.py) instead of API tokens. Its files (templates, CSS)
ship inside the package; nothing is loaded from another site and no script runs in the browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from modelsync.errors import ModelsyncError
from modelsync.web import actions, pages
from modelsync.web.base import HEADERS, PREFIX, Refused, page, record_denial, redirect, sign_in_url, visit
from modelsync.web.session import session_key
from modelsync.web.syncjobs import SyncJobs

STATIC = Path(__file__).with_name("static")

__all__ = ["PREFIX", "create_web_app"]


def create_web_app(state: Any) -> FastAPI:
    """The UI's sub-application over the API app's state (engine, settings, watch)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, debug=False)
    app.state.engine = state.engine
    app.state.settings = state.settings
    app.state.watch = state.watch
    app.state.denials = state.denials
    app.state.clock = state.clock  # what "now" is for scheduled prices (the API app's, so tests can move it)
    app.state.deliveries = state.deliveries
    app.state.session_key = session_key(state.settings)
    app.state.sync_jobs = SyncJobs()
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        if exc.sign_in and request.method == "GET":
            return redirect(sign_in_url(request))
        if request.method == "POST":
            # Refused forms count as denied attempts, audit-logged per client and minute like the API's.
            await record_denial(request, exc.who, 403, str(exc).split(";")[0], exc.role)
        current = await anyio.to_thread.run_sync(visit, request)
        return page(request, current, "error.html", status=403, title="Not allowed", message=str(exc))

    async def error_page(request: Request, status: int, title: str, message: str) -> Response:
        current = await anyio.to_thread.run_sync(visit, request)
        return page(request, current, "error.html", status=status, title=title, message=message)

    @app.exception_handler(ModelsyncError)
    async def failed(request: Request, exc: ModelsyncError) -> Response:
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        title = {404: "Not found", 422: "Not valid", 409: "Busy", 503: "Busy"}.get(status, "Error")
        return await error_page(request, status, title, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return await error_page(request, 404, "Not found", "There is no such page (part of its address is not valid).")

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return await error_page(request, 404, "Not found", "There is no such page.")

    app.state.headers = HEADERS
    return app
