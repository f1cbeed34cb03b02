"""`GET /healthz`: whether this replica can serve (the database answers) and when the catalog was last synced.

Rules: no token needed (load balancers call it); it reveals no configuration, only reachability, the last sync run
and the model count. An unreachable database answers 503 with the same shape, so probes can read either.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from modelsync.api.deps import get_engine
from modelsync.api.schemas import HealthOut
from modelsync.services import runs

router = APIRouter(tags=["health"])
log = logging.getLogger("modelsync.api")


@router.get("/healthz", response_model=None, responses={200: {"model": HealthOut}, 503: {"model": HealthOut}})
def healthz(request: Request) -> JSONResponse:
    """Database reachable, last sync run, number of stored models."""
    engine = get_engine(request)
    try:
        models = runs.model_count(engine)
        last = runs.last_run(engine)
    except sa.exc.SQLAlchemyError as exc:
        log.warning("health check: database unreachable (%s)", type(exc).__name__)
        body = {"status": "unavailable", "database": "unreachable", "lastSync": None, "models": None}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "lastSync": last, "models": models})
