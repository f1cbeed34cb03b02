"""Plan and apply one sync: assemble -> gate -> merge -> policy -> diff -> apply, in one transaction.

Rules:
- The caller (services/sync.py) has already validated the request, taken the sync lock and fetched the listings;
  everything here runs inside one write transaction that holds the catalog write lock: model rows, history rows,
  provider state, the run record, the audit entry and the lease release commit together, and a crash rolls all
  of it back, leaving the previous state.
- Providers are planned and written one after another inside that transaction, each in chunks of PLAN_CHUNK
  models (merged, judged, compared and written, then dropped), so a sync holds its listings and one chunk, never
  every merged model at once; the report keeps counts and a sample.
- Only changed rows are written. A provider that failed or was refused contributes nothing.
- A dry run plans the same changes in a read-only transaction and writes nothing at all.
- `recompute` ignores the input digest that lets an unchanged provider skip merge, policy and diff.
- Models are merged parents first (`identity.ordered`), so a snapshot, alias or fine-tune inherits from a parent
  already merged in this or an earlier chunk (`inherit.Lender` keeps only the parents' values).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from modelsync.changes import Change
from modelsync.db import repo
from modelsync.db.dialect import read_transaction, write_transaction
from modelsync.errors import UsageError
from modelsync.records import MANUAL_FIELDS, PRICE_FIELDS, SOURCE_FIELDS, SourceRecord, money
from modelsync.settings import Settings
from modelsync.sources.live import ListingResult
from modelsync.sources.overrides import OVERRIDES, Overrides
from modelsync.sync.assemble import CATALOG, LIVE, ProviderSources, assemble
from modelsync.sync.diff import classify, describe_created, describe_update, describe_vanished, vanished
from modelsync.sync.gates import check_listing
from modelsync.sync.identity import identities, ordered
from modelsync.sync.inherit import Lender
from modelsync.sync.merge import LAST_KNOWN, Layer, first_facts, last_known_layer, merge_records
from modelsync.sync.policy import MANUAL, apply_policy, newest_of_families
from modelsync.sync.report import ProviderOutcome, SyncReport

Progress = Callable[[str | None, str], None]
# Models merged, judged and compared at a time: what a provider holds in memory beyond its listing.
PLAN_CHUNK = 5000
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class SyncOptions:
    """What to sync and on whose behalf."""

    providers: Sequence[str] = ()
    dry_run: bool = False
    force: bool = False
    recompute: bool = False
    trigger: str = "cli"
    actor: str | None = None
    source_ip: str | None = None
    user_id: int | None = None


def enabled_providers(settings: Settings) -> list[str]:
    """Providers `all` means: the defaults, those named in config, and those whose key is set, in registry order."""
    chosen = set(settings.default_providers) | set(settings.providers)
    chosen |= {name for name in settings.registry if settings.api_key(name) is not None}
    return [name for name in settings.registry if name in chosen]


def resolve_providers(settings: Settings, requested: Sequence[str]) -> list[str]:
    """Turn --provider values into provider names; `all` or nothing means every enabled provider."""
    names = [name.strip().lower() for name in requested if name.strip()]
    unknown = sorted({name for name in names if name != "all" and name not in settings.registry})
    if unknown:
        raise UsageError(
            f"unknown provider {', '.join(repr(n) for n in unknown)}. "
            f"Valid providers: {', '.join(settings.registry)}, or all."
        )
    if not names or "all" in names:
        return enabled_providers(settings)
    return list(dict.fromkeys(names))


def _manual_layer(manual: Mapping[str, Mapping[str, Any]]) -> Layer:
    records = {}
    for model_id, decisions in manual.items():
        fields = {name: value for name, value in decisions.items() if name in SOURCE_FIELDS}
        for name in PRICE_FIELDS:
            if name in fields:
                fields[name] = money(fields[name])
        if fields:
            records[model_id] = SourceRecord(model_id=model_id, fields=fields)
    return Layer(MANUAL, records)


def _skipped(name: str, settings: Settings) -> ProviderOutcome:
    spec = settings.registry[name]
    hint = f"set {spec.key_env[0]} to sync its live listing" if spec.key_env else "check that its server is running"
    return ProviderOutcome(name, spec.label, status="skipped", message=f"no catalog covers {spec.label}; {hint}")


def prepare(
    settings: Settings, name: str, overrides: Overrides, listing: ListingResult | None, now: datetime
) -> ProviderSources | ProviderOutcome:
    """Assemble one provider's sources, or its outcome when its fetch failed or nothing covers it. No database."""
    spec = settings.registry[name]
    if listing is not None and listing.error:
        return ProviderOutcome(name, spec.label, status="failed", message=listing.error)
    sources = assemble(
        spec,
        overrides,
        listing.records if listing else None,
        now,
        settings.policy,
        listing.digest if listing else None,
    )
    if not sources.model_ids and sources.listing == CATALOG and not spec.models_dev:
        return _skipped(name, settings)
    if sources.listing == CATALOG and spec.key_env and listing is not None and listing.skipped:
        sources.notes.append(listing.skipped)
    if listing is not None:
        sources.warnings, sources.warning_count = listing.warnings, listing.warning_count
        sources.unknown = listing.unknown
    return sources


