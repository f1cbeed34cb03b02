"""Who may call what, over real HTTP: the role x endpoint matrix, denials in the audit log, bad and dead tokens.

The endpoints under test are the routes the app serves (`create_app(...).routes`), and the role each one needs is
read from its dependency tree: `modelsync.api.deps.require(role)` makes a dependency named `require_<role>`, and
`deps.reader` admits any viewer (anyone at all when public reads are on). This file only holds SAMPLES, a concrete
request per route together with the role the README documents for it, so a route added without a sample, an admin
route without a role guard, or a route open without a token that is not on OPEN_PATHS fails here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import fastapi.routing
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.routing import Match

import dbread
from modelsync.api import deps
from modelsync.api.app import create_app
from modelsync.db.engine import create_db_engine
from modelsync.db.tables import ai_model, api_token, quarantine
from modelsync.records import utc_now
from modelsync.services import tokens, webhooks
from modelsync.settings import Settings

ROLES = ("viewer", "admin", "super_admin")
RANK = {None: -1, "viewer": 0, "admin": 1, "super_admin": 2}
# The only routes that may answer without a token: the health probe (load balancers call it), the Prometheus
# metrics (open unless MODELSYNC_METRICS_TOKEN is set, tests/test_metrics.py), the API's docs with
# the static files of their pages, and the admin web UI, which has sign-in sessions of its own (tests/test_web.py).
OPEN_PATHS = frozenset(
    {"/healthz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs/assets", "/opshub"}
)
# A page each mounted application serves to anyone, to call it by.
MOUNTED_SAMPLES = {"/docs/assets": "/docs/assets/swagger-ui.css", "/opshub": "/opshub/login"}


@dataclass(frozen=True)
class Sample:
    """A concrete request to one route ("METHOD template" as the app declares it) and the role documented for it."""

    route: str
    role: str | None
    path: str
    body: Any = None
    # Run on the API's database before each caller's request (a state the request needs afresh, e.g. to decide).
    prepare: Callable[[Any], None] | None = field(default=None, compare=False)
    # What the request needs in place first (run on the test's own server before the roles are tried).
    setup: Callable[[Any], None] | None = field(default=None, compare=False)

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f" {json.dumps(self.body)}" if self.body is not None else "")


def held_entry(engine: Any) -> None:
    """Quarantine entry 1, pending, proposing gpt-4o's own context window: approving or rejecting it changes nothing."""
    with engine.begin() as conn:
        stored = conn.execute(
            sa.select(ai_model.c.context_window).where(ai_model.c.provider == "openai", ai_model.c.model_id == "gpt-4o")
        ).scalar_one()
        conn.execute(sa.delete(quarantine))
        conn.execute(
            sa.insert(quarantine).values(
                id=1, provider="openai", model_id="gpt-4o", field="context_window", old_value=json.dumps(stored),
                proposed_value=json.dumps(stored), status="pending", created_at=utc_now(),
                evidence={"rule": "context_shrink", "source": "openai", "proposal": stored},
            )
        )  # fmt: skip


def _webhook_key(api) -> None:
    """The server as deployed with MODELSYNC_SECRET_KEY set (webhook secrets are encrypted under it)."""
    api.app.state.settings = api.settings.model_copy(update={"secret_key": SecretStr("k" * 40)})


def _webhook(api) -> None:
    """Subscription 1 exists."""
    _webhook_key(api)
    webhooks.create_subscription(api.engine, api.app.state.settings, "http://127.0.0.1:9/hook", secret="s" * 20)


