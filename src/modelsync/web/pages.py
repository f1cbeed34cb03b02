"""The read pages: the model table, one model, compare, what changed, sync runs, the audit log.

Rules: every page reads through the services the API uses (services/query, catalog, overview, runs, audit); no
page builds a query. Filters are the API's filters (services/query.FILTERS) under friendlier form names; a filter
value no model can have is reported on the page, not turned into an empty table. The table pages by keyset
cursor, so its cost does not grow with the catalog.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from modelsync.errors import NotFoundError, UsageError
from modelsync.fieldspec import KINDS, STATUSES, TIERS
from modelsync.records import utc_now
from modelsync.services import audit, catalog, conflicts, overview, query, runs
from modelsync.services import quarantine as held
from modelsync.services.query import ModelFilters
from modelsync.settings import Settings
from modelsync.sync.engine import enabled_providers
from modelsync.sync.quarantine import PENDING
from modelsync.web import present
from modelsync.web.base import PREFIX, Engine, engine_of, page, redirect, require, settings_of, visit

router = APIRouter()

# Table columns: key -> (heading, sort key or None). The model column is always shown.
COLUMNS: Final[dict[str, tuple[str, str | None]]] = {
    "provider": ("Provider", "provider"),
    "kind": ("Kind", None),
    "status": ("Status", None),
    "input": ("Input $/1M", "inputCostPer1M"),
    "output": ("Output $/1M", "outputCostPer1M"),
    "cacheRead": ("Cache read $/1M", None),
    "context": ("Context", "contextWindow"),
    "maxOutput": ("Max output", "maxOutputTokens"),
    "tier": ("Tier", None),
    "allowed": ("Allowed", None),
    "recommended": ("Recommended", None),
    "capabilities": ("Capabilities", None),
    "released": ("Released", "releaseDate"),
    "updated": ("Updated", "updatedAt"),
}
DEFAULT_COLUMNS: Final = ("provider", "kind", "input", "output", "context", "tier", "allowed", "recommended", "updated")
PAGE_SIZES: Final = (25, 50, 100, 200)
_YES_NO: Final = {"yes": True, "no": False}
_MAX_Q: Final = 200
_MAX_CHANGES: Final = 5000


_CELLS: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "provider": lambda model: model["provider"],
    "kind": lambda model: model["kind"],
    "status": lambda model: model["status"],
    "input": lambda model: present.money(model["inputCostPer1M"]),
    "output": lambda model: present.money(model["outputCostPer1M"]),
    "cacheRead": lambda model: present.money(model["cacheReadCostPer1M"]),
    "context": lambda model: present.count(model["contextWindow"]),
    "maxOutput": lambda model: present.count(model["maxOutputTokens"]),
    "tier": lambda model: model["tier"] or present.UNKNOWN,
    "allowed": lambda model: present.tri(model["isAllowed"]),
    "recommended": lambda model: present.tri(model["recommended"]),
    "capabilities": lambda model: ", ".join(model["capabilities"]) or "none known",
    "released": lambda model: model["releaseDate"] or present.UNKNOWN,
    "updated": lambda model: present.when(model["updatedAt"]),
}


def cell(model: dict[str, Any], key: str) -> str:
    """One table cell's text."""
    return str(_CELLS[key](model))


def _filters(request: Request) -> tuple[dict[str, Any], ModelFilters, list[str]]:
    """The form's filter values, the API filters they mean, and problems with values no model can have."""
    params = request.query_params
    form: dict[str, Any] = {
        "provider": params.get("provider", ""),
        "status": params.get("status", ""),
        "kind": params.get("kind", ""),
        "capability": [value for value in params.getlist("capability") if value],
        "tier": params.get("tier", ""),
        "recommended": params.get("recommended", ""),
        "allowed": params.get("allowed", ""),
        "q": params.get("q", "")[:_MAX_Q],
    }
    api: dict[str, Any] = {
        "provider": [form["provider"]] if form["provider"] else None,
        "status": [form["status"]] if form["status"] else None,
        "kind": [form["kind"]] if form["kind"] else None,
        "capabilities": form["capability"] or None,
        "tier": [form["tier"]] if form["tier"] else None,
        "recommended": _YES_NO.get(form["recommended"]),
        "isAllowed": _YES_NO.get(form["allowed"]),
    }
    problems: list[str] = []
    try:
        filters = ModelFilters.from_params(api, form["q"] or None).validate()
    except UsageError as exc:
        problems.append(str(exc))
        filters = ModelFilters(q=form["q"] or None)
    return form, filters, problems