def gather(
    settings: Settings, names: list[str], overrides: Overrides, listings: Mapping[str, ListingResult], now: datetime
) -> dict[str, ProviderSources | ProviderOutcome]:
    """Prepare every provider from its listing (see `prepare`)."""
    return {name: prepare(settings, name, overrides, listings.get(name), now) for name in names}


class _Planner:
    """Plans one provider at a time inside the run's transaction, writing each provider's changes at once."""

    def __init__(self, conn: Connection, settings: Settings, options: SyncOptions, run_id: int | None, now: datetime):
        self.conn = conn
        self.settings = settings
        self.options = options
        self.run_id = run_id
        self.now = now
        self.states = repo.load_provider_states(conn)

    def _unchanged_inputs(self, sources: ProviderSources, state: Mapping[str, Any]) -> bool:
        return (
            not self.options.recompute
            and sources.input_digest is not None
            and state["input_digest"] == sources.input_digest
            and state["change_mark"] == repo.change_mark(self.conn, sources.spec.name)
        )

    def provider(self, sources: ProviderSources) -> ProviderOutcome:
        """Plan (and unless dry, write) one provider's changes; return its outcome."""
        spec = sources.spec
        conn = self.conn
        state = self.states.get(spec.name)
        outcome = ProviderOutcome(spec.name, spec.label, listing=sources.listing, listed=len(sources.model_ids))
        outcome.notes.extend(sources.notes)
        outcome.warnings, outcome.warning_count = list(sources.warnings), sources.warning_count
        same_kind = state is not None and state["listing"] == sources.listing
        last_count = state["model_count"] if state is not None and same_kind else None
        refusal = check_listing(spec.label, len(sources.model_ids), last_count, self.options.force)
        if refusal is not None:
            outcome.status, outcome.message = "refused", refusal.reason
            return outcome
        if state is not None and same_kind and self._unchanged_inputs(sources, state):
            # Same inputs as the last good sync and no write to these models since: the result would be identical.
            outcome.unchanged = len(sources.model_ids)
            outcome.inputs_unchanged = True
            self._save_state(sources)
            return outcome
        snapshot, manual = repo.load_snapshot(conn, spec.name)
        layers = [_manual_layer(manual), *sources.layers]
        if sources.unknown:
            # Right below the listing: what it said last time, for the fields it now sends unreadable.
            known = {model_id: snapshot[model_id].pk for model_id in sources.unknown if model_id in snapshot}
            rows = repo.load_rows(conn, list(known.values()))
            last_known = last_known_layer(sources.unknown, {model_id: rows[pk] for model_id, pk in known.items()})
            below = next(i for i, layer in enumerate(layers) if layer.source == spec.name) + 1
            layers.insert(below, last_known)
        latest = newest_of_families(first_facts(sources.model_ids, layers))
        # What a source says about the alias itself, so the alias keeps its own price (see inherit.py).
        own_sources = frozenset({MANUAL, OVERRIDES, spec.name, LAST_KNOWN})
        found = sources.identities
        # Parents the listing no longer has but the database holds still lend what they are known to be.
        stored_parents = sorted(model_id for model_id in sources.wanted_parents if model_id in snapshot)
        if stored_parents:
            found = identities(sources.model_ids, sources.extras, spec.name, stored_parents)
        lender = Lender(found, own_sources, sources.fallback, spec.unpriced_reason)
        if stored_parents:
            rows = repo.load_rows(conn, [snapshot[model_id].pk for model_id in stored_parents])
            for model_id in stored_parents:
                lender.lend_stored(model_id, rows[snapshot[model_id].pk])
        model_ids = ordered(sources.model_ids, found)
        for start in range(0, len(model_ids), PLAN_CHUNK):
            chunk = model_ids[start : start + PLAN_CHUNK]
            records = merge_records(spec.name, chunk, layers)
            lender.apply(records)
            apply_policy(records, self.settings.policy, manual, latest)
            classified = classify(records, snapshot, self.now, authoritative=False)
            del records
            old = repo.load_rows(conn, [stored.pk for _, stored in classified.candidates], lock=True)
            changes: list[Change] = [describe_created(record) for record in classified.created]
            repairs: list[tuple[int, str, dict[str, Any] | None]] = []
            outcome.unchanged += classified.unchanged
            for record, stored in classified.candidates:
                change = describe_update(record, stored, old[stored.pk])
                if change is None:
                    repairs.append((stored.pk, record.fingerprint, record.candidates))
                    outcome.unchanged += 1
                else:
                    changes.append(change)
            del classified, old
            self._write(outcome, changes, repairs)
        # A catalog listing only says a model is gone when catalogs were also what listed it last time; after a
        # live listing, a catalog-only run (key removed) must not deprecate what the account could call.
        if sources.listing == LIVE or state is None or state["listing"] == CATALOG:
            gone = vanished(snapshot, set(sources.model_ids))
            old = repo.load_rows(conn, [stored.pk for _, stored in gone], lock=True)
            changes = [describe_vanished(spec.name, model_id, s, old[s.pk], self.now) for model_id, s in gone]
            self._write(outcome, changes, [])
        self._save_state(sources)
        return outcome

    def _write(
        self, outcome: ProviderOutcome, changes: list[Change], repairs: list[tuple[int, str, dict[str, Any] | None]]
    ) -> None:
        for change in changes:
            outcome.add(change)
        if not self.options.dry_run:
            actor = self.options.actor or self.options.trigger
            repo.write_models(self.conn, changes, run_id=self.run_id, actor=actor, now=self.now)
            repo.write_hash_repairs(self.conn, repairs)

    def _save_state(self, sources: ProviderSources) -> None:
        if self.options.dry_run:
            return
        repo.save_provider_state(
            self.conn,
            sources.spec.name,
            sources.listing,
            len(sources.model_ids),
            self.run_id,
            self.now,
            sources.input_digest,
        )