SAMPLES = [
    Sample("GET /api/ai-models", "viewer", "/api/ai-models?provider=anthropic"),
    Sample("GET /api/ai-models/{provider}/{model_id:path}", "viewer", "/api/ai-models/openai/gpt-4o"),
    Sample("GET /api/ai-models/{provider}/{model_id:path}/history", "viewer", "/api/ai-models/openai/gpt-4o/history"),
    Sample("GET /api/ai-models/{provider}/{model_id:path}/prices", "viewer", "/api/ai-models/openai/gpt-4o/prices"),
    Sample("GET /api/ai-models/changes", "viewer", "/api/ai-models/changes?since=0"),
    Sample("GET /api/ai-models/resolve", "viewer", "/api/ai-models/resolve?id=gpt-4o"),
    Sample("POST /api/cost", "viewer", "/api/cost", {"model": "gpt-4o", "inputTokens": 10, "outputTokens": 5}),
    Sample(
        "PATCH /api/admin/ai-models/{provider}/{model_id:path}",
        "admin",
        "/api/admin/ai-models/openai/gpt-4o",
        {"recommended": True},
    ),
    Sample("GET /api/admin/conflicts", "admin", "/api/admin/conflicts"),
    Sample(
        "POST /api/admin/conflicts/{provider}/{model_id:path}/{field}",
        "admin",
        "/api/admin/conflicts/openai/gpt-4o/inputCostPer1M",
        {"value": "2.5"},
    ),
    Sample("GET /api/admin/quarantine", "admin", "/api/admin/quarantine?status=all"),
    Sample(
        "POST /api/admin/quarantine/{entry_id}/approve", "admin", "/api/admin/quarantine/1/approve", None, held_entry
    ),
    Sample(
        "POST /api/admin/quarantine/{entry_id}/reject",
        "admin",
        "/api/admin/quarantine/1/reject",
        {"reason": "sample"},
        held_entry,
    ),
    Sample("POST /api/admin/ai-models/sync", "super_admin", "/api/admin/ai-models/sync", {"provider": "anthropic"}),
    Sample(
        "POST /api/admin/ai-models/sync",
        "super_admin",
        "/api/admin/ai-models/sync",
        {"provider": "all", "dryRun": True},
    ),
    Sample("POST /api/admin/ai-models/sync/replicate", "super_admin", "/api/admin/ai-models/sync/replicate", {}),
    Sample("GET /api/admin/sync-runs", "super_admin", "/api/admin/sync-runs"),
    Sample("GET /api/admin/sync-runs/{run_id}", "super_admin", "/api/admin/sync-runs/1"),
    Sample("GET /api/admin/audit-log", "super_admin", "/api/admin/audit-log"),
    Sample("GET /api/admin/webhooks", "admin", "/api/admin/webhooks"),
    Sample(
        "POST /api/admin/webhooks",
        "super_admin",
        "/api/admin/webhooks",
        {"url": "http://127.0.0.1:9/hook"},
        setup=_webhook_key,
    ),
    Sample("DELETE /api/admin/webhooks/{subscription_id}", "super_admin", "/api/admin/webhooks/1", setup=_webhook),
    Sample(
        "PATCH /api/admin/webhooks/{subscription_id}",
        "super_admin",
        "/api/admin/webhooks/1",
        {"active": False},
        setup=_webhook,
    ),
    Sample(
        "GET /api/admin/webhooks/{subscription_id}/deliveries",
        "admin",
        "/api/admin/webhooks/1/deliveries",
        setup=_webhook,
    ),
    Sample("GET /healthz", None, "/healthz"),
]


@dataclass(frozen=True)
class ServedRoute:
    """One method of one route the app serves, and what it takes to call it."""

    method: str
    path: str  # the template, e.g. /api/ai-models/{provider}/{model_id:path}
    path_format: str  # the template as OpenAPI writes it, e.g. /api/ai-models/{provider}/{model_id}
    needs: str | None  # the lowest role it admits; None: anyone, without a token
    audited: bool  # guarded by deps.require(role), which audit-logs every denial
    api: bool  # an endpoint of the app (not one of the documentation pages or their files)
    entry: Any = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def admin(self) -> bool:
        return self.path.startswith("/api/admin/")


def dependency_calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    """Every dependency callable in a route's dependency tree, depth first."""
    for sub in dependant.dependencies:
        yield sub.call
        yield from dependency_calls(sub)


def guard(dependant: Any, public_read: bool) -> tuple[str | None, bool]:
    """The lowest role a dependency tree admits (None: anyone) and whether it audit-logs denials."""
    needs: list[str] = []
    audited = False
    for call in dependency_calls(dependant):
        name = getattr(call, "__name__", "")
        if name.startswith("require_"):
            role = name.removeprefix("require_")
            assert role in ROLES, f"{name} guards a route, but {role!r} is not a role"
            needs.append(role)
            audited = True
        elif call is deps.reader and not public_read:
            needs.append("viewer")
    return max(needs, key=RANK.__getitem__, default=None), audited