def _query_string(params: list[tuple[str, str]], **changes: str | None) -> str:
    kept = [(name, value) for name, value in params if name not in changes and value != ""]
    kept += [(name, value) for name, value in changes.items() if value]
    return f"?{urlencode(kept)}" if kept else "?"


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    """The UI's front page is the model table."""
    return redirect(f"{PREFIX}/ai-models")


@router.get("/ai-models", response_class=HTMLResponse)
def model_table(request: Request) -> Response:
    """The model table: filters, sorting, counts per provider, column chooser, pages."""
    current = require(request, "viewer")
    engine = engine_of(request)
    form, filters, problems = _filters(request)
    params = list(request.query_params.multi_items())
    sort = request.query_params.get("sort", "provider")
    limit = int(request.query_params.get("limit", "50")) if request.query_params.get("limit", "").isdigit() else 50
    limit = limit if limit in PAGE_SIZES else 50
    chosen = [key for key in request.query_params.getlist("cols") if key in COLUMNS] or list(DEFAULT_COLUMNS)
    cursor = request.query_params.get("cursor") or None
    models: list[dict[str, Any]] = []
    next_cursor = None
    try:
        models, next_cursor = query.list_page(engine, filters, sort, limit, cursor)
    except UsageError as exc:
        problems.append(str(exc))
        sort, cursor = "provider", None
        models, next_cursor = query.list_page(engine, filters, sort, limit, None)
    counts = overview.provider_counts(engine, filters)
    # The counts leave out only the provider filter, so the total follows from them (no second count query).
    chosen_providers = [c.values for c in filters.conditions if c.param == "provider"]
    total = sum(counts.get(name, 0) for name in chosen_providers[0]) if chosen_providers else sum(counts.values())
    sorts = {}
    for key, (_, sort_key) in COLUMNS.items():
        if sort_key is not None:
            sorts[key] = f"-{sort_key}" if sort == sort_key else sort_key
    return page(
        request,
        current,
        "table.html",
        form=form,
        models=models,
        rows=[[cell(model, key) for key in chosen] for model in models],
        columns=COLUMNS,
        chosen=chosen,
        sort=sort,
        sorts=sorts,
        limit=limit,
        page_sizes=PAGE_SIZES,
        counts=counts,
        total=total,
        catalog_size=sum(overview.provider_counts(engine, ModelFilters()).values()) if not counts else None,
        problems=problems,
        next_url=_query_string(params, cursor=next_cursor) if next_cursor else None,
        first_url=_query_string(params, cursor=None) if cursor else None,
        sort_url=lambda key: _query_string(params, sort=sorts[key], cursor=None),
        provider_url=lambda name: _query_string(params, provider=name, cursor=None),
        kinds=KINDS,
        statuses=STATUSES,
        tiers=TIERS,
        capabilities=overview.capability_names(engine) or list(present.STANDARD_CAPABILITIES),
        providers=sorted(set(counts) | set(enabled_providers(settings_of(request)))),
        last_sync=runs.last_run(engine),
    )


def model_context(
    engine: Engine, settings: Settings, provider: str, model_id: str, admin: bool, now: datetime | None = None
) -> dict[str, Any]:
    """What the model page shows: fields with sources and verification, capabilities, history, successors."""
    detail = overview.model_detail(engine, provider, model_id, settings.policy.price_tolerance, now)
    model = detail["model"]
    history = [(change, present.change_lines(change["changes"], change["kind"])) for change in detail["history"]]
    return {
        "model": model,
        "fields": present.field_rows(model, detail["decisions"], detail["verified"], detail["candidates"]),
        "capabilities": present.capability_rows(detail["capabilities"], model.get("provenance") or {}),
        "history": history[::-1],
        "chart": present.price_chart(detail["history"], detail["scheduled"]),
        "replaces": detail["replaces"],
        "decisions": detail["decisions"],
        "choices": overview.model_ids(engine, provider) if admin else [],
        "held": [present.held_row(entry) for entry in held.list_entries(engine, provider=provider, model_id=model_id)],
    }


