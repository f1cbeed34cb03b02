"""`modelsync export` (json, csv, litellm, mongo) and `modelsync import-overrides`, on a synced catalog.

Each format is checked against its target: the JSON export imports back as overrides that keep every value, the
CSV reads back to the same values, the LiteLLM map has the key types of LiteLLM's own file (tests/fixtures/feeds)
and reads back through modelsync's own LiteLLM reader to the stored prices, and the mongo array is Extended JSON
that `mongoimport --jsonArray` accepts. A 5,000-model export is written while it is read, in bounded memory.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tracemalloc
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

import dbread
from modelsync import exports
from modelsync.db.tables import ai_model
from modelsync.services.exports import iter_models

LITELLM_FIXTURE = Path(__file__).parent / "fixtures" / "feeds" / "litellm" / "model_prices_and_context_window.json.gz"


@pytest.fixture
def synced(cli):
    """A catalog-only sync of the default providers (OpenAI, Anthropic, Google)."""
    assert cli("sync").code == 0
    return cli


def _export(cli, fmt: str, *args: str) -> str:
    result = cli("export", "--format", fmt, *args)
    assert result.code == 0, result.err
    assert "exported" in result.err  # the progress and the count go to stderr, never into the document
    return result.out


def test_json_export_is_the_api_record_and_writes_to_a_file(synced, engine, clean_env):
    records = json.loads(_export(synced, "json"))
    assert records == json.loads(synced("models", "list", "--json").out)
    assert len(records) == dbread.count(engine, ai_model)
    target = clean_env / "catalog.json"
    _export(synced, "json", "--output", str(target), "--provider", "openai", "--status", "active")
    only = json.loads(target.read_text())
    assert only and {record["provider"] for record in only} == {"openai"}
    assert {record["status"] for record in only} == {"active"}
    assert not list(clean_env.glob("*.partial"))


def test_json_export_imports_back_as_overrides_that_keep_every_value(synced, clean_env):
    before = json.loads(_export(synced, "json", "--provider", "anthropic"))
    path = clean_env / "anthropic.json"
    path.write_text(json.dumps(before))

    result = synced("import-overrides", str(path), "--yes")
    assert result.code == 0, result.err
    assert f"{len(before)} valid entries; 0 field changes" in result.out
    written = clean_env / "modelsync.overrides.toml"
    assert written.is_file()

    assert synced("sync", "-p", "anthropic").code == 0
    after = {record["id"]: record for record in json.loads(_export(synced, "json", "--provider", "anthropic"))}
    kept = [name for name in before[0] if name not in ("provenance", "updatedAt", "lastVerified")]

    def values(record):
        # A price component names its source; the values are what must be kept.
        prices = [{k: v for k, v in item.items() if k != "source"} for item in record["prices"] or []]
        return {**{name: record[name] for name in kept}, "prices": prices}

    for record in before:
        assert values(after[record["id"]]) == values(record)
    # The values are now the overrides file's: a later catalog change cannot move them.
    assert after["claude-sonnet-4-5"]["provenance"]["inputCostPer1M"] == "overrides"


def test_csv_export_reads_back_to_the_same_exact_values(synced):
    records = {(r["provider"], r["id"]): r for r in json.loads(_export(synced, "json"))}
    rows = list(csv.DictReader(io.StringIO(_export(synced, "csv"))))
    assert len(rows) == len(records)
    assert tuple(rows[0]) == exports.CSV_COLUMNS
    for row in rows:
        record = records[(row["provider"], row["id"])]
        for name in ("inputCostPer1M", "outputCostPer1M", "cacheReadCostPer1M", "costPer1kInputTokens"):
            assert row[name] == (record[name] or "")  # exact decimal text, never a float
        assert row["contextWindow"] == str(record["contextWindow"] or "")
        assert row["tags"].split(";") == (record["tags"] or [""])
        assert json.loads(row["prices"] or "null") == record["prices"]


def _litellm_types() -> dict[str, set[type]]:
    entries = json.loads(gzip.decompress(LITELLM_FIXTURE.read_bytes()))
    types: dict[str, set[type]] = {}
    for key, entry in entries.items():
        if key == "sample_spec":
            continue
        for name, value in entry.items():
            types.setdefault(name, set()).add(type(value))
    return types


def test_litellm_export_has_litellm_shape_and_reads_back_to_the_stored_prices(synced, engine):
    from modelsync.sources.litellm import litellm_record

    text = _export(synced, "litellm")
    plain = json.loads(text)
    exact = json.loads(text, parse_float=Decimal)
    types = _litellm_types()
    assert plain
    for key, entry in plain.items():
        assert {"litellm_provider"} <= set(entry)
        for name, value in entry.items():
            assert name in types, name
            assert type(value) in types[name] | ({int} if float in types[name] else set()), (key, name, value)
    # Keys are LiteLLM's names: bare API ids for OpenAI and Anthropic, `gemini/<id>` for Google.
    assert plain["gpt-4o"]["litellm_provider"] == "openai" and plain["gpt-4o"]["mode"] == "chat"
    assert plain["claude-sonnet-4-5"]["litellm_provider"] == "anthropic"
    assert plain["gemini/gemini-2.5-pro"]["litellm_provider"] == "gemini"
    stored = {(row["provider"], row["model_id"]): row for row in dbread.models(engine)}
    prefixes = {"openai": "", "anthropic": "", "google": "gemini/"}
    for (provider, model_id), row in stored.items():
        entry = exact[prefixes[provider] + model_id]
        read = litellm_record(model_id, entry).fields
        for name in ("input_price", "output_price", "cache_read_price"):
            if row[name] is None:
                assert read.get(name) is None  # unknown stays unknown: never written as 0
            else:
                assert Decimal(read[name]) == Decimal(row[name]), (model_id, name)
        assert entry.get("max_input_tokens") == row["context_window"]
        assert entry.get("max_output_tokens") == row["max_output_tokens"]
        if row["shutdown_date"] is not None:
            assert entry["deprecation_date"] == row["shutdown_date"].isoformat()


def test_mongo_export_is_a_json_array_mongoimport_loads(synced):
    records = {(r["provider"], r["id"]): r for r in json.loads(_export(synced, "json"))}
    documents = json.loads(_export(synced, "mongo"))
    assert isinstance(documents, list) and len(documents) == len(records)
    assert len({document["_id"] for document in documents}) == len(documents)

    def check_keys(value, top=True):
        if isinstance(value, dict):
            wrapper = set(value) <= {"$date", "$numberDecimal"} and len(value) == 1
            for key, item in value.items():
                assert "." not in key and (wrapper or not key.startswith("$")) and "\x00" not in key
                check_keys(item, False)
        elif isinstance(value, list):
            for item in value:
                check_keys(item, False)

    for document in documents:
        check_keys(document)
        record = records[(document["provider"], document["id"])]
        assert document["_id"] == f"{record['provider']}/{record['id']}"
        assert datetime.fromisoformat(document["createdAt"]["$date"]) == datetime.fromisoformat(record["createdAt"])
        if record["inputCostPer1M"] is None:
            assert document["inputCostPer1M"] is None
        else:
            assert document["inputCostPer1M"] == {"$numberDecimal": record["inputCostPer1M"]}
        assert document["displayName"] == record["displayName"] and document["tags"] == record["tags"]


def _five_thousand(engine, settings):
    from modelsync.records import SourceRecord
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.sources.live import ListingResult

    records = {
        f"vendor-{i % 13}/model-{i:05d}": SourceRecord(
            f"vendor-{i % 13}/model-{i:05d}",
            {"kind": "chat", "input_price": Decimal(f"{i % 50}.125"), "output_price": Decimal("0.000001"),
             "context_window": 8192},
        )
        for i in range(5200)
    }  # fmt: skip

    def listing(_settings, names, _progress):
        return {name: ListingResult(name, records=records) for name in names}

    run_sync(engine, settings, SyncOptions(providers=["together"], trigger="cli"), fetch=listing)
    return records


class _Sink(io.StringIO):
    """A stream that keeps only a byte count, and notes how many records had been read at its first write."""

    def __init__(self, pulled: list[int]) -> None:
        super().__init__()
        self.pulled = pulled
        self.size = 0
        self.first_write_after: int | None = None

    def write(self, text: str) -> int:
        if self.first_write_after is None and self.pulled[0] and len(text) > 10:
            self.first_write_after = self.pulled[0]
        self.size += len(text)
        return len(text)


@pytest.mark.parametrize("fmt", ["json", "csv", "litellm", "mongo"])
def test_a_five_thousand_model_export_streams(engine, settings, fmt):
    records = _five_thousand(engine, settings)
    pulled = [0]

    def counted():
        for view in iter_models(engine, "together"):
            pulled[0] += 1
            yield view

    sink = _Sink(pulled)
    writer = {"json": exports.write_json, "csv": exports.write_csv, "mongo": exports.write_mongo}.get(fmt)
    tracemalloc.start()
    try:
        if writer is None:
            count = exports.write_litellm(sink, counted(), lambda _: ("together_ai", "together_ai/"))
        else:
            count = writer(sink, counted())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == len(records) == pulled[0]
    # Written as read: the first record was out after one had been read, not after all 5,200.
    assert sink.first_write_after == 1
    # Memory holds a chunk of rows, never the catalog: a third of what holding every record at once takes.
    tracemalloc.start()
    try:
        everything = list(iter_models(engine, "together"))
        _, whole = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(everything) == count
    assert peak < whole / 3, (peak, whole)


def test_export_of_5000_models_through_the_cli_is_exact(cli, engine, settings, clean_env):
    _five_thousand(engine, settings)
    target = clean_env / "big.csv"
    result = cli("export", "--format", "csv", "--output", str(target), "--provider", "together")
    assert result.code == 0
    assert "exported 5,000 of 5,200 models" in result.err and "exported 5,200 models (csv)" in result.err
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 5200
    assert {row["outputCostPer1M"] for row in rows} == {"0.000001"}  # text, never 1e-06
    assert {row["id"]: row for row in rows}["vendor-1/model-00001"]["inputCostPer1M"] == "1.125"
    big = json.loads(_export(cli, "litellm", "--provider", "together"), parse_float=Decimal)
    assert big["together_ai/vendor-1/model-00001"]["input_cost_per_token"] == Decimal("0.000001125")
    assert big["together_ai/vendor-1/model-00001"]["output_cost_per_token"] == Decimal("1E-12")


BAD_ENTRIES = [
    ('[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_prise = "2"\n', "entry #1 (openai/gpt-4o)"),
    ('[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "-2"\n', "entry #1 (openai/gpt-4o)"),
    ('[[model]]\nprovider = "nope"\nid = "x"\n', "unknown provider 'nope'"),
    ('[[model]]\nprovider = "openai"\nid = "a"\n[[model]]\nprovider = "openai"\nid = "a"\n', "entry #2"),
    ("[[model]\n", "modelsync"),
]


@pytest.mark.parametrize(("text", "named"), BAD_ENTRIES)
def test_a_bad_overrides_file_is_refused_and_nothing_is_written(cli, clean_env, text, named):
    existing = clean_env / "modelsync.overrides.toml"
    existing.write_text('[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "3"\n')
    bad = clean_env / "new.toml"
    bad.write_text(text)
    result = cli("import-overrides", str(bad), "--yes")
    assert result.code == 4
    assert "error" in result.err and (named in result.err or named == "modelsync")
    assert 'input_price = "3"' in existing.read_text()


def test_import_previews_field_changes_and_writes_only_when_confirmed(synced, clean_env, monkeypatch):
    new = clean_env / "team.toml"
    new.write_text(
        '[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "2.00"\noutput_price = "10"\n'
        'replacement_model = "gpt-4.1"\n\n'
        '[[model]]\nprovider = "openai"\nid = "acme-ft"\ncustom = true\ncontext_window = 1000\n'
    )
    target = clean_env / "config" / "overrides.toml"
    target.parent.mkdir()
    monkeypatch.setenv("MODELSYNC_OVERRIDES_FILE", str(target))
    target.write_text("")

    refused = synced("import-overrides", str(new))  # no terminal to confirm on: nothing written
    assert refused.code == 4 and "--yes" in refused.err
    assert target.read_text() == ""
    assert "openai/gpt-4o  input $/1M: 2.5 -> 2\n" in refused.out
    assert "openai/gpt-4o  replacement: - -> gpt-4.1" in refused.out
    assert "output $/1M" not in refused.out  # 10 is what is stored: not a change
    assert "openai/acme-ft (not stored)  context window: - -> 1000" in refused.out
    assert "3 field changes" in refused.out

    applied = synced("import-overrides", str(new), "--yes")
    assert applied.code == 0 and f"wrote {target}" in applied.out
    assert target.read_text() == new.read_text()
    assert synced("sync", "-p", "openai").code == 0
    model = json.loads(synced("models", "show", "openai/gpt-4o", "--json").out)
    assert model["inputCostPer1M"] == "2" and model["replacementModel"] == "gpt-4.1"
    assert json.loads(synced("models", "show", "openai/acme-ft", "--json").out)["contextWindow"] == 1000