def route_entries(app: FastAPI) -> list[Any]:
    """The app's routes with include prefixes and router dependencies applied, in matching order."""
    # Since FastAPI 0.137 app.routes holds one lazy entry per included router; iter_route_contexts expands them.
    expand = getattr(fastapi.routing, "iter_route_contexts", None)
    return list(expand(app.routes)) if expand else list(app.routes)


def served_routes(app: FastAPI) -> dict[str, ServedRoute]:
    """Every method of every route the app serves, keyed "METHOD template", with the role each one needs."""
    public_read = app.state.settings.public_read
    served: dict[str, ServedRoute] = {}
    for entry in route_entries(app):
        original = getattr(entry, "original_route", entry)
        api = isinstance(original, APIRoute) and original.include_in_schema
        needs, audited = guard(entry.dependant, public_read) if api else (None, False)
        path = entry.path
        for method in sorted(getattr(entry, "methods", None) or {"*"}):
            route = ServedRoute(method, path, getattr(entry, "path_format", path), needs, audited, api, entry)
            served.setdefault(route.key, route)  # a later route with the same key is never reached
    return served


def resolve(routes: dict[str, ServedRoute], method: str, path: str) -> str | None:
    """The key of the route a request is dispatched to, as the app's router picks it (first full match)."""
    scope = {"type": "http", "method": method, "path": path.split("?", 1)[0], "root_path": ""}
    for route in routes.values():
        if route.entry.matches(scope)[0] == Match.FULL:
            return f"{method} {route.path}"
    return None


def build_app(public_read: bool = False) -> FastAPI:
    """The app over an in-memory database it never opens (building it and reading its routes touch no database)."""
    return create_app(Settings(public_read=public_read), create_db_engine("sqlite://"))


ROUTES = served_routes(build_app())
ROUTES_WITH_PUBLIC_READ = served_routes(build_app(public_read=True))


def matrix_cases() -> list[Any]:
    """One case per sample request of every endpoint the app serves; an endpoint without a sample is a failing case."""
    cases = []
    for route in ROUTES.values():
        if not route.api:
            continue
        samples = [sample for sample in SAMPLES if sample.route == route.key]
        for sample in samples or [None]:
            cases.append(pytest.param(route.key, sample, id=str(sample) if sample else f"{route.key} (no sample)"))
    return cases


def call(client, sample: Sample):
    return client.request(sample.method, sample.path, json=sample.body)


def test_the_route_table_holds_every_documented_operation():
    """Guards against an enumeration that silently finds nothing (as app.routes alone does on newer FastAPI)."""
    paths = build_app().openapi()["paths"]
    documented = {f"{method.upper()} {path}" for path, operations in paths.items() for method in operations}
    in_schema = [route for route in ROUTES.values() if route.api]
    enumerated = {f"{route.method} {route.path_format}" for route in in_schema}
    assert documented and documented == enumerated, sorted(documented ^ enumerated)


def test_every_api_route_has_a_sample_request():
    sampled = {sample.route for sample in SAMPLES}
    missing = sorted(key for key, route in ROUTES.items() if route.path.startswith("/api/") and key not in sampled)
    assert not missing, f"no sample request for {missing}: add one to SAMPLES in tests/test_api_auth.py"


@pytest.mark.parametrize("sample", SAMPLES, ids=str)
def test_every_sample_reaches_its_route_which_needs_the_documented_role(sample):
    assert sample.route in ROUTES, f"SAMPLES lists {sample.route}, which the app does not serve"
    assert resolve(ROUTES, sample.method, sample.path) == sample.route, sample
    assert ROUTES[sample.route].needs == sample.role, (
        f"{sample.route} admits {ROUTES[sample.route].needs or 'anyone'}; the README documents {sample.role}"
    )


@pytest.mark.parametrize("routes", [ROUTES, ROUTES_WITH_PUBLIC_READ], ids=["private", "public-read"])
def test_every_admin_route_requires_at_least_admin(routes):
    admin_routes = [route for route in routes.values() if route.admin]
    assert admin_routes
    unguarded = sorted(f"{r.key} (admits {r.needs or 'anyone'})" for r in admin_routes if RANK[r.needs] < RANK["admin"])
    assert not unguarded, f"admin routes without a role guard: {unguarded}; give each an Admin or SuperAdmin parameter"
    assert all(route.audited for route in admin_routes)  # every denial at an admin endpoint is audit-logged


