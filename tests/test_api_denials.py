"""Denied attempts over real HTTP: one audit entry per client and minute with a count, a per-client limit answered
429 with Retry-After and no database write, correct counts under concurrent requests, and the audit retention.

The app's clock for denied attempts is a test clock (create_app(clock=...)), so minutes turn when a test says so.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

import dbread
from modelsync.db.tables import audit_log
from modelsync.services import tokens

ADMIN_PATH = "/api/admin/sync-runs"


class Clock:
    """A clock that stands still until moved: 10 s into a minute."""

    def __init__(self) -> None:
        now = datetime.now(UTC).replace(second=10, microsecond=0)
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def next_minute(self) -> None:
        self.now += timedelta(minutes=1)


def denied(engine) -> list[dict]:
    return dbread.audit_entries(engine, "access.denied")


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_denials_are_one_entry_per_client_and_minute_with_a_count(synced, offline, api_factory, clock):
    with api_factory(synced, offline, clock=clock) as api:
        with api.client() as anonymous:
            for _ in range(3):
                assert anonymous.get(ADMIN_PATH).status_code == 401
            assert anonymous.post("/api/admin/ai-models/sync", json={"provider": "all"}).status_code == 401
        with api.client("viewer") as viewer:
            for _ in range(2):
                assert viewer.get(ADMIN_PATH).status_code == 403
        entries = {entry["actor"]: entry for entry in denied(api.engine)}
        assert set(entries) == {None, "vic"}
        anonymous_entry, viewer_entry = entries[None], entries["vic"]
        assert anonymous_entry["source_ip"] == "127.0.0.1" and anonymous_entry["user_id"] is None
        assert anonymous_entry["details"]["count"] == 4
        assert anonymous_entry["details"]["targets"] == {f"GET {ADMIN_PATH}": 3, "POST /api/admin/ai-models/sync": 1}
        assert anonymous_entry["target"] == "POST /api/admin/ai-models/sync"  # the latest
        assert anonymous_entry["details"]["reasons"] == {"no token": 4}
        assert viewer_entry["details"]["count"] == 2 and viewer_entry["user_id"] is not None
        assert viewer_entry["details"]["status"] == 403 and viewer_entry["details"]["requiredRole"] == "super_admin"

        clock.next_minute()
        with api.client() as anonymous:
            assert anonymous.get(ADMIN_PATH).status_code == 401
        rows = [entry for entry in denied(api.engine) if entry["actor"] is None]
        assert [row["details"]["count"] for row in rows] == [4, 1]  # a new minute, a new entry


def test_a_client_over_the_limit_gets_429_and_nothing_is_written(synced, offline, api_factory, clock):
    writes: list[str] = []

    def record_writes(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(statement)

    app_options = {"clock": clock, "denials_per_minute": 5, "housekeeping_interval": 3600, "stamp_interval": 0.0}
    with api_factory(synced, offline, **app_options) as api:
        fresh = tokens.create_token(api.engine, "vic", None, actor="test").secret
        with api.client("viewer") as viewer:
            assert viewer.get("/api/ai-models").status_code == 200  # this token is now verified in memory
        with api.client() as anonymous:
            assert [anonymous.get(ADMIN_PATH).status_code for _ in range(5)] == [401] * 5
            sa.event.listen(api.engine, "before_cursor_execute", record_writes)
            try:
                refused = [anonymous.get(ADMIN_PATH) for _ in range(3)]
                refused.append(anonymous.get("/api/ai-models"))  # reads count too
                with api.client("viewer") as viewer:
                    known_read = viewer.get("/api/ai-models")
                    known_admin = viewer.get(ADMIN_PATH)
                with api.live.client(fresh) as unverified:
                    unknown = unverified.get("/api/ai-models")
            finally:
                sa.event.remove(api.engine, "before_cursor_execute", record_writes)
        for response in [*refused, known_admin, unknown]:
            assert response.status_code == 429, response.text
            assert response.headers["retry-after"] == "50"  # the clock stands 10 s into its minute
            assert response.json()["error"]["code"] == "too_many_requests"
        assert known_read.status_code == 200  # a token this server already knows still reads
        assert writes == []
        [entry] = [entry for entry in denied(api.engine) if entry["actor"] is None]
        assert entry["details"]["count"] == 5 and entry["details"]["limited"] == 0

        clock.next_minute()
        with api.client() as anonymous:
            assert anonymous.get(ADMIN_PATH).status_code == 401  # a new minute, a new allowance
    # At shutdown the counts of the refused attempts reach their entries.
    entries = {(entry["actor"], entry["details"]["minute"]): entry["details"] for entry in denied(synced)}
    first_minute = clock.now.replace(second=0) - timedelta(minutes=1)
    # 5 answered 401 and 3 answered 429 at the admin endpoint; refused reads count towards the limit, unaudited.
    assert entries[(None, first_minute.isoformat())]["count"] == 8
    assert entries[(None, first_minute.isoformat())]["limited"] == 3
    assert entries[("vic", first_minute.isoformat())]["count"] == 1
    assert entries[("vic", first_minute.isoformat())]["limited"] == 1
    assert entries[(None, clock.now.replace(second=0).isoformat())]["count"] == 1


def test_the_housekeeping_flush_writes_refused_attempts_while_the_server_runs(synced, offline, api_factory, clock):
    with api_factory(synced, offline, clock=clock, denials_per_minute=2, housekeeping_interval=0.05) as api:
        with api.client() as anonymous:
            statuses = [anonymous.get(ADMIN_PATH).status_code for _ in range(5)]
        assert statuses == [401, 401, 429, 429, 429]
        wait_for(lambda: [e["details"]["count"] for e in denied(api.engine)] == [5])
        assert denied(api.engine)[0]["details"]["limited"] == 3


def test_concurrent_denials_are_counted_exactly_in_one_entry(synced, offline, api_factory, clock):
    threads, per_thread = 8, 10
    with api_factory(synced, offline, clock=clock, denials_per_minute=1000) as api:
        failures: list[int] = []

        def hammer() -> None:
            with httpx.Client(base_url=api.url, timeout=60) as client:
                for _ in range(per_thread):
                    status = client.get(ADMIN_PATH).status_code
                    if status != 401:
                        failures.append(status)

        workers = [threading.Thread(target=hammer) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert failures == []
        [entry] = denied(api.engine)
        assert entry["details"]["count"] == threads * per_thread


def _old_and_new_entries(engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for days in (400, 31, 29, 0):
            conn.execute(
                sa.insert(audit_log).values(
                    created_at=now - timedelta(days=days), action="test.entry", outcome="ok", target=f"{days}d"
                )
            )


def test_the_server_prunes_audit_entries_older_than_the_retention(synced, offline, api_factory):
    _old_and_new_entries(synced)
    settings = offline.model_copy(update={"audit_retention_days": 30})
    with api_factory(synced, settings, housekeeping_interval=0.05) as api:
        wait_for(lambda: {e["target"] for e in dbread.audit_entries(api.engine, "test.entry")} == {"29d", "0d"})
        assert dbread.audit_entries(api.engine, "sync")  # recent entries of other kinds stay


def test_without_a_retention_nothing_is_pruned(synced, offline, api_factory):
    _old_and_new_entries(synced)
    with api_factory(synced, offline, housekeeping_interval=0.05) as api, api.client() as anonymous:
        assert anonymous.get(ADMIN_PATH).status_code == 401
        wait_for(lambda: len(denied(api.engine)) == 1)
        assert len(dbread.audit_entries(api.engine, "test.entry")) == 4


def test_the_cli_applies_the_retention_too(cli, engine, monkeypatch):
    _old_and_new_entries(engine)
    assert cli("models", "list").code == 0
    assert len(dbread.audit_entries(engine, "test.entry")) == 4
    monkeypatch.setenv("MODELSYNC_AUDIT_RETENTION_DAYS", "30")
    assert cli("models", "list").code == 0
    assert {entry["target"] for entry in dbread.audit_entries(engine, "test.entry")} == {"29d", "0d"}


def test_429_is_documented_on_every_guarded_operation(api):
    with api.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "401" in operation["responses"]:
                assert "429" in operation["responses"], (method, path)
