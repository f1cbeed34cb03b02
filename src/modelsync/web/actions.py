"""The forms: sign in and out, admin decisions on a model, resolving a conflict, deciding a held change, "Sync now".

Rules: every POST carries its session's CSRF token and is refused (403) without it, whoever sends it; decisions
need admin and go through services/catalog.decide, the service the API's PATCH uses (pinned, in history, audited
with the user and address), as does resolving a conflict (services/conflicts.resolve, the API's path) and
approving or rejecting a held change (services/quarantine.decide, the CLI's and the API's path); "Sync now"
needs super admin and runs through services/sync in the background (web/syncjobs.py), the page showing its
progress and then its summary.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from modelsync.errors import NotFoundError, StateConflictError, UsageError
from modelsync.fieldspec import BY_JSON, DECISION, FieldType, fields_set_by
from modelsync.records import money
from modelsync.services import auth, catalog, conflicts, runs
from modelsync.services import quarantine as held
from modelsync.services.sync import SyncOptions
from modelsync.sync.engine import enabled_providers
from modelsync.sync.quarantine import PENDING
from modelsync.web.base import (
    PREFIX,
    Visit,
    client_ip,
    engine_of,
    one,
    page,
    post_visit,
    read_form,
    record_denial,
    redirect,
    require,
    set_session,
    settings_of,
)
from modelsync.web.pages import conflicts_context, model_context, quarantine_context
from modelsync.web.session import new_session
from modelsync.web.syncjobs import SyncJobs

router = APIRouter()
Form = Annotated[dict[str, list[str]], Depends(read_form)]
# Decisions the UI offers, by form name (the field's JSON name): its internal name. Which ones read as money, a
# yes/no or text follows from the field catalogue's type.
_DECIDABLE = {
    field.json: field.name
    for field in fields_set_by(DECISION)
    if field.type in (FieldType.BOOL, FieldType.MONEY, FieldType.TEXT) and field.name != "display_name"
}

# The price form sends every flat price at once, each beside the value it showed (`was-<name>`).
_PRICES_FORM = "prices"
_PRICE_BOXES = tuple(name for name in _DECIDABLE if BY_JSON[name].type is FieldType.MONEY)
# The quarantine form's buttons: approve (apply the held value) or reject (keep the stored one).
_HELD_DECISIONS = {"approve": True, "reject": False}
_MAX_REASON = 500  # the API's limit


def _next(target: str) -> str:
    # Only a path inside the UI: never another site (//evil.example) or a scheme.
    plain = target.isascii() and target.isprintable() and "\\" not in target  # no header tricks, no odd slashes
    if plain and target.startswith(f"{PREFIX}/"):
        return target
    return f"{PREFIX}/ai-models"


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, form: Form) -> Response:
    """Check the user name and password; on success start a new signed-in session."""
    current = await post_visit(request, form, None)
    wait = request.app.state.denials.retry_after(client_ip(request))
    if wait is not None:
        return page(request, current, "login.html", status=429, next=one(form, "next"),
                    error=f"Too many refused attempts from this address; try again in {wait} s.")  # fmt: skip
    name, password = one(form, "username").strip(), one(form, "password")
    engine = engine_of(request)
    ok = bool(name) and bool(password) and await anyio.to_thread.run_sync(auth.verify_password, engine, name, password)
    user_id = await anyio.to_thread.run_sync(auth.user_id_of, engine, name) if ok else None
    if user_id is None:
        # Counted (and audit-logged per minute) without the typed name: it may be a password typed in the wrong box.
        await record_denial(request, None, 401, "sign-in refused", None)
        return page(request, current, "login.html", status=401, next=one(form, "next"),
                    error="Wrong user name or password, or the user is disabled.")  # fmt: skip
    response = redirect(_next(one(form, "next")))
    set_session(request, response, new_session(user_id), current.key)
    return response


@router.post("/logout")
async def logout(request: Request, form: Form) -> Response:
    """End the session (a new anonymous one replaces it)."""
    current = await post_visit(request, form, None)
    response = redirect(f"{PREFIX}/login")
    set_session(request, response, new_session(), current.key)
    return response


def _decision(field: str, value: str) -> Any:
    kind = BY_JSON[field].type
    if kind is FieldType.TEXT:
        return value.strip() or None
    if value.strip() == "":
        return None  # back to policy (a yes/no) or to the sources (a price)
    if kind is FieldType.MONEY:
        try:
            amount = money(value.strip().removeprefix("$"))
        except ValueError:
            amount = None
        if amount is None or amount < 0:
            raise UsageError(f"{field} must be a price in USD per 1M tokens, like 2.5 (empty hands it back).")
        return amount
    if value not in ("true", "false"):
        raise UsageError(f"{field} must be true or false.")
    return value == "true"


def _decide(request: Request, current: Visit, provider: str, model_id: str, form: dict[str, list[str]]) -> Response:
    field = one(form, "field")
    engine = engine_of(request)
    error = None
    try:
        if field == _PRICES_FORM:
            # Only the boxes the admin changed: an unchanged price from a source is not pinned as a decision.
            decisions = {
                _DECIDABLE[name]: _decision(name, one(form, name))
                for name in _PRICE_BOXES
                if one(form, name).strip() != one(form, f"was-{name}").strip()
            }
        elif field in _DECIDABLE:
            decisions = {_DECIDABLE[field]: _decision(field, one(form, "value"))}
        else:
            raise UsageError(f"cannot decide {field!r} here; use one of {', '.join(_DECIDABLE)}.")
        assert current.user is not None
        if decisions and catalog.decide(
            engine,
            settings_of(request),
            provider,
            model_id,
            decisions,
            current.user.name,
            client_ip(request),
            current.user.user_id,
        ):
            request.app.state.watch.invalidate()
    except UsageError as exc:
        error = str(exc)
    if error is None:
        return redirect(f"{PREFIX}/ai-models/model/{quote(provider)}/{quote(model_id)}")
    context = model_context(engine, settings_of(request), provider, model_id, True, request.app.state.clock())
    return page(request, current, "model.html", status=400, error=error, **context)


@router.post("/ai-models/model/{provider}/{model_id:path}", response_class=HTMLResponse)
async def decide(provider: str, model_id: str, request: Request, form: Form) -> Response:
    """Record an admin decision (allowed, recommended, replacement, a price, a price note; empty hands it back)."""
    current = await post_visit(request, form, "admin")
    return await anyio.to_thread.run_sync(_decide, request, current, provider.lower(), model_id, form)


def _resolve(request: Request, current: Visit, form: dict[str, list[str]]) -> Response:
    provider, model_id, field = one(form, "provider").lower(), one(form, "model"), one(form, "field")
    source, value = one(form, "source") or None, one(form, "value").strip() or None
    engine = engine_of(request)
    back = one(form, "back")[:64].lower()
    try:
        if source is None and value is None:
            raise UsageError("choose a source's value or enter one to resolve the conflict.")
        assert current.user is not None
        changed = conflicts.resolve(
            engine,
            settings_of(request),
            provider,
            model_id,
            field,
            source=source,
            value=value if source is None else None,
            actor=current.user.name,
            source_ip=client_ip(request),
            user_id=current.user.user_id,
        )
        if changed:
            request.app.state.watch.invalidate()
    except UsageError as exc:
        context = conflicts_context(engine, settings_of(request), back)
        return page(request, current, "conflicts.html", status=400, error=str(exc), **context)
    return redirect(f"{PREFIX}/ai-models/conflicts" + (f"?provider={quote(back)}" if back else ""))


@router.post("/ai-models/conflicts", response_class=HTMLResponse)
async def resolve_conflict(request: Request, form: Form) -> Response:
    """Resolve a conflict with an admin decision: one candidate's value, or a value entered (pinned, audited)."""
    current = await post_visit(request, form, "admin")
    return await anyio.to_thread.run_sync(_resolve, request, current, form)


