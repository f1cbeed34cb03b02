"""Super-admin read endpoints: recorded sync runs and the audit log, newest first, paged by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from modelsync.api.deps import SuperAdmin, get_engine
from modelsync.api.schemas import AuditPage, RunOut, RunPage, errors
from modelsync.services import audit, runs

router = APIRouter(tags=["admin"])
EngineDep = Annotated[Engine, Depends(get_engine)]
Cursor = Annotated[int | None, Query(ge=1, le=2**62, description="`nextCursor` of the previous page.")]
Limit = Annotated[int, Query(ge=1, le=500)]


@router.get(
    "/api/admin/sync-runs", response_model=None, responses={200: {"model": RunPage}, **errors(401, 403, 422, 503)}
)
def list_runs(engine: EngineDep, _caller: SuperAdmin, limit: Limit = 50, cursor: Cursor = None) -> JSONResponse:
    """Recorded sync runs (API, CLI and scheduler), newest first."""
    data, next_cursor = runs.list_runs(engine, limit, cursor)
    return JSONResponse({"data": data, "nextCursor": next_cursor})


@router.get(
    "/api/admin/sync-runs/{run_id}",
    response_model=None,
    responses={200: {"model": RunOut}, **errors(401, 403, 404, 422, 503)},
)
def show_run(run_id: Annotated[int, Path(ge=1, le=2**62)], engine: EngineDep, _caller: SuperAdmin) -> JSONResponse:
    """One sync run with its full summary."""
    return JSONResponse(runs.show_run(engine, run_id))


@router.get(
    "/api/admin/audit-log", response_model=None, responses={200: {"model": AuditPage}, **errors(401, 403, 422, 503)}
)
def audit_log(
    engine: EngineDep,
    _caller: SuperAdmin,
    limit: Limit = 100,
    cursor: Cursor = None,
    action: Annotated[
        str | None, Query(max_length=64, description="Only this action (sync, access.denied, ...).")
    ] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
) -> JSONResponse:
    """Audit entries: syncs, admin decisions, user and token changes, denied attempts; newest first."""
    data, next_cursor = audit.list_entries(
        engine, limit=limit, before=cursor, action=action, actor=actor, outcome=outcome
    )
    return JSONResponse({"data": data, "nextCursor": next_cursor})
