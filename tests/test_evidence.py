"""Kinds and capabilities from evidence (issue 9, item 4), over a sync of all 12 providers' fixture listings through
the fake provider server, on SQLite and PostgreSQL; and the core of bench/truth.py (item 5) over a tiny database.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import dbread
from fake_provider import LIVE_CONFIG, FakeProviders
from modelsync.db.tables import ai_model
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings

TRUTH = Path(__file__).resolve().parent.parent / "bench" / "truth.py"


@pytest.fixture
def synced(live_env: FakeProviders, engine: Engine, clean_env: Path) -> dict[str, dict]:
    """Every provider's fixture listing synced; the stored rows by `provider/model_id`."""
    (clean_env / "modelsync.toml").write_text(LIVE_CONFIG)
    report = run_sync(engine, load_settings(), SyncOptions())
    assert [outcome.status for outcome in report.outcomes] == ["ok"] * 12
    return dbread.models_by_ref(engine)


def active_chat(rows: dict[str, dict]) -> list[dict]:
    return [row for row in rows.values() if row["kind"] == "chat" and row["status"] == "active"]


def test_kinds_of_the_issues_examples_come_from_rules_and_evidence(synced):
    expected = {
        "google/lyria-3-pro-preview": "audio",
        "google/lyria-3.5": "audio",
        "openrouter/google/lyria-3-clip-preview": "audio",
        "google/nano-banana-pro-preview": "image",
        "google/gemini-nano-banana-2.1": "image",
        "google/gemini-3-pro-image-preview": "image",
        "google/deep-research-pro-preview-12-2025": "agent",
        "google/antigravity-preview-latest": "agent",
        "openai/o4-mini-deep-research": "agent",
        "openrouter/openai/o3-deep-research": "agent",
        "xai/grok-4.20-multi-agent-0309": "agent",
        "google/aqa": "other",
        "google/gemini-2.5-computer-use-preview-10-2025": "chat",
        # Priced only per hour of audio (genai-prices), nothing else said: a voice model, not a chat model.
        "openai/gpt-live-1": "audio",
    }
    assert {ref: synced[ref]["kind"] for ref in expected} == expected
    assert synced["google/aqa"]["provenance"]["kind"] == "google"  # its generation methods said so
    assert synced["google/lyria-3.5"]["provenance"]["kind"] == "policy"
    # A source's stated kind still wins: Mistral's listing says which of its models are chat models.
    mistral_chat = [row for row in active_chat(synced) if row["provider"] == "mistral"]
    assert mistral_chat and {row["provenance"]["kind"] for row in mistral_chat} == {"mistral"}
    # Replicate's models write files (their output schema): none is guessed chat; only the one without a schema is.
    replicate_chat = [row["model_id"] for row in active_chat(synced) if row["provider"] == "replicate"]
    assert replicate_chat == ["ndreca/hunyuan3d-2.1-test"]
    assert synced["replicate/bytedance/seedance-1-pro"]["kind"] == "video"
    assert synced["replicate/bria/eraser"]["kind"] == "other"


def test_streaming_is_set_only_by_a_rule_with_a_named_reason(synced):
    for ref in ("openai/o1-pro", "openai/gpt-5-pro", "openrouter/openai/o1-pro", "openrouter/openai/gpt-5-pro"):
        assert "streaming" not in synced[ref]["capabilities"], ref
    streaming = {ref: row for ref, row in synced.items() if "streaming" in row["capabilities"]}
    assert streaming and {ref.split("/", 1)[0] for ref in streaming} == {"anthropic"}
    for row in streaming.values():
        assert row["kind"] == "chat" and row["capabilities"]["streaming"] is True
        assert row["provenance"]["capabilities.streaming"] == (
            "policy: Anthropic's Messages API streams every model (stream: true)"
        )


def test_json_vision_and_tools_come_from_every_catalog_that_knows_them_with_provenance(synced):
    large = synced["mistral/mistral-large-2512"]
    # Mistral's listing says tools and vision; JSON comes from the catalog's OpenRouter entry of the same model.
    assert large["provenance"]["capabilities.tools"] == "mistral"
    assert large["capabilities"]["json"] is True
    assert large["provenance"]["capabilities.json"] == "models-dev:openrouter"
    large4 = synced["mistral/mistral-large-4"]  # on OpenRouter under no exact id: Mistral's documented rule
    assert large4["provenance"]["capabilities.json"].startswith("policy: Mistral's API offers structured outputs")
    # An alias without a source of its own takes its target's (mistral-medium is an alias of mistral-medium-latest).
    assert synced["mistral/mistral-medium"]["provenance"]["capabilities.json"] == "inherited:mistral-medium-latest"
    search = synced["openai/gpt-4o-search-preview"]
    assert search["capabilities"]["json"] is True
    assert search["provenance"]["capabilities.json"] == "models-dev:openrouter"
    # The provider's own catalog entry wins over the second source, a stated False included.
    pro = synced["openai/gpt-5.4-pro"]
    assert pro["capabilities"]["json"] is False and pro["provenance"]["capabilities.json"] == "models-dev"
    # Hosts of other authors' models take nothing from OpenRouter's entries of them.
    assert not any(
        source == "models-dev:openrouter"
        for ref, row in synced.items()
        if ref.split("/", 1)[0] in ("groq", "together", "vllm", "ollama")
        for source in row["provenance"].values()
    )
    # Floors, from the fixture sync (before issue 9: JSON known for 397 of 566 "chat" models, 34 of which were
    # Replicate's image and video models).
    chat = active_chat(synced)
    known = {name: sum(name in row["capabilities"] for row in chat) for name in ("json", "vision", "tools")}
    assert len(chat) <= 520
    assert known["json"] >= 430 and known["vision"] >= 455 and known["tools"] >= 445, known
    second = sum(row["provenance"].get("capabilities.json") == "models-dev:openrouter" for row in chat)
    assert second >= 15


