"""Admin endpoints that change the catalog: run a sync (super_admin) and record decisions on a model (admin).

Rules:
- A sync runs through the sync service the CLI uses (services/sync.py), as `trigger="api"` with the caller's name
  and address: the service takes the lock, records and audit-logs the run (dry runs and refusals included) and
  invalidates this process's caches. It is synchronous (it runs its own event loop for provider fetches), so
  these are plain `def` endpoints, which FastAPI runs in its thread pool, never inside the server's loop. A sync
  refused because another one runs is answered 409 with the running sync's id.
- A decision goes through services.catalog.decide (history + audit, pinned against later syncs); this process's
  catalog watch is invalidated so the next read and cost answer show it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from modelsync.api.deps import Admin, SuperAdmin, client_ip, get_engine, get_settings, get_watch
from modelsync.api.schemas import (
    PATCH_FIELDS,
    DecisionOut,
    ModelPatch,
    ReplicateSyncRequest,
    SyncRequest,
    SyncSummaryOut,
    decisions_of,
    errors,
)
from modelsync.errors import UsageError
from modelsync.fieldspec import json_name
from modelsync.services import catalog, conflicts
from modelsync.services import quarantine as held
from modelsync.services.auth import Principal
from modelsync.services.sync import SyncOptions, run_sync

router = APIRouter(tags=["admin"])
SYNC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SyncSummaryOut},
    **errors(400, 401, 403, 409, 413, 422, 503),
}


def _sync(request: Request, principal: Principal, providers: list[str], dry_run: bool, recompute: bool) -> JSONResponse:
    options = SyncOptions(
        providers=providers,
        dry_run=dry_run,
        recompute=recompute,
        trigger="api",
        actor=principal.name,
        source_ip=client_ip(request),
        user_id=principal.user_id,
    )
    watch = get_watch(request)
    deliveries = request.app.state.deliveries

    def changed() -> None:
        watch.invalidate()
        deliveries.wake()  # the sync's webhook events go out from the delivery loop, never from this request

    report = run_sync(get_engine(request), get_settings(request), options, on_change=changed)
    return JSONResponse(report.to_dict(with_changes=dry_run))


@router.post("/api/admin/ai-models/sync", response_model=None, responses=SYNC_RESPONSES)
def sync_models(body: SyncRequest, request: Request, principal: SuperAdmin) -> JSONResponse:
    """Sync one provider (or `all` enabled ones) now; returns the summary of `modelsync sync --json` and the run id."""
    return _sync(request, principal, [body.provider], body.dryRun, body.recompute)


@router.post("/api/admin/ai-models/sync/replicate", response_model=None, responses=SYNC_RESPONSES)
def sync_replicate(
    request: Request,
    principal: SuperAdmin,
    body: Annotated[ReplicateSyncRequest | None, Body()] = None,
) -> JSONResponse:
    """Sync Replicate now (its collections, or its full listing when configured)."""
    return _sync(request, principal, ["replicate"], body.dryRun if body else False, body.recompute if body else False)


@router.patch(
    "/api/admin/ai-models/{provider}/{model_id:path}",
    response_model=None,
    responses={200: {"model": DecisionOut}, **errors(400, 401, 403, 404, 413, 422, 503)},
)
def decide(
    provider: str,
    model_id: str,
    body: ModelPatch,  # a class built from the field catalogue at import
    request: Request,
    principal: Admin,
) -> JSONResponse:
    """Record admin decisions (allowed, recommended, replacement, display name, prices); null clears one."""
    decisions = decisions_of(body)
    if not decisions:
        raise UsageError(f"nothing to change: send at least one of {', '.join(PATCH_FIELDS)} (null clears a decision).")
    engine = get_engine(request)
    provider = provider.lower()
    changes = catalog.decide(
        engine,
        get_settings(request),
        provider,
        model_id,
        decisions,
        principal.name,
        client_ip(request),
        principal.user_id,
    )
    if changes:
        get_watch(request).invalidate()
    rendered = {json_name(name): diff for name, diff in changes.items()}
    return JSONResponse({"changes": rendered, "model": catalog.show_model(engine, provider, model_id)})


class ConflictResolution(BaseModel):
    """Resolve a conflict: take one candidate's value (`source`) or enter one (`value`)."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = None
    value: str | int | None = None


