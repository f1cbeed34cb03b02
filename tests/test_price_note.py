"""Why a model has no price (`priceNote`), end to end from the fixture listings over real HTTP, on both databases:
a router, a self-hosted server and a fine-tune say why; a priced model carries no source's note; an admin's or the
overrides file's note stays."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

import dbread
from fake_provider import LIVE_CONFIG, FakeProviders
from modelsync.fieldspec import PRICE_GROUP
from modelsync.services import catalog
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings


@pytest.fixture
def live(live_env: FakeProviders, db_url: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every key set against the fake server, the test database as DATABASE_URL; returns the config folder."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    return clean_env


def sync(engine: Engine, *providers: str) -> None:
    report = run_sync(engine, load_settings(), SyncOptions(providers=providers))
    assert report.exit_code == 0, [outcome.message for outcome in report.outcomes]


def unpriced(row: dict) -> bool:
    return all(row[name] is None for name in PRICE_GROUP)


def test_routers_and_self_hosted_models_say_why_they_have_no_price(live, engine):
    sync(engine, "openrouter", "ollama", "vllm")
    rows = dbread.models_by_ref(engine)
    auto = rows["openrouter/openrouter/auto"]
    assert unpriced(auto) and auto["tier"] is None
    assert auto["price_note"].startswith("a router") and auto["provenance"]["price_note"] == "openrouter"
    local = [row for ref, row in rows.items() if ref.startswith("ollama/")]
    assert local and all(unpriced(row) and "Ollama" in row["price_note"] for row in local)
    assert all(row["provenance"]["price_note"] == "policy" for row in local)
    assert "vLLM" in rows["vllm/Qwen/Qwen3-32B"]["price_note"]
    # A priced model carries no note: the sources' reasons are only for models nobody prices.
    priced = [row for row in rows.values() if not unpriced(row)]
    assert priced and all(row["price_note"] is None for row in priced)


def test_an_admin_note_stays_and_a_source_note_goes_when_a_price_arrives(live, engine):
    sync(engine, "openrouter")
    settings = load_settings()
    catalog.decide(engine, settings, "openrouter", "openrouter/bodybuilder", {"price_note": "routes to priced"}, "ops")
    # An admin prices the router: the listing's note no longer applies, the admin's own note on the other stays.
    paid = {"input_price": Decimal("1"), "output_price": Decimal("2")}
    catalog.decide(engine, settings, "openrouter", "openrouter/auto", paid, "ops")
    sync(engine, "openrouter")
    rows = dbread.models_by_ref(engine, "openrouter")
    assert rows["openrouter/openrouter/auto"]["price_note"] is None
    assert rows["openrouter/openrouter/auto"]["input_price"] == Decimal("1")
    body = rows["openrouter/openrouter/bodybuilder"]
    assert body["price_note"] == "routes to priced" and body["provenance"]["price_note"] == "manual"


def test_the_overrides_file_can_state_a_reason(live, engine):
    # The default overrides file, in the working directory.
    (live / "modelsync.overrides.toml").write_text(
        '[[model]]\nprovider = "vllm"\nid = "Qwen/Qwen3-32B"\nprice_note = "internal cluster, charged by team"\n'
    )
    sync(engine, "vllm")
    row = dbread.models_by_ref(engine, "vllm")["vllm/Qwen/Qwen3-32B"]
    assert row["price_note"] == "internal cluster, charged by team" and row["provenance"]["price_note"] == "overrides"
