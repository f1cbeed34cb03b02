"""`GET /healthz`: whether this replica can serve (the database answers) and when the catalog was last synced.

Rules: no token needed (load balancers call it); it reveals no configuration, only reachability, the last sync run,
the model count, and the scheduled sync's cron expression and next run when this server runs one. An unreachable
database answers 503 with the same shape, so probes can read either.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from modelsync.api.deps import get_engine
from modelsync.api.schemas import HealthOut
from modelsync.services import runs

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=None, responses={200: {"model": HealthOut}, 503: {"model": HealthOut}})
def healthz(request: Request) -> JSONResponse:
    """Database reachable, last sync run, number of stored models, next scheduled sync."""
    healthy, body = runs.health(get_engine(request))
    scheduler = request.app.state.scheduler
    next_run = scheduler.next_run if scheduler is not None else None
    body["schedule"] = (
        {"cron": scheduler.schedule.expression, "nextRun": next_run.isoformat() if next_run else None}
        if scheduler is not None
        else None
    )
    return JSONResponse(body, status_code=200 if healthy else 503)
