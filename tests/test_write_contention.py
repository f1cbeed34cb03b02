"""Short writes during a long sync: an admin decision waits for the sync's write to finish (up to
MODELSYNC_WRITE_WAIT) and then succeeds; past the limit it is a 503 with Retry-After (API) or one line (CLI), never
"database is locked", never a traceback, and nothing is half-written."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import dbread
from modelsync.db.dialect import write_transaction
from modelsync.db.tables import ai_model
from modelsync.records import SourceRecord
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.sources.live import ListingResult

LARGE = 50_000


def large_listing(n: int) -> dict[str, ListingResult]:
    """A 50,000-model OpenRouter listing (prices and limits on every model)."""
    records = {
        f"vendor-{i % 89}/model-{i:06d}": SourceRecord(
            f"vendor-{i % 89}/model-{i:06d}",
            {"display_name": f"Model {i}", "context_window": 8192 + i, "input_price": Decimal(i % 50 + 1) / 10},
        )
        for i in range(n)
    }
    return {"openrouter": ListingResult("openrouter", records=records, digest=None)}


def test_a_decision_during_a_50k_model_sync_waits_for_it_and_succeeds(api):
    listing = large_listing(LARGE)
    writing = threading.Event()
    outcome: dict[str, object] = {}

    def progress(name: str | None, message: str) -> None:
        if name == "openrouter" and message == "writing changes":
            writing.set()

    def sync() -> None:
        options = SyncOptions(providers=["openrouter"], trigger="test")
        outcome["report"] = run_sync(api.engine, api.settings, options, progress, fetch=lambda *_: listing)
        outcome["finished"] = time.monotonic()

    thread = threading.Thread(target=sync)
    thread.start()
    assert writing.wait(120), "the sync never reached its write phase"
    with api.client("admin") as admin:
        response = admin.patch("/api/admin/ai-models/openai/gpt-4o", json={"isAllowed": False}, timeout=120)
        answered = time.monotonic()
    thread.join(120)

    assert response.status_code == 200, response.text
    assert response.json()["model"]["isAllowed"] is False
    assert answered >= outcome["finished"] - 0.5  # it waited for the sync instead of failing or cutting in
    assert outcome["report"].total("created") == LARGE  # type: ignore[attr-defined]
    assert dbread.model_row(api.engine, "openai", "gpt-4o")["is_allowed"] is False
    assert dbread.count(api.engine, ai_model, provider="openrouter") == LARGE


def test_past_the_wait_limit_the_api_answers_503_with_retry_after(synced, offline, api_factory):
    settings = offline.model_copy(update={"write_wait": 0.3})
    before = dbread.model_row(synced, "openai", "gpt-4o")
    running = api_factory(synced, settings, stamp_interval=0.0)
    # A long write in progress while the admin decides.
    with running as api, write_transaction(synced), api.client("admin") as admin:
        started = time.monotonic()
        response = admin.patch("/api/admin/ai-models/openai/gpt-4o", json={"isAllowed": False})
        waited = time.monotonic() - started
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "database_busy" and "MODELSYNC_WRITE_WAIT" in error["message"]
    assert "locked" not in error["message"] and int(response.headers["retry-after"]) >= 1
    assert 0.25 <= waited < 5
    assert dbread.model_row(synced, "openai", "gpt-4o") == before


def test_past_the_wait_limit_the_cli_prints_one_line(synced, cli, monkeypatch):
    monkeypatch.setenv("MODELSYNC_WRITE_WAIT", "0.3")
    with write_transaction(synced):
        result = cli("models", "set", "openai/gpt-4o", "--not-allowed")
    assert result.code == 1, result
    assert "Traceback" not in result.err and "database is locked" not in result.err
    assert len(result.err.strip().splitlines()) <= 2 and "MODELSYNC_WRITE_WAIT" in result.err
    assert dbread.model_row(synced, "openai", "gpt-4o")["is_allowed"] is True