def test_only_the_allow_listed_routes_need_no_token():
    open_paths = {route.path for route in ROUTES.values() if route.needs is None}
    assert open_paths <= OPEN_PATHS, (
        f"{sorted(open_paths - OPEN_PATHS)} answer without a token: guard them (Reader, Admin, SuperAdmin) "
        "or, if they must be open, add them to OPEN_PATHS"
    )
    assert {"/healthz", "/openapi.json", "/docs"} <= open_paths


def test_public_read_opens_the_read_routes_and_nothing_else():
    opened = {key for key, route in ROUTES_WITH_PUBLIC_READ.items() if route.needs is None and ROUTES[key].needs}
    reads = {key for key, route in ROUTES.items() if route.needs == "viewer" and not route.audited}
    assert opened == reads and reads
    assert not any(ROUTES[key].admin for key in opened)


def test_the_allow_listed_routes_answer_anonymous_callers(api):
    open_routes = [route for route in served_routes(api.app).values() if route.needs is None]
    with api.client() as anonymous:
        for route in open_routes:
            if route.method == "*":  # a mounted directory: fetch one of its files
                response = anonymous.get(MOUNTED_SAMPLES[route.path])
            else:
                response = anonymous.request(route.method, route.path)
            assert 200 <= response.status_code < 300, (route.key, response.text[:200])


@pytest.mark.parametrize(("route_key", "sample"), matrix_cases())
def test_role_matrix_anonymous_401_lower_role_403_enough_role_2xx(api, route_key, sample):
    assert sample is not None, f"no sample request for {route_key}: add one to SAMPLES in tests/test_api_auth.py"
    route = served_routes(api.app)[route_key]
    if sample.setup is not None:
        sample.setup(api)
    for role in (None, *ROLES):
        denials_before = len(dbread.audit_entries(api.engine, "access.denied"))
        if sample.prepare is not None:
            sample.prepare(api.engine)
        with api.client(role) as client:
            response = call(client, sample)
        if RANK[role] >= RANK[route.needs]:
            assert 200 <= response.status_code < 300, (role, str(sample), response.text)
            continue
        body = response.json()
        if role is None:
            assert response.status_code == 401, (role, str(sample), body)
            assert body["error"]["code"] == "unauthorized" and "Bearer" in body["error"]["message"]
            assert response.headers["www-authenticate"] == "Bearer"
        else:
            assert response.status_code == 403, (role, str(sample), body)
            assert body["error"]["code"] == "forbidden" and route.needs in body["error"]["message"]
        denials = dbread.audit_entries(api.engine, "access.denied")
        if not route.audited:
            assert len(denials) == denials_before  # only endpoints guarded by require(role) audit their denials
            continue
        assert len(denials) == denials_before + 1, (role, str(sample))
        entry = denials[-1]
        assert entry["target"] == f"{route.method} {sample.path.split('?')[0]}"
        assert entry["source_ip"] == "127.0.0.1" and entry["outcome"] == "denied"
        assert entry["details"]["status"] == response.status_code
        assert entry["details"]["requiredRole"] == route.needs
        if role is None:
            assert entry["actor"] is None and entry["details"]["reason"] == "no token"
        else:
            assert entry["actor"] == {"viewer": "vic", "admin": "ada"}[role]
            assert entry["user_id"] is not None


def test_sync_acceptance_401_then_403_with_audit_then_200_with_audit(api):
    runs_before = len(dbread.audit_entries(api.engine, "sync"))
    with api.client() as anonymous:
        assert anonymous.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 401
    for role in ("viewer", "admin"):
        with api.client(role) as client:
            assert client.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 403
    denied = dbread.audit_entries(api.engine, "access.denied")
    assert [entry["actor"] for entry in denied] == [None, "vic", "ada"]
    assert all(entry["target"] == "POST /api/admin/ai-models/sync" for entry in denied)

    with api.client("super_admin") as client:
        response = client.post("/api/admin/ai-models/sync", json={"provider": "all"})
    assert response.status_code == 200
    summary = response.json()
    syncs = dbread.audit_entries(api.engine, "sync")
    assert len(syncs) == runs_before + 1
    entry = syncs[-1]
    assert entry["actor"] == "root" and entry["source_ip"] == "127.0.0.1"
    assert entry["details"]["runId"] == summary["runId"] and entry["details"]["trigger"] == "api"
    run = dbread.run(api.engine, summary["runId"])
    assert run["actor"] == "root" and run["trigger"] == "api" and run["status"] == "ok"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer msk_definitely-not-issued", "token unknown"),
        ("Basic cm9vdDpodW50ZXIy", "malformed Authorization header"),
        ("Bearer", "malformed Authorization header"),
        ("msk_no-scheme", "malformed Authorization header"),
    ],
)
def test_bad_credentials_are_401_everywhere_and_audited_at_admin_endpoints(api, header, reason):
    with api.client(headers={"Authorization": header}) as client:
        read = client.get("/api/ai-models")
        admin = client.get("/api/admin/sync-runs")
    assert read.status_code == 401 and admin.status_code == 401
    assert "Traceback" not in read.text + admin.text
    [entry] = dbread.audit_entries(api.engine, "access.denied")
    assert entry["details"]["reason"] == reason and entry["target"] == "GET /api/admin/sync-runs"