@router.get("/ai-models/model/{provider}/{model_id:path}", response_class=HTMLResponse)
def model_page(provider: str, model_id: str, request: Request) -> Response:
    """One model: every field with its source, capabilities tri-state, history, replacement, admin controls."""
    current = require(request, "viewer")
    context = model_context(engine_of(request), settings_of(request), provider.lower(), model_id, current.can("admin"),
                            request.app.state.clock())  # fmt: skip
    return page(request, current, "model.html", error=None, **context)


def conflicts_context(engine: Engine, settings: Settings, provider: str) -> dict[str, Any]:
    """What the conflicts queue shows: every unresolved conflict, grouped by model, with each candidate."""
    found = conflicts.list_conflicts(engine, settings.policy.price_tolerance, provider or None)
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in found:
        grouped.setdefault((item["provider"], item["model"]), []).append(item)
    return {"grouped": grouped, "total": len(found), "provider": provider}


@router.get("/ai-models/conflicts", response_class=HTMLResponse)
def conflicts_queue(request: Request) -> Response:
    """Prices and limits on which independent sources disagree, each resolvable by an admin decision."""
    current = require(request, "admin")
    provider = request.query_params.get("provider", "")[:64].lower()
    context = conflicts_context(engine_of(request), settings_of(request), provider)
    return page(request, current, "conflicts.html", error=None, **context)


QUARANTINE_STATUSES: Final = (PENDING, held.ALL)


def quarantine_context(engine: Engine, status: str, provider: str) -> dict[str, Any]:
    """What the quarantine queue shows: the held changes of one status (pending by default) or all, oldest first."""
    rows = [present.held_row(entry) for entry in held.list_entries(engine, status, provider or None)]
    return {"rows": rows, "shown": status, "provider": provider, "statuses": QUARANTINE_STATUSES}


@router.get("/ai-models/quarantine", response_class=HTMLResponse)
def quarantine_queue(request: Request) -> Response:
    """Changes a sync held instead of applying, with the evidence, each approvable or rejectable by an admin."""
    current = require(request, "admin")
    status = request.query_params.get("status", "") or PENDING
    provider = request.query_params.get("provider", "")[:64].lower()
    if status not in held.STATUS_CHOICES:
        context = quarantine_context(engine_of(request), PENDING, provider)
        choices = ", ".join(held.STATUS_CHOICES)
        error = f"unknown status {status[:32]!r}; showing the pending changes (use one of {choices})."
        return page(request, current, "quarantine.html", status=400, error=error, **context)
    context = quarantine_context(engine_of(request), status, provider)
    return page(request, current, "quarantine.html", error=None, **context)


def _compare_value(row: present.FieldRow | None) -> str:
    if row is None:
        return present.UNKNOWN
    return row.value if row.table is None else "; ".join(" ".join(line) for line in row.table.rows)


