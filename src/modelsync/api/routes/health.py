"""`GET /healthz`: whether this replica can serve (the database answers) and when the catalog was last synced.

Rules: no token needed (load balancers call it); it reveals no configuration, only reachability, the last sync run
and the model count. An unreachable database answers 503 with the same shape, so probes can read either.
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
    """Database reachable, last sync run, number of stored models."""
    healthy, body = runs.health(get_engine(request))
    return JSONResponse(body, status_code=200 if healthy else 503)