def test_revoked_and_expired_tokens_are_refused_and_the_owner_is_audited(api):
    revoked = tokens.create_token(api.engine, "root", None, actor="test")
    expired = tokens.create_token(api.engine, "root", timedelta(hours=1), actor="test")
    with api.live.client(revoked.secret) as client:
        assert client.get("/api/admin/sync-runs").status_code == 200
    tokens.revoke_token(api.engine, revoked.id, actor="test")
    with api.engine.begin() as conn:
        conn.execute(
            sa.update(api_token).where(api_token.c.id == expired.id).values(expires_at=utc_now() - timedelta(seconds=1))
        )

    for token, word in ((revoked, "revoked"), (expired, "expired")):
        with api.live.client(token.secret) as client:
            read = client.get("/api/ai-models/openai/gpt-4o")
            admin = client.post("/api/admin/ai-models/sync", json={"provider": "openai"})
        assert read.status_code == 401 and word in read.json()["error"]["message"]
        assert admin.status_code == 401 and word in admin.json()["error"]["message"]
    # One entry for this client (address and user) and minute, counting both.
    denied = dbread.audit_entries(api.engine, "access.denied")
    assert sum(entry["details"]["count"] for entry in denied) == 2
    assert {entry["actor"] for entry in denied} == {"root"}
    reasons: dict[str, int] = {}
    for entry in denied:
        for reason, count in entry["details"]["reasons"].items():
            reasons[reason] = reasons.get(reason, 0) + count
    assert reasons == {"token revoked": 1, "token expired": 1}


def test_last_use_of_a_token_is_recorded(api):
    assert [token["last_used_at"] for token in dbread.rows(api.engine, api_token)] == [None, None, None]
    with api.client("viewer") as client:
        assert client.get("/api/ai-models").status_code == 200
    used = [token for token in dbread.rows(api.engine, api_token) if token["last_used_at"] is not None]
    assert len(used) == 1


def test_public_read_opens_reads_but_nothing_else(synced, offline, api_factory):
    settings = offline.model_copy(update={"public_read": True})
    with api_factory(synced, settings) as api:
        with api.client() as anonymous:
            assert anonymous.get("/api/ai-models?provider=openai").status_code == 200
            assert anonymous.get("/api/ai-models/openai/gpt-4o").status_code == 200
            assert (
                anonymous.post("/api/cost", json={"model": "gpt-4o", "inputTokens": 1, "outputTokens": 1}).status_code
                == 200
            )
            assert anonymous.patch("/api/admin/ai-models/openai/gpt-4o", json={"isAllowed": False}).status_code == 401
            assert anonymous.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 401
            routes = served_routes(api.app)
            for sample in SAMPLES:
                response = call(anonymous, sample)
                if routes[sample.route].needs is None:
                    assert 200 <= response.status_code < 300, (str(sample), response.text)
                else:
                    assert response.status_code == 401, (str(sample), response.text)
        with api.live.client("msk_forged") as forged:
            assert forged.get("/api/ai-models").status_code == 401  # a bad token is refused even when reads are open


def test_without_any_user_nothing_is_writable(synced, offline, server):
    with server(create_app(offline, synced)) as live, live.client() as client:
        assert client.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 401
        assert client.patch("/api/admin/ai-models/openai/gpt-4o", json={"isAllowed": False}).status_code == 401
        assert client.get("/api/ai-models").status_code == 401
    denied = dbread.audit_entries(synced, "access.denied")
    assert sum(entry["details"]["count"] for entry in denied) == 2
