"""Bad input and failures over real HTTP: one error shape, the right 4xx, 413 for big bodies, 503 for a lost
database, and never a stack trace, SQL or a database URL in a response."""

from __future__ import annotations

import socket

import pytest

from modelsync.api.app import create_app
from modelsync.db.engine import create_db_engine

LEAKS = ("Traceback", 'File "', "sqlalchemy", "SELECT ", "psycopg", "sqlite3", "postgresql://", "password")


def assert_clean_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    assert body["error"]["message"]
    for leak in LEAKS:
        assert leak not in response.text, leak
    if code:
        assert body["error"]["code"] == code
    return body["error"]


def test_malformed_json_is_400(api):
    with api.client("viewer") as client:
        response = client.post(
            "/api/cost", content=b'{"model": "gpt-4o",', headers={"content-type": "application/json"}
        )
    error = assert_clean_error(response, 400, "malformed_json")
    assert "not valid JSON" in error["message"]


@pytest.mark.parametrize(
    "body",
    [b"[]", b'"gpt-4o"', b"null", b"42", b'{"model": null, "inputTokens": 1, "outputTokens": 1}', b"NaN"],
)
def test_json_of_the_wrong_shape_is_a_4xx_with_the_error_shape(api, body):
    with api.client("viewer") as client:
        response = client.post("/api/cost", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500
    assert_clean_error(response, response.status_code)


def test_a_declared_oversize_body_is_413_before_it_is_read(api):
    with api.client("super_admin") as client:
        response = client.post(
            "/api/admin/ai-models/sync",
            content=b'{"provider": "' + b"a" * 70_000 + b'"}',
            headers={"content-type": "application/json"},
        )
    error = assert_clean_error(response, 413, "payload_too_large")
    assert "65536" in error["message"]


def test_a_chunked_oversize_body_is_413(api):
    def chunks():
        yield b'{"model": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'", "inputTokens": 1, "outputTokens": 1}'

    with api.client("viewer") as client:
        response = client.post("/api/cost", content=chunks(), headers={"content-type": "application/json"})
    assert_clean_error(response, 413, "payload_too_large")


def test_a_chunked_small_body_is_accepted(api):
    def chunks():
        yield b'{"model": "gpt-4o", '
        yield b'"inputTokens": 1, "outputTokens": 1}'

    with api.client("viewer") as client:
        response = client.post("/api/cost", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json()["known"] is True


def test_unknown_routes_and_methods_answer_in_the_error_shape(api):
    with api.client("viewer") as client:
        assert_clean_error(client.get("/api/nothing-here"), 404, "not_found")
        assert_clean_error(client.delete("/api/ai-models"), 405, "method_not_allowed")
        assert_clean_error(client.get("/api/admin/sync-runs/not-a-number"), 403)  # roles before validation
    with api.client("super_admin") as client:
        assert_clean_error(client.get("/api/admin/sync-runs/not-a-number"), 422, "invalid_request")
        assert_clean_error(client.get("/api/admin/sync-runs/999999"), 404, "not_found")


def test_an_unreachable_database_is_503_without_details(offline, server):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = create_db_engine(f"postgresql+psycopg://modelsync:s3cret-pw@127.0.0.1:{port}/gone")
    settings = offline.model_copy(update={"public_read": True})
    try:
        with server(create_app(settings, engine)) as live, live.client() as client:
            listing = client.get("/api/ai-models")
            health = client.get("/healthz")
            sync = client.post(
                "/api/admin/ai-models/sync", json={"provider": "all"}, headers={"Authorization": "Bearer msk_x"}
            )
    finally:
        engine.dispose()
    error = assert_clean_error(listing, 503, "database_unavailable")
    assert "reference" in error["message"]
    assert "s3cret" not in listing.text + health.text + sync.text
    assert health.status_code == 503 and health.json()["database"] == "unreachable"
    assert_clean_error(sync, 503, "database_unavailable")


def test_an_unexpected_failure_is_a_bare_500_with_a_reference(synced, offline, server):
    app = create_app(offline, synced)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: postgresql://user:password@db/prod")

    with server(app) as live, live.client() as client:
        response = client.get("/boom")
    error = assert_clean_error(response, 500, "internal_error")
    assert "reference" in error["message"] and "secret internals" not in response.text


def test_openapi_and_docs_are_served(api):
    with api.client() as client:
        schema = client.get("/openapi.json")
        docs = client.get("/docs")
    assert schema.status_code == 200 and docs.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/ai-models",
        "/api/ai-models/changes",
        "/api/ai-models/{provider}/{model_id}",
        "/api/ai-models/{provider}/{model_id}/history",
        "/api/admin/ai-models/sync",
        "/api/admin/ai-models/sync/replicate",
        "/api/admin/ai-models/{provider}/{model_id}",
        "/api/cost",
        "/api/admin/sync-runs",
        "/api/admin/sync-runs/{run_id}",
        "/api/admin/audit-log",
        "/healthz",
    ):
        assert path in paths, path
    assert "apiToken" in schema.json()["components"]["securitySchemes"]


def test_healthz_reports_the_database_and_the_last_sync(api):
    with api.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["models"] > 0
    assert body["lastSync"]["status"] == "ok" and body["lastSync"]["trigger"] == "cli"