@router.get("/api/admin/conflicts", response_model=None, responses=errors(401, 403, 503))
def list_conflicts(request: Request, _principal: Admin, provider: str | None = None) -> JSONResponse:
    """Every price or limit on which independent sources disagree beyond tolerance, with each candidate."""
    tolerance = get_settings(request).policy.price_tolerance
    return JSONResponse({"data": conflicts.list_conflicts(get_engine(request), tolerance, provider)})


@router.post(
    "/api/admin/conflicts/{provider}/{model_id:path}/{field}",
    response_model=None,
    responses={200: {"model": DecisionOut}, **errors(400, 401, 403, 404, 422, 503)},
)
def resolve_conflict(
    provider: str, model_id: str, field: str, body: ConflictResolution, request: Request, principal: Admin
) -> JSONResponse:
    """Resolve a conflict with an admin decision (history + audit), pinned against later syncs."""
    engine = get_engine(request)
    provider = provider.lower()
    changes = conflicts.resolve(
        engine,
        get_settings(request),
        provider,
        model_id,
        field,
        source=body.source,
        value=body.value,
        actor=principal.name,
        source_ip=client_ip(request),
        user_id=principal.user_id,
    )
    if changes:
        get_watch(request).invalidate()
    rendered = {json_name(name): diff for name, diff in changes.items()}
    return JSONResponse({"changes": rendered, "model": catalog.show_model(engine, provider, model_id)})


# An entry id as the database can hold it (a larger one would overflow the driver, not be "not found").
EntryId = Annotated[int, Path(ge=1, le=2**62)]


class QuarantineDecision(BaseModel):
    """Approve or reject a held change; `reason` is kept in the audit log."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


@router.get("/api/admin/quarantine", response_model=None, responses=errors(401, 403, 422, 503))
def list_quarantine(
    request: Request, _principal: Admin, status: str = "pending", provider: str | None = None
) -> JSONResponse:
    """Changes a sync held instead of applying (pending by default; `status=all` for every entry), with evidence."""
    return JSONResponse({"data": held.list_entries(get_engine(request), status, provider)})


def _decide_held(
    entry_id: int, body: QuarantineDecision | None, request: Request, principal: Principal, approve: bool
) -> JSONResponse:
    done = held.decide(
        get_engine(request),
        get_settings(request),
        entry_id,
        approve,
        principal.name,
        client_ip(request),
        principal.user_id,
        body.reason if body is not None else None,
    )
    if done["changes"]:
        get_watch(request).invalidate()
    return JSONResponse(done)


@router.post(
    "/api/admin/quarantine/{entry_id}/approve",
    response_model=None,
    responses=errors(401, 403, 404, 409, 422, 503),
)
def approve_quarantined(
    entry_id: EntryId, request: Request, principal: Admin, body: QuarantineDecision | None = None
) -> JSONResponse:
    """Apply a held change to its model (history row by the caller, audit entry); the next sync keeps it."""
    return _decide_held(entry_id, body, request, principal, approve=True)


@router.post(
    "/api/admin/quarantine/{entry_id}/reject",
    response_model=None,
    responses=errors(401, 403, 404, 409, 422, 503),
)
def reject_quarantined(
    entry_id: EntryId, request: Request, principal: Admin, body: QuarantineDecision | None = None
) -> JSONResponse:
    """Keep the stored value (audited); later syncs proposing the same value hold it without a new entry."""
    return _decide_held(entry_id, body, request, principal, approve=False)
