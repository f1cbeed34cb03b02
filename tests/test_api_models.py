"""Catalog reads and admin decisions over real HTTP: camelCase fields, filters, sorting, cursors, odd ids,
history, the change feed, and PATCH decisions that survive syncs."""

from __future__ import annotations

from decimal import Decimal

import pytest

import dbread
from modelsync.api.schemas import ModelOut
from modelsync.services.sync import SyncOptions, run_sync

OVERRIDES = """
[[model]]
provider = "openai"
id = "ft:gpt-4o-mini-2024-07-18:acme::B2x9"
custom = true
display_name = "Acme support bot"
input_price = "0.3"
output_price = "1.2"

[[model]]
provider = "replicate"
id = "meta/meta-llama-3-70b-instruct"
custom = true
input_price = "0.65"
output_price = "2.75"
context_window = 8192

[[model]]
provider = "replicate"
id = "history"
custom = true
"""


@pytest.fixture(autouse=True)
def odd_ids(clean_env):
    """Models whose ids hold ":" and "/" (an OpenAI fine-tune, a Replicate owner/name), via the overrides file."""
    (clean_env / "modelsync.overrides.toml").write_text(OVERRIDES)


@pytest.fixture
def client(api):
    run_sync(api.engine, api.settings, SyncOptions(providers=["replicate"], trigger="cli"))
    with api.client("viewer") as viewer:
        yield viewer


