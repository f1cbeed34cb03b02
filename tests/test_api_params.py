"""Crafted parameters over real HTTP, on SQLite and PostgreSQL: every one is answered 4xx in the error shape (or
200 where it is a fair question), never 5xx. PostgreSQL refuses NUL in text and integers beyond 64 bits, which is
where 500s came from; `since`, `cursor`, path ids, query strings and bodies are all covered.

Each test sends its cases one connection each (a 500 would close a kept-alive connection) and reports every case
that went wrong at once.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

LEAKS = ("Traceback", 'File "', "sqlalchemy", "psycopg", "sqlite3")


def cursor_of(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def decoded(cursor: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def run_cases(api, role: str, cases: list[tuple[str, str, Any, set[int]]]) -> None:
    problems = []
    for method, path, body, expected in cases:
        with api.client(role, headers={"Connection": "close"}) as client:
            if isinstance(body, bytes):
                response = client.request(method, path, content=body, headers={"content-type": "application/json"})
            else:
                response = client.request(method, path, json=body)
        text = response.text
        if response.status_code not in expected or any(leak in text for leak in LEAKS):
            problems.append(f"{method} {path[:120]} -> {response.status_code} {text[:160]}")
        elif response.status_code >= 400:
            error = response.json()["error"]
            if not error["code"] or not error["message"]:
                problems.append(f"{method} {path[:120]}: no error shape")
    assert not problems, "\n".join(problems)


BAD = {400, 422}


def test_crafted_since_values_are_422_never_500(api):
    feed = "/api/ai-models/changes?since="
    run_cases(
        api,
        "viewer",
        [
            ("GET", feed + "9" * 30, None, BAD),
            ("GET", feed + str(2**63), None, BAD),
            ("GET", feed + str(2**63 - 1), None, {200}),
            ("GET", feed + "0", None, {200}),
            ("GET", feed + "%00", None, BAD),
            ("GET", feed + "1%00", None, BAD),
            ("GET", feed + "2025-01-01T00:00:00%00", None, BAD),
            ("GET", feed + "0001-01-01T00:00:00%2B14:00", None, BAD),  # before year 1 in UTC
            ("GET", feed + "9999-12-31T23:59:59-14:00", None, BAD),  # after year 9999 in UTC
            ("GET", feed + "%C2%B2", None, BAD),  # a superscript two: a digit to str.isdigit, not to int()
            ("GET", feed + "%D9%A1%D9%A2", None, BAD),  # Arabic-Indic digits
            ("GET", feed + "-1", None, BAD),
            ("GET", feed + "2025-13-01", None, BAD),
            ("GET", feed + "2025-01-31T00:00:00Z", None, {200}),
            ("GET", feed + "x" * 65, None, BAD),
        ],
    )


def test_nul_in_any_query_or_path_parameter_is_refused(api):
    patch = {"recommended": True}
    run_cases(
        api,
        "super_admin",
        [
            ("GET", "/api/ai-models?q=%00", None, BAD),
            ("GET", "/api/ai-models?q=a%00b", None, BAD),
            ("GET", "/api/ai-models?tag=%00", None, BAD),
            ("GET", "/api/ai-models?provider=open%00ai", None, BAD),
            ("GET", "/api/ai-models?cursor=%00", None, BAD),
            ("GET", "/api/ai-models?%00=1", None, BAD),
            ("GET", "/api/ai-models/changes?provider=%00", None, BAD),
            ("GET", "/api/admin/audit-log?action=%00", None, BAD),
            ("GET", "/api/admin/audit-log?actor=root%00", None, BAD),
            ("GET", "/api/admin/audit-log?outcome=%00", None, BAD),
            ("GET", "/api/ai-models/open%00ai/gpt-4o", None, {404}),
            ("GET", "/api/ai-models/openai/gpt%00-4o", None, {404}),
            ("GET", "/api/ai-models/openai/gpt%00-4o/history", None, {404}),
            ("PATCH", "/api/admin/ai-models/openai/gpt%00-4o", patch, {404}),
            ("PATCH", "/api/admin/ai-models/open%00ai/gpt-4o", patch, {404}),
            ("GET", "/api/admin/sync-runs/1%00", None, {404}),
            ("GET", "/api/ai-models/openai/%FF%FE", None, {404}),
            ("GET", "/api/ai-models/openai/%ED%A0%80", None, {404}),  # an encoded lone surrogate
            ("GET", "/api/ai-models/openai/gpt-4o", None, {200}),
        ],
    )


def test_control_characters_and_surrogates_in_bodies_are_422(api):
    model = "/api/admin/ai-models/openai/gpt-4o"
    cost = {"inputTokens": 1, "outputTokens": 1}
    run_cases(
        api,
        "admin",
        [
            ("PATCH", model, {"displayName": "a\u0000b"}, BAD),
            ("PATCH", model, {"displayName": "a\u001b[31mb"}, BAD),
            ("PATCH", model, {"replacementModel": "gpt\nTotal: 0"}, BAD),
            ("PATCH", model, b'{"displayName": "a\\ud800b"}', BAD),
            ("PATCH", model, b'{"replacementModel": "\\udfff"}', BAD),
            ("POST", "/api/cost", {"model": "gpt\u00004o", **cost}, BAD),
            ("POST", "/api/cost", {"model": "gpt-4o", "provider": "open\u0000ai", **cost}, BAD),
            ("POST", "/api/cost", b'{"model": "\\ud800", "inputTokens": 1, "outputTokens": 1}', BAD),
            ("PATCH", model, {"displayName": "GPT-4o (team)"}, {200}),
        ],
    )


@pytest.fixture
def cursors(api) -> dict[str, tuple[str, dict[str, Any]]]:
    """A real second-page cursor of a few sorts, decoded, with the query it belongs to."""
    found = {}
    with api.client("viewer") as client:
        for sort in ("provider", "contextWindow", "inputCostPer1M", "createdAt"):
            page = client.get("/api/ai-models", params={"limit": 2, "sort": sort}).json()
            found[sort] = (f"/api/ai-models?limit=2&sort={sort}&cursor=", decoded(page["nextCursor"]))
    return found


def test_tampered_cursors_are_422_never_500(api, cursors):
    cases = []

    def tampered(sort: str, expected: set[int] = BAD, **changes: Any) -> None:
        prefix, data = cursors[sort]
        cases.append(("GET", prefix + cursor_of({**data, **changes}), None, expected))

    for value in (10**30, 2**63, -(2**63) - 1, 1.5, True, "12", [1], {"a": 1}):
        tampered("contextWindow", v=value)
    for value in ("1e400", "1e27", "NaN", "Infinity", "-1e30", "abc", 12):
        tampered("inputCostPer1M", v=value)
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2020-01-01T00:00:00\u0000", "x", 5):
        tampered("createdAt", v=value)
    for key, value in (("p", "a\u0000"), ("m", "\ud800"), ("p", 5), ("m", None), ("m", "x" * 5000)):
        tampered("provider", **{key: value})
    tampered("provider", {200}, m="x" * 500)  # a long id is a fair question: the page after it
    tampered("provider", f="0" * 12)  # the cursor of another query
    prefix, _ = cursors["provider"]
    for raw in ("!!!", base64.urlsafe_b64encode(b"\xff\xfe").decode(), cursor_of([1, 2]), cursor_of("x"), "e30"):
        cases.append(("GET", prefix + raw, None, BAD))
    prefix, data = cursors["provider"]
    cases.append(("GET", prefix + cursor_of(data), None, {200}))  # the untouched cursor still works
    run_cases(api, "viewer", cases)


def test_range_checked_numbers_are_422(api):
    run_cases(
        api,
        "super_admin",
        [
            ("GET", "/api/ai-models?limit=" + "9" * 30, None, BAD),
            ("GET", "/api/ai-models?minContext=" + "9" * 30, None, BAD),
            ("GET", "/api/ai-models?minContext=-1", None, BAD),
            ("GET", "/api/ai-models?maxInputPrice=1e400", None, BAD),
            ("GET", "/api/ai-models?maxInputPrice=NaN", None, BAD),
            ("GET", "/api/ai-models?maxInputPrice=-1", None, BAD),
            ("GET", "/api/ai-models/changes?limit=0", None, BAD),
            ("GET", "/api/admin/sync-runs/" + "9" * 30, None, BAD),
            ("GET", "/api/admin/sync-runs?cursor=" + "9" * 30, None, BAD),
            ("GET", "/api/admin/audit-log?cursor=-5", None, BAD),
            ("POST", "/api/cost", {"model": "gpt-4o", "inputTokens": 10**30, "outputTokens": 1}, BAD),
        ],
    )