@router.get("/ai-models/compare", response_class=HTMLResponse)
def compare(request: Request) -> Response:
    """Two to four models side by side, field by field, differences marked."""
    current = require(request, "viewer")
    engine = engine_of(request)
    tolerance = settings_of(request).policy.price_tolerance
    refs = list(dict.fromkeys(ref for ref in request.query_params.getlist("m") if ref))
    problems = []
    models = []
    if not 2 <= len(refs) <= 4:
        problems.append("pick two to four models in the table (the compare boxes) to compare them.")
    else:
        for ref in refs:
            try:
                provider, model_id = catalog.parse_ref(ref)
                models.append(overview.model_detail(engine, provider, model_id, tolerance))
            except (UsageError, NotFoundError) as exc:  # say which one, and compare the others
                problems.append(str(exc))
    rows: list[tuple[str, list[str], bool]] = []
    if len(models) >= 2:
        per_model = [{row.json: row for row in present.field_rows(d["model"], d["decisions"])} for d in models]
        labels = {name: row.label for rows_of in per_model for name, row in rows_of.items()}
        for name, label in labels.items():
            values = [_compare_value(rows_of.get(name)) for rows_of in per_model]
            rows.append((label, values, len(set(values)) > 1))
        caps = [present.capability_rows(d["capabilities"], {}) for d in models]
        names = sorted({row.name for rows_of in caps for row in rows_of})
        for name in names:
            values = [next((row.value for row in rows_of if row.name == name), present.UNKNOWN) for rows_of in caps]
            rows.append((f"capability: {name}", values, len(set(values)) > 1))
    return page(request, current, "compare.html", models=[d["model"] for d in models], rows=rows, problems=problems)


@router.get("/ai-models/changes", response_class=HTMLResponse)
def what_changed(request: Request) -> Response:
    """The change feed since a date, grouped by provider and kind."""
    current = require(request, "viewer")
    engine = engine_of(request)
    since = request.query_params.get("since") or (utc_now() - timedelta(days=7)).date().isoformat()
    problems: list[str] = []
    changes: list[dict[str, Any]] = []
    cursor: str | None = f"{since}T00:00:00Z" if len(since) == 10 else since
    truncated = False
    try:
        while cursor is not None:
            feed = query.list_changes(engine, cursor, limit=1000, now=request.app.state.clock())
            changes.extend(feed["data"])
            if len(changes) >= _MAX_CHANGES:
                truncated = feed["hasMore"] or len(changes) > _MAX_CHANGES
                changes = changes[:_MAX_CHANGES]
                break
            cursor = feed["nextSince"] if feed["hasMore"] else None
    except UsageError as exc:
        problems.append(str(exc))
    grouped: dict[str, dict[str, list[tuple[dict[str, Any], list[str]]]]] = defaultdict(lambda: defaultdict(list))
    for change in changes:
        lines = present.change_lines(change["changes"], change["kind"])
        grouped[change["provider"]][present.change_group(change)].append((change, lines))
    order = ("created", present.PRICE_CHANGE, "price_scheduled", "price_effective", "deprecated", "reactivated",
             *query.FEED_KINDS)  # fmt: skip
    ordered = {
        provider: {kind: grouped[provider][kind] for kind in dict.fromkeys(order) if kind in grouped[provider]}
        for provider in sorted(grouped)
    }
    return page(request, current, "changes.html", since=since, grouped=ordered, total=len(changes),
                truncated=truncated, problems=problems)  # fmt: skip


@router.get("/ai-models/runs", response_class=HTMLResponse)
def sync_runs(request: Request) -> Response:
    """Recorded sync runs, newest first."""
    current = require(request, "admin")
    before = request.query_params.get("before", "")
    data, next_cursor = runs.list_runs(engine_of(request), 50, int(before) if before.isdigit() else None)
    return page(request, current, "runs.html", runs=data, next_cursor=next_cursor)


@router.get("/ai-models/runs/{run_id}", response_class=HTMLResponse)
def sync_run(run_id: int, request: Request) -> Response:
    """One run: status, per-provider counts, warnings, errors and duration."""
    current = require(request, "admin")
    return page(request, current, "run.html", run=runs.show_run(engine_of(request), run_id))


@router.get("/ai-models/audit", response_class=HTMLResponse)
def audit_log(request: Request) -> Response:
    """The audit log, newest first (super admin)."""
    current = require(request, "super_admin")
    params = request.query_params
    before = params.get("before", "")
    action = params.get("action", "")[:64] or None
    entries, next_cursor = audit.list_entries(
        engine_of(request), limit=100, before=int(before) if before.isdigit() else None, action=action
    )
    return page(request, current, "audit.html", entries=entries, next_cursor=next_cursor, action=action or "")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The sign-in form."""
    current = visit(request)
    return page(request, current, "login.html", next=request.query_params.get("next", ""), error=None)