def _decide_held(request: Request, current: Visit, form: dict[str, list[str]]) -> Response:
    engine = engine_of(request)
    status = one(form, "status") if one(form, "status") in held.STATUS_CHOICES else PENDING
    provider = one(form, "provider")[:64].lower()
    entry, decision, reason = one(form, "id").strip(), one(form, "decision"), one(form, "reason").strip()
    try:
        if not entry.isdigit() or len(entry) > 18:
            raise UsageError(f"{entry[:32]!r} is not a quarantine entry id.")
        if decision not in _HELD_DECISIONS:
            raise UsageError("choose Approve or Reject.")
        if len(reason) > _MAX_REASON:
            raise UsageError(f"the reason is longer than {_MAX_REASON} characters.")
        assert current.user is not None
        done = held.decide(
            engine,
            settings_of(request),
            int(entry),
            _HELD_DECISIONS[decision],
            current.user.name,
            client_ip(request),
            current.user.user_id,
            reason or None,
        )
        if done["changes"]:
            request.app.state.watch.invalidate()
    except (UsageError, NotFoundError, StateConflictError) as exc:
        context = quarantine_context(engine, status, provider)
        code = 400 if isinstance(exc, UsageError) else exc.http_status
        return page(request, current, "quarantine.html", status=code, error=str(exc), **context)
    back = [f"status={quote(status)}"] if status != PENDING else []
    back += [f"provider={quote(provider)}"] if provider else []
    return redirect(f"{PREFIX}/ai-models/quarantine" + (f"?{'&'.join(back)}" if back else ""))