def walk(client, **params) -> list[dict]:
    """Every model of a query, page by page through nextCursor."""
    models, cursor = [], None
    for _ in range(1000):
        response = client.get("/api/ai-models", params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        models += page["data"]
        cursor = page["nextCursor"]
        if cursor is None:
            return models
    raise AssertionError("the cursor never ended")


def test_list_by_provider_returns_the_original_camelcase_schema(client, api):
    response = client.get("/api/ai-models", params={"provider": "anthropic", "limit": 500})
    assert response.status_code == 200
    models = response.json()["data"]
    assert {m["id"] for m in models} == {row["model_id"] for row in dbread.models(api.engine, provider="anthropic")}
    for model in models:
        assert set(model) == set(ModelOut.model_fields)
        ModelOut.model_validate(model)
        assert model["provider"] == "anthropic" and model["name"] == model["id"]
    sonnet = next(m for m in models if m["id"] == "claude-3-5-sonnet-20241022")
    for field in ("displayName", "contextWindow", "maxOutputTokens", "inputCostPer1M", "costPer1kInputTokens"):
        assert sonnet[field] is not None, field
    assert Decimal(sonnet["costPer1kInputTokens"]) * 1000 == Decimal(sonnet["inputCostPer1M"])
    assert isinstance(sonnet["isAllowed"], bool) and isinstance(sonnet["tags"], list)


@pytest.mark.parametrize(
    "sort",
    ["provider", "-provider", "id", "inputPrice", "-inputPrice", "contextWindow", "-displayName", "-updatedAt"],
)
def test_cursor_pages_walk_every_model_once_in_the_same_order_as_one_page(client, api, sort):
    whole = client.get("/api/ai-models", params={"sort": sort, "limit": 500}).json()
    assert whole["nextCursor"] is None
    paged = walk(client, sort=sort, limit=7)
    assert [(m["provider"], m["id"]) for m in paged] == [(m["provider"], m["id"]) for m in whole["data"]]
    assert len(paged) == len(dbread.models(api.engine))


def test_price_sort_is_numeric_with_unknown_prices_last_both_ways(client):
    for sort, descending in (("inputPrice", False), ("-inputPrice", True)):
        models = walk(client, sort=sort, limit=40)
        priced = [Decimal(m["inputCostPer1M"]) for m in models if m["inputCostPer1M"] is not None]
        assert priced == sorted(priced, reverse=descending)
        nulls = [i for i, m in enumerate(models) if m["inputCostPer1M"] is None]
        assert nulls and nulls == list(range(len(priced), len(models)))  # every unknown price after every known


def test_filters_match_what_the_database_holds(client, api):
    rows = dbread.models(api.engine)

    def ids(**params) -> set[tuple[str, str]]:
        return {(m["provider"], m["id"]) for m in walk(client, limit=500, **params)}

    def expect(predicate) -> set[tuple[str, str]]:
        return {(r["provider"], r["model_id"]) for r in rows if predicate(r)}

    assert ids(provider=["openai", "google"]) == expect(lambda r: r["provider"] in ("openai", "google"))
    assert ids(kind="embedding") == expect(lambda r: r["kind"] == "embedding") != set()
    assert ids(capability="vision") == expect(lambda r: (r["capabilities"] or {}).get("vision") is True) != set()
    assert ids(capability=["vision", "tools"]) == expect(
        lambda r: (r["capabilities"] or {}).get("vision") is True and (r["capabilities"] or {}).get("tools") is True
    )
    assert ids(tag="fast") == expect(lambda r: "fast" in (r["tags"] or [])) != set()
    assert ids(tier="premium") == expect(lambda r: r["tier"] == "premium") != set()
    assert ids(recommended="true") == expect(lambda r: r["recommended"]) != set()
    assert ids(maxInputPrice="1") == expect(lambda r: r["input_price"] is not None and r["input_price"] <= 1) != set()
    assert ids(maxInputPrice="0.3", provider="openai") == expect(
        lambda r: r["provider"] == "openai" and r["input_price"] is not None and r["input_price"] <= Decimal("0.3")
    )
    assert ids(minContext=1_000_000) == expect(lambda r: (r["context_window"] or 0) >= 1_000_000) != set()
    assert ids(q="SONNET") == expect(
        lambda r: "sonnet" in r["model_id"].lower() or "sonnet" in (r["display_name"] or "").lower()
    )
    assert ids(q="100%_") == set()  # LIKE wildcards are text, not patterns
    assert ids(status="deprecated") == expect(lambda r: r["status"] == "deprecated")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"status": "retired"}, "status"),
        ({"sort": "price"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"maxInputPrice": "-1"}, "maxInputPrice"),
        ({"maxInputPrice": "cheap"}, "maxInputPrice"),
        ({"capability": "Vision!"}, "capability"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"minContext": "lots"}, "minContext"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(client, params, fragment):
    response = client.get("/api/ai-models", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert fragment in response.json()["error"]["message"]


def test_a_cursor_only_works_with_its_own_query(client):
    cursor = client.get("/api/ai-models", params={"limit": 2, "sort": "id"}).json()["nextCursor"]
    assert client.get("/api/ai-models", params={"limit": 2, "sort": "id", "cursor": cursor}).status_code == 200
    other = client.get("/api/ai-models", params={"limit": 2, "sort": "-id", "cursor": cursor})
    assert other.status_code == 422 and "another sort" in other.json()["error"]["message"]
    filtered = client.get("/api/ai-models", params={"limit": 2, "sort": "id", "provider": "google", "cursor": cursor})
    assert filtered.status_code == 422


@pytest.mark.parametrize(
    ("provider", "model_id"),
    [
        ("openai", "ft:gpt-4o-mini-2024-07-18:acme::B2x9"),
        ("replicate", "meta/meta-llama-3-70b-instruct"),
        ("anthropic", "claude-3-5-sonnet-20241022"),
        ("replicate", "history"),
    ],
)
def test_one_model_and_its_history_by_ids_with_slashes_and_colons(client, provider, model_id):
    response = client.get(f"/api/ai-models/{provider}/{model_id}")
    assert response.status_code == 200, response.text
    model = response.json()
    assert (model["provider"], model["id"]) == (provider, model_id)
    history = client.get(f"/api/ai-models/{provider}/{model_id}/history")
    assert history.status_code == 200
    assert [entry["kind"] for entry in history.json()] == ["created"]
    assert history.json()[0]["model"] == model_id


def test_unknown_models_are_404_with_a_hint(client):
    for path in ("/api/ai-models/openai/gpt-9", "/api/ai-models/nope/x", "/api/ai-models/openai/gpt-9/history"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found" and "models list" in response.json()["error"]["message"]


def test_patch_records_a_decision_in_history_and_audit_and_a_sync_keeps_it(api, client):
    path = "/api/admin/ai-models/openai/gpt-4o"
    with api.client("admin") as admin:
        response = admin.patch(path, json={"isAllowed": False, "inputCostPer1M": "1.75", "displayName": "GPT-4o (EU)"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changes"]["isAllowed"] == [True, False]  # keyed by the API's field names
    assert body["changes"]["inputCostPer1M"][1] == "1.75"
    assert body["model"]["isAllowed"] is False and body["model"]["inputCostPer1M"] == "1.75"
    assert body["model"]["displayName"] == "GPT-4o (EU)"
    assert client.get("/api/ai-models/openai/gpt-4o").json()["isAllowed"] is False  # seen at once by readers
    history = client.get("/api/ai-models/openai/gpt-4o/history").json()
    assert history[-1]["kind"] == "manual" and history[-1]["actor"] == "ada"
    [audit] = dbread.audit_entries(api.engine, "model.decide")
    assert audit["actor"] == "ada" and audit["source_ip"] == "127.0.0.1" and audit["target"] == "openai/gpt-4o"

    with api.client("super_admin") as root:
        assert root.post("/api/admin/ai-models/sync", json={"provider": "openai"}).status_code == 200
    after = client.get("/api/ai-models/openai/gpt-4o").json()
    assert (after["isAllowed"], after["inputCostPer1M"], after["displayName"]) == (False, "1.75", "GPT-4o (EU)")

    with api.client("admin") as admin:
        cleared = admin.patch(path, json={"isAllowed": None, "inputCostPer1M": None})
    assert cleared.status_code == 200
    assert cleared.json()["model"]["isAllowed"] is True  # the policy default, at once
    assert cleared.json()["model"]["provenance"]["inputCostPer1M"] == "manual"  # the sources decide it at the next sync
    with api.client("super_admin") as root:
        assert root.post("/api/admin/ai-models/sync", json={"provider": "openai"}).status_code == 200
    resynced = client.get("/api/ai-models/openai/gpt-4o").json()
    assert resynced["inputCostPer1M"] == "2.5" and resynced["provenance"]["inputCostPer1M"] == "genai-prices"


def test_patch_refuses_bad_bodies_and_changes_nothing(api):
    before = dbread.models(api.engine, provider="openai", model_id="gpt-4o")
    with api.client("admin") as admin:
        for body, status, fragment in [
            ({}, 422, "nothing to change"),
            ({"isAllowed": "maybe"}, 422, "isAllowed"),
            ({"allowed": False}, 422, "allowed"),
            ({"inputCostPer1M": -1}, 422, "inputCostPer1M"),
            ({"inputCostPer1M": "1e400"}, 422, "inputCostPer1M"),
            ({"displayName": "x" * 600}, 422, "displayName"),
            ({"displayName": ""}, 422, "displayName"),
        ]:
            response = admin.patch("/api/admin/ai-models/openai/gpt-4o", json=body)
            assert response.status_code == status, (body, response.text)
            assert fragment in response.json()["error"]["message"], body
        missing = admin.patch("/api/admin/ai-models/openai/gpt-9", json={"isAllowed": False})
        assert missing.status_code == 404
    assert dbread.models(api.engine, provider="openai", model_id="gpt-4o") == before


def test_change_feed_pages_forward_by_id_and_shows_decisions(api, client):
    first = client.get("/api/ai-models/changes", params={"limit": 5})
    assert first.status_code == 200
    page = first.json()
    assert len(page["data"]) == 5 and page["hasMore"] is True
    assert all(entry["kind"] == "created" for entry in page["data"])
    ids = [entry["id"] for entry in page["data"]]
    assert ids == sorted(ids) and page["nextSince"] == str(ids[-1])

    everything, since = [], "0"
    while True:
        response = client.get("/api/ai-models/changes", params={"since": since, "limit": 1000}).json()
        everything += response["data"]
        since = response["nextSince"]
        if not response["hasMore"]:
            break
    assert len(everything) == len(dbread.models(api.engine))  # one "created" per model, nothing else yet
    quiet = client.get("/api/ai-models/changes", params={"since": since}).json()
    assert quiet["data"] == [] and quiet["nextSince"] == since

    with api.client("admin") as admin:
        admin.patch("/api/admin/ai-models/anthropic/claude-3-5-haiku-20241022", json={"recommended": True})
    fresh = client.get("/api/ai-models/changes", params={"since": since}).json()
    assert [(e["kind"], e["model"]) for e in fresh["data"]] == [("manual", "claude-3-5-haiku-20241022")]
    assert fresh["data"][0]["changes"]["recommended"] == [False, True]
    only_manual = client.get("/api/ai-models/changes", params={"kind": "manual"}).json()["data"]
    assert [e["id"] for e in only_manual] == [fresh["data"][0]["id"]]
    by_time = client.get("/api/ai-models/changes", params={"since": fresh["data"][0]["at"][:19]}).json()["data"]
    assert fresh["data"][0]["id"] in [e["id"] for e in by_time]
    bad = client.get("/api/ai-models/changes", params={"since": "yesterday"})
    assert bad.status_code == 422 and "nextSince" in bad.json()["error"]["message"]
