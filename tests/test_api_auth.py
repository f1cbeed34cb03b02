"""Who may call what, over real HTTP: the role x endpoint matrix, denials in the audit log, bad and dead tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from modelsync.api.app import create_app
from modelsync.db.tables import api_token, audit_log, sync_run
from modelsync.records import utc_now
from modelsync.services import tokens

pytest_plugins = ["apiserver"]

ROLES = ("viewer", "admin", "super_admin")
RANK = {None: -1, "viewer": 0, "admin": 1, "super_admin": 2}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    needs: str
    body: Any = None

    @property
    def admin(self) -> bool:
        return self.path.startswith("/api/admin/")

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "/api/ai-models?provider=anthropic", "viewer"),
    Endpoint("GET", "/api/ai-models/openai/gpt-4o", "viewer"),
    Endpoint("GET", "/api/ai-models/openai/gpt-4o/history", "viewer"),
    Endpoint("GET", "/api/ai-models/changes?since=0", "viewer"),
    Endpoint("POST", "/api/cost", "viewer", {"model": "gpt-4o", "inputTokens": 10, "outputTokens": 5}),
    Endpoint("PATCH", "/api/admin/ai-models/openai/gpt-4o", "admin", {"recommended": True}),
    Endpoint("POST", "/api/admin/ai-models/sync", "super_admin", {"provider": "anthropic"}),
    Endpoint("POST", "/api/admin/ai-models/sync", "super_admin", {"provider": "all", "dryRun": True}),
    Endpoint("POST", "/api/admin/ai-models/sync/replicate", "super_admin", {}),
    Endpoint("GET", "/api/admin/sync-runs", "super_admin"),
    Endpoint("GET", "/api/admin/sync-runs/1", "super_admin"),
    Endpoint("GET", "/api/admin/audit-log", "super_admin"),
]


def audit_entries(engine, **where) -> list[dict]:
    query = sa.select(audit_log).order_by(audit_log.c.id)
    for name, value in where.items():
        query = query.where(audit_log.c[name] == value)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def call(client, endpoint: Endpoint):
    return client.request(endpoint.method, endpoint.path, json=endpoint.body)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_role_matrix_anonymous_401_lower_role_403_enough_role_2xx(api, endpoint):
    for role in (None, *ROLES):
        denials_before = len(audit_entries(api.engine, action="access.denied"))
        with api.client(role) as client:
            response = call(client, endpoint)
        body = response.json()
        if role is None:
            assert response.status_code == 401, (role, endpoint, body)
            assert body["error"]["code"] == "unauthorized" and "Bearer" in body["error"]["message"]
            assert response.headers["www-authenticate"] == "Bearer"
        elif RANK[role] < RANK[endpoint.needs]:
            assert response.status_code == 403, (role, endpoint, body)
            assert body["error"]["code"] == "forbidden" and endpoint.needs in body["error"]["message"]
        else:
            assert 200 <= response.status_code < 300, (role, endpoint, body)
            continue
        denials = audit_entries(api.engine, action="access.denied")
        if not endpoint.admin:
            assert len(denials) == denials_before  # only admin endpoints audit their denials
            continue
        assert len(denials) == denials_before + 1, (role, endpoint)
        entry = denials[-1]
        assert entry["target"] == f"{endpoint.method} {endpoint.path.split('?')[0]}"
        assert entry["source_ip"] == "127.0.0.1" and entry["outcome"] == "denied"
        assert entry["details"]["status"] == response.status_code
        assert entry["details"]["requiredRole"] == endpoint.needs
        if role is None:
            assert entry["actor"] is None and entry["details"]["reason"] == "no token"
        else:
            assert entry["actor"] == {"viewer": "vic", "admin": "ada"}[role]
            assert entry["user_id"] is not None


def test_sync_acceptance_401_then_403_with_audit_then_200_with_audit(api):
    runs_before = len(audit_entries(api.engine, action="sync"))
    with api.client() as anonymous:
        assert anonymous.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 401
    for role in ("viewer", "admin"):
        with api.client(role) as client:
            assert client.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 403
    denied = audit_entries(api.engine, action="access.denied")
    assert [entry["actor"] for entry in denied] == [None, "vic", "ada"]
    assert all(entry["target"] == "POST /api/admin/ai-models/sync" for entry in denied)

    with api.client("super_admin") as client:
        response = client.post("/api/admin/ai-models/sync", json={"provider": "all"})
    assert response.status_code == 200
    summary = response.json()
    syncs = audit_entries(api.engine, action="sync")
    assert len(syncs) == runs_before + 1
    entry = syncs[-1]
    assert entry["actor"] == "root" and entry["source_ip"] == "127.0.0.1"
    assert entry["details"]["runId"] == summary["runId"] and entry["details"]["trigger"] == "api"
    with api.engine.connect() as conn:
        run = conn.execute(sa.select(sync_run).where(sync_run.c.id == summary["runId"])).mappings().one()
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
    [entry] = audit_entries(api.engine, action="access.denied")
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
    denied = audit_entries(api.engine, action="access.denied")
    assert [(e["actor"], e["details"]["reason"]) for e in denied] == [
        ("root", "token revoked"),
        ("root", "token expired"),
    ]


def test_last_use_of_a_token_is_recorded(api):
    with api.engine.connect() as conn:
        assert conn.execute(sa.select(api_token.c.last_used_at)).scalars().all() == [None, None, None]
    with api.client("viewer") as client:
        assert client.get("/api/ai-models").status_code == 200
    with api.engine.connect() as conn:
        used = conn.execute(sa.select(api_token.c.last_used_at).where(api_token.c.last_used_at.is_not(None))).all()
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
        with api.live.client("msk_forged") as forged:
            assert forged.get("/api/ai-models").status_code == 401  # a bad token is refused even when reads are open


def test_without_any_user_nothing_is_writable(synced, offline, server):
    with server(create_app(offline, synced)) as live, live.client() as client:
        assert client.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 401
        assert client.patch("/api/admin/ai-models/openai/gpt-4o", json={"isAllowed": False}).status_code == 401
        assert client.get("/api/ai-models").status_code == 401
    assert len(audit_entries(synced, action="access.denied")) == 2