@router.post("/ai-models/quarantine", response_class=HTMLResponse)
async def decide_held(request: Request, form: Form) -> Response:
    """Approve a held change (applied, in history, audited) or reject it (the stored value stays, audited)."""
    current = await post_visit(request, form, "admin")
    return await anyio.to_thread.run_sync(_decide_held, request, current, form)


def _sync_page(request: Request, current: Visit, status: int = 200, error: str | None = None) -> Response:
    jobs: SyncJobs = request.app.state.sync_jobs
    job = jobs.current
    recent, _ = runs.list_runs(engine_of(request), 10)
    elsewhere = [run for run in recent if run["status"] == "running" and (job is None or not job.running)]
    return page(
        request,
        current,
        "sync.html",
        status=status,
        job=job,
        providers=enabled_providers(settings_of(request)),
        labels={name: spec.label for name, spec in settings_of(request).registry.items()},
        elsewhere=elsewhere,
        recent=recent,
        error=error,
        refresh=(job is not None and job.running) or bool(elsewhere),
    )


@router.get("/ai-models/sync", response_class=HTMLResponse)
def sync_status(request: Request) -> Response:
    """The "Sync now" page: the controls, the running sync's progress, the last summary, recent runs."""
    current = require(request, "super_admin")
    return _sync_page(request, current)


@router.post("/ai-models/sync", response_class=HTMLResponse)
async def sync_now(request: Request, form: Form) -> Response:
    """Start a sync of one provider or of all enabled ones, in the background."""
    current = await post_visit(request, form, "super_admin")
    assert current.user is not None
    provider = one(form, "provider") or "all"
    settings = settings_of(request)
    if provider != "all" and provider not in settings.registry:
        return await anyio.to_thread.run_sync(_sync_page, request, current, 400, f"unknown provider {provider!r}")
    options = SyncOptions(
        providers=[provider],
        trigger="web",
        actor=current.user.name,
        source_ip=client_ip(request),
        user_id=current.user.user_id,
    )
    jobs: SyncJobs = request.app.state.sync_jobs
    state = request.app.state

    def changed() -> None:
        state.watch.invalidate()
        state.deliveries.wake()  # its webhook events go out from the server's delivery loop

    jobs.start(engine_of(request), settings, options, on_change=changed)
    return redirect(f"{PREFIX}/ai-models/sync")