def plan_and_apply(
    engine: Engine,
    settings: Settings,
    options: SyncOptions,
    names: list[str],
    prepared: Mapping[str, ProviderSources | ProviderOutcome],
    run_id: int | None,
    progress: Progress,
    clock: Clock,
    now: datetime,
    catalogs: Mapping[str, Mapping[str, Any]] | None = None,
    before_commit: Callable[[Connection, SyncReport], None] | None = None,
) -> SyncReport:
    """Plan every provider and (unless a dry run) apply the changes, record the run and audit it, atomically.

    `before_commit` runs last inside the run's transaction (the change events are stored with it).
    """
    report = SyncReport(run_id=run_id, dry_run=options.dry_run, started_at=now, catalogs=dict(catalogs or {}))
    transaction = read_transaction(engine) if options.dry_run else write_transaction(engine, settings.write_wait)
    with transaction as conn:
        planner = _Planner(conn, settings, options, run_id, now)
        for name in names:
            sources = prepared[name]
            if isinstance(sources, ProviderOutcome):
                report.outcomes.append(sources)
                continue
            progress(name, "comparing with the database" if options.dry_run else "writing changes")
            report.outcomes.append(planner.provider(sources))
        report.finished_at = clock()
        if options.dry_run:
            return report
        assert run_id is not None
        repo.finish_run(conn, run_id, report.status, report.to_storage(), report.finished_at)
        repo.append_audit(
            conn,
            action="sync",
            outcome=report.status,
            now=report.finished_at,
            actor=options.actor,
            user_id=options.user_id,
            source_ip=options.source_ip,
            target=",".join(names),
            details={"runId": run_id, "trigger": options.trigger, "providers": names, "totals": report.totals()},
        )
        repo.release_lease(conn, run_id)
        if before_commit is not None:
            before_commit(conn, report)
    return report


def pinned_fields() -> tuple[str, ...]:
    """Fields an admin decision can pin (the CLI and API validate against this)."""
    return MANUAL_FIELDS