# --- bench/truth.py -------------------------------------------------------------------------------------------------


def load_truth() -> ModuleType:
    spec = importlib.util.spec_from_file_location("truth", TRUTH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["truth"] = module
    spec.loader.exec_module(module)
    return module


def _row(provider: str, model_id: str, **values) -> dict:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    row = {
        "provider": provider, "model_id": model_id, "display_name": None, "kind": "chat", "status": "active",
        "capabilities": {}, "modalities_in": [], "modalities_out": [], "recommended": False, "is_allowed": True,
        "tags": [], "provenance": {}, "content_hash": "x", "created_at": now, "updated_at": now,
        "context_window": None, "input_price": None, "output_price": None, "extra": None, "prices": None,
        "price_note": None,
    }  # fmt: skip
    return {**row, **values}


def test_the_truth_core_counts_a_tiny_database(engine):
    truth = load_truth()
    rows = [
        # gpt-4o: priced by its listing at genai-prices' and models-dev's price (2.5/10), named, 128k, JSON known.
        _row("openai", "gpt-4o", display_name="GPT-4o", context_window=128000, input_price=Decimal("2.5"),
             output_price=Decimal("10"), capabilities={"json": True, "vision": True},
             provenance={"input_price": "openai", "output_price": "openai"}),
        # A listing price 50% off the catalogs': compared, and disagreeing.
        _row("openai", "gpt-4o-mini", display_name="gpt-4o-mini", input_price=Decimal("0.3"),
             output_price=Decimal("0.6"), capabilities={"tools": False},
             provenance={"input_price": "openai", "output_price": "openai"}),
        # Unpriced with a stated reason: counted as priced. One price alone is not priced.
        _row("openai", "acme-1", price_note="no public price"),
        _row("openai", "acme-2", input_price=Decimal("1")),
        # Not counted: deprecated, or not a chat model.
        _row("openai", "gpt-4", status="deprecated", input_price=Decimal("30"), output_price=Decimal("60")),
        _row("openai", "whisper-1", kind="audio"),
        _row("anthropic", "claude-x", display_name="Claude X", capabilities={"streaming": True}),
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(ai_model), rows)

    table = truth.truth_table(engine, datetime(2026, 11, 28, tzinfo=UTC))

    openai, anthropic, total = table["openai"], table["anthropic"], table["TOTAL"]
    assert list(table) == ["anthropic", "openai", "TOTAL"]
    assert (openai.chat, openai.priced, openai.context, openai.named) == (4, 3, 1, 1)
    assert openai.known == {"json": 1, "vision": 1, "tools": 1, "stream": 0}
    # No LiteLLM copy is active here (no feed read): nothing to compare with it.
    assert openai.agree == {"gp~md": [2, 2], "gp~list": [2, 1], "md~list": [2, 1], "gp~ll": [0, 0]}
    assert (anthropic.chat, anthropic.priced, anthropic.named, anthropic.known["stream"]) == (1, 0, 1, 1)
    assert total.chat == 5 and total.known["stream"] == 1 and total.agree["gp~list"] == [2, 1]
    text = truth.render(table)
    assert text.splitlines()[0].split() == [
        "provider", "chat", "priced", "context", "named", "json", "vision", "tools", "stream", "gp~md", "gp~list",
        "md~list", "gp~ll",
    ]  # fmt: skip
    assert "   3  75%" in next(line for line in text.splitlines() if line.startswith("openai"))


def test_prices_agree_within_one_percent():
    truth = load_truth()
    assert truth.agrees((Decimal("2.5"), Decimal("10")), (Decimal("2.52"), Decimal("9.95")))
    assert not truth.agrees((Decimal("2.5"), Decimal("10")), (Decimal("2.5"), Decimal("10.2")))
    assert truth.agrees((Decimal("0"), Decimal("0")), (Decimal("0"), Decimal("0")))
