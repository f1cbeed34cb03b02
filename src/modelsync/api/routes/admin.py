"""Admin endpoints that change the catalog: run a sync (super_admin) and record decisions on a model (admin).

Rules:
- A sync runs through the same engine as the CLI, as `trigger="api"` with the caller's name and address; the engine
  records the run and audit-logs it. The engine is synchronous (it runs its own event loop for provider fetches),
  so these are plain `def` endpoints, which FastAPI runs in its thread pool, never inside the server's loop.
- A dry run writes nothing to the catalog, but the request itself is audit-logged (`sync.dry_run`): who looked at
  which providers' pending changes is part of the compliance trail. A sync refused because another one runs is
  audit-logged too (`sync`, outcome `rejected`), then answered 409 with the running sync's id.
- A decision goes through services.catalog.decide (history + audit, pinned against later syncs); this process's
  catalog watch is invalidated so the next read and cost answer show it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from modelsync.api.deps import Admin, SuperAdmin, client_ip, get_engine, get_settings, get_watch
from modelsync.api.schemas import DecisionOut, ModelPatch, ReplicateSyncRequest, SyncRequest, SyncSummaryOut, errors
from modelsync.errors import SyncBusyError, UsageError
from modelsync.services import audit, catalog
from modelsync.services.auth import Principal
from modelsync.sync.engine import SyncOptions, run_sync

router = APIRouter(tags=["admin"])
SYNC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SyncSummaryOut},
    **errors(400, 401, 403, 409, 413, 422, 503),
}


def _sync(request: Request, principal: Principal, providers: list[str], dry_run: bool) -> JSONResponse:
    engine = get_engine(request)
    source_ip = client_ip(request)
    options = SyncOptions(
        providers=providers, dry_run=dry_run, trigger="api", actor=principal.name, source_ip=source_ip
    )
    try:
        report = run_sync(engine, get_settings(request), options)
    except SyncBusyError as exc:
        audit.record(
            engine,
            action="sync",
            outcome="rejected",
            actor=principal.name,
            user_id=principal.user_id,
            source_ip=source_ip,
            target=",".join(providers),
            details={"trigger": "api", "runningRunId": exc.running_run_id, "dryRun": dry_run},
        )
        raise
    summary = report.to_dict(with_changes=dry_run)
    if dry_run:
        audit.record(
            engine,
            action="sync.dry_run",
            outcome=report.status,
            actor=principal.name,
            user_id=principal.user_id,
            source_ip=source_ip,
            target=",".join(summary["providers"]),
            details={"trigger": "api", "providers": list(summary["providers"]), "totals": summary["totals"]},
        )
    else:
        get_watch(request).invalidate()
    return JSONResponse(summary)


@router.post("/api/admin/ai-models/sync", response_model=None, responses=SYNC_RESPONSES)
def sync_models(body: SyncRequest, request: Request, principal: SuperAdmin) -> JSONResponse:
    """Sync one provider (or `all` enabled ones) now; returns the summary of `modelsync sync --json` and the run id."""
    return _sync(request, principal, [body.provider], body.dryRun)


@router.post("/api/admin/ai-models/sync/replicate", response_model=None, responses=SYNC_RESPONSES)
def sync_replicate(
    request: Request,
    principal: SuperAdmin,
    body: Annotated[ReplicateSyncRequest | None, Body()] = None,
) -> JSONResponse:
    """Sync Replicate now (its collections, or its full listing when configured)."""
    return _sync(request, principal, ["replicate"], body.dryRun if body else False)


@router.patch(
    "/api/admin/ai-models/{provider}/{model_id:path}",
    response_model=None,
    responses={200: {"model": DecisionOut}, **errors(400, 401, 403, 404, 413, 422, 503)},
)
def decide(provider: str, model_id: str, body: ModelPatch, request: Request, principal: Admin) -> JSONResponse:
    """Record admin decisions (allowed, recommended, replacement, display name, prices); null clears one."""
    decisions = body.decisions()
    if not decisions:
        raise UsageError(
            "nothing to change: send at least one of isAllowed, recommended, replacementModel, displayName, "
            "inputCostPer1M, outputCostPer1M, cacheReadCostPer1M, cacheWriteCostPer1M (null clears a decision)."
        )
    engine = get_engine(request)
    provider = provider.lower()
    changes = catalog.decide(
        engine, get_settings(request), provider, model_id, decisions, principal.name, client_ip(request)
    )
    if changes:
        get_watch(request).invalidate()
    return JSONResponse({"changes": changes, "model": catalog.show_model(engine, provider, model_id)})
