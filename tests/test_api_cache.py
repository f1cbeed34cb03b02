"""The in-process caches of a server (stamp interval 1 h here, so only explicit invalidation moves them): answers
without database work, the same access rules as without caches, writes through this server seen at once, writes
through another replica seen at the next stamp check, expiry exact to the second."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from modelsync.db.engine import create_db_engine
from modelsync.services import catalog, tokens


@pytest.fixture
def slow_api(synced, offline, api_factory):
    with api_factory(synced, offline, stamp_interval=3600.0) as running:
        yield running


@pytest.fixture
def other_replica(slow_api):
    engine = create_db_engine(slow_api.engine.url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()


@pytest.fixture
def statements(slow_api):
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if "SELECT" in statement or "INSERT" in statement or "UPDATE" in statement:
            seen.append(statement)

    sa.event.listen(slow_api.engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(slow_api.engine, "before_cursor_execute", record)


READS = (
    "/api/ai-models?provider=openai&limit=5",
    "/api/ai-models/openai/gpt-4o",
    "/api/ai-models/openai/gpt-4o/history",
    "/api/ai-models/changes?since=0&limit=3",
)


def test_warm_reads_and_costs_do_no_database_work_and_match_the_cold_answer(slow_api, statements):
    with slow_api.client("viewer") as client:
        cold = {path: client.get(path) for path in READS}
        cold_cost = client.post("/api/cost", json={"model": "gpt-4o", "inputTokens": 5, "outputTokens": 5})
        statements.clear()
        for _ in range(3):
            for path in READS:
                warm = client.get(path)
                assert warm.status_code == 200 and warm.content == cold[path].content, path
            cost = client.post("/api/cost", json={"model": "gpt-4o", "inputTokens": 5, "outputTokens": 5})
            assert cost.json() == cold_cost.json()
    assert statements == []


def test_cached_answers_follow_the_same_access_rules(slow_api):
    path = "/api/ai-models/openai/gpt-4o"
    with slow_api.client("viewer") as viewer:
        assert viewer.get(path).status_code == 200  # now cached
    for headers in ({}, {"Authorization": "Bearer msk_forged"}, {"Authorization": "Basic eDp5"}):
        with slow_api.client(headers=headers) as client:
            response = client.get(path)
        assert response.status_code == 401, headers
        assert "gpt-4o" not in response.text


def test_public_read_serves_cached_answers_to_anyone(synced, offline, api_factory):
    settings = offline.model_copy(update={"public_read": True})
    with api_factory(synced, settings, stamp_interval=3600.0) as api, api.client() as anonymous:
        first = anonymous.get("/api/ai-models/openai/gpt-4o")
        second = anonymous.get("/api/ai-models/openai/gpt-4o")
    assert first.status_code == second.status_code == 200 and first.content == second.content


def test_a_decision_through_this_server_is_seen_at_once(slow_api):
    with slow_api.client("viewer") as viewer, slow_api.client("admin") as admin:
        assert viewer.get("/api/ai-models/openai/gpt-4o").json()["recommended"] is False
        cost = viewer.post("/api/cost", json={"model": "gpt-4o", "inputTokens": 1_000_000, "outputTokens": 0})
        assert cost.json()["totalCost"] == "2.5"
        assert (
            admin.patch(
                "/api/admin/ai-models/openai/gpt-4o", json={"recommended": True, "inputCostPer1M": 2}
            ).status_code
            == 200
        )
        assert viewer.get("/api/ai-models/openai/gpt-4o").json()["recommended"] is True
        cost = viewer.post("/api/cost", json={"model": "gpt-4o", "inputTokens": 1_000_000, "outputTokens": 0})
        assert cost.json()["totalCost"] == "2"


def test_a_write_through_another_replica_is_seen_at_the_next_stamp_check(slow_api, other_replica):
    with slow_api.client("viewer") as viewer:
        assert viewer.get("/api/ai-models/openai/gpt-4o").json()["isAllowed"] is True
        catalog.decide(other_replica, slow_api.settings, "openai", "gpt-4o", {"is_allowed": False}, "ops")
        catalog.decide(other_replica, slow_api.settings, "openai", "gpt-4o", {"input_price": Decimal("3")}, "ops")
        stale = viewer.get("/api/ai-models/openai/gpt-4o").json()
        assert stale["isAllowed"] is True  # within the stamp interval this replica still answers from its cache
        slow_api.app.state.watch.invalidate()  # what the interval passing does
        assert viewer.get("/api/ai-models/openai/gpt-4o").json()["isAllowed"] is False
        cost = viewer.post("/api/cost", json={"model": "gpt-4o", "inputTokens": 1_000_000, "outputTokens": 0})
        assert cost.json()["totalCost"] == "3"


def test_a_revocation_on_another_replica_stops_the_token_at_the_next_stamp_check(slow_api, other_replica):
    issued = tokens.create_token(slow_api.engine, "vic", None, actor="test")
    with slow_api.live.client(issued.secret) as client:
        assert client.get("/api/ai-models/openai/gpt-4o").status_code == 200
        tokens.revoke_token(other_replica, issued.id, actor="ops")
        slow_api.app.state.watch.invalidate()
        response = client.get("/api/ai-models/openai/gpt-4o")
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


def test_a_cached_token_stops_at_its_expiry_to_the_second(slow_api):
    issued = tokens.create_token(slow_api.engine, "vic", timedelta(seconds=1), actor="test")
    with slow_api.live.client(issued.secret) as client:
        assert client.get("/api/ai-models/openai/gpt-4o").status_code == 200
        assert client.get("/api/ai-models/openai/gpt-4o").status_code == 200  # from the caches
        time.sleep(1.2)
        response = client.get("/api/ai-models/openai/gpt-4o")
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_denials_are_still_audited_with_warm_caches(slow_api):
    with slow_api.client("viewer") as viewer:
        viewer.get("/api/ai-models")
        for _ in range(3):
            assert viewer.get("/api/admin/audit-log").status_code == 403
    with slow_api.client("super_admin") as root:
        denied = root.get("/api/admin/audit-log", params={"action": "access.denied"}).json()["data"]
    # One entry per client and minute, counting the denials (two if the minute turned in between).
    assert sum(entry["details"]["count"] for entry in denied) == 3 and {entry["actor"] for entry in denied} == {"vic"}


def test_the_same_parameters_in_another_order_are_not_mistaken_for_each_other(slow_api):
    with slow_api.client("viewer") as viewer:
        first = viewer.get("/api/ai-models?limit=3&limit=4").json()["data"]
        second = viewer.get("/api/ai-models?limit=4&limit=3").json()["data"]
        again = viewer.get("/api/ai-models?limit=3&limit=4").json()["data"]
    assert {len(first), len(second)} == {3, 4} and len(first) != len(second)
    assert again == first
