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
- The quarantine (sync/quarantine.py) judges every created and changed model after the policy: a held field keeps
  its stored value (tier and tags follow it) and the rest of the model's changes apply; its entry is written with
  the changes (never in a dry run, which only counts it). A provider skipped for unchanged inputs keeps its entries
  as they are: the same inputs would hold the same changes, and an approval writes history, which ends the skip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from modelsync.changes import Change, SnapshotRow
from modelsync.db import quarantine as held_db
from modelsync.db import repo
from modelsync.db.dialect import read_transaction, write_transaction
from modelsync.errors import UsageError
from modelsync.records import MANUAL_FIELDS, PRICE_FIELDS, SOURCE_FIELDS, ModelRecord, SourceRecord, money
from modelsync.settings import Settings
from modelsync.sources.live import ListingResult
from modelsync.sources.overrides import OVERRIDES, Overrides
from modelsync.sync import quarantine, verify
from modelsync.sync.assemble import CATALOG, LIVE, ProviderSources, assemble
from modelsync.sync.crosslisting import OPENROUTER, Listed, listed_candidates
from modelsync.sync.diff import (
    Classified,
    classify,
    describe_created,
    describe_update,
    describe_vanished,
    settle_lifecycle,
    vanished,
)
from modelsync.sync.gates import check_listing
from modelsync.sync.identity import identities, ordered
from modelsync.sync.inherit import Lender
from modelsync.sync.merge import LAST_KNOWN, Layer, first_facts, last_known_layer, layer_schedule, merge_records
from modelsync.sync.policy import MANUAL, apply_policy, newest_of_families, reprice_policy
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


def openrouter_listing(sources: ProviderSources) -> dict[str, Listed]:
    """OpenRouter's listing in this run as evidence: per model its extras and its own candidate values."""
    layer = next(layer for layer in sources.layers if layer.source == OPENROUTER)
    return {
        model_id: (record.extra, verify.layer_candidates(OPENROUTER, layer_schedule(record.fields, OPENROUTER),
                                                         record.fields))
        for model_id, record in layer.records.items()
    }  # fmt: skip


def _with_evidence(digest: str | None, evidence: Layer | None) -> str | None:
    """The input digest with the evidence folded in: new evidence alone must recompute the provider's candidates."""
    if digest is None or evidence is None:
        return digest
    text = repr(sorted((model_id, sorted(record.fields.items())) for model_id, record in evidence.records.items()))
    return hashlib.blake2b(f"{digest}\x1f{text}".encode(), digest_size=20).hexdigest()


class _Planner:
    """Plans one provider at a time inside the run's transaction, writing each provider's changes at once."""

    def __init__(
        self,
        conn: Connection,
        settings: Settings,
        options: SyncOptions,
        run_id: int | None,
        now: datetime,
        openrouter: ProviderSources | None = None,
    ):
        self.conn = conn
        self.settings = settings
        self.options = options
        self.run_id = run_id
        self.now = now
        self.states = repo.load_provider_states(conn)
        self.limits = quarantine.Limits(settings.quarantine_factor, settings.quarantine_max_price)
        self.pending: quarantine.Entries = {}
        self.rejected: quarantine.Entries = {}
        self.opened: list[dict[str, Any]] = []
        self.closed: list[tuple[int, str]] = []
        # OpenRouter's listing (this run's, else its stored rows' own values), read once when a provider needs it.
        self.openrouter = openrouter
        self.listed: Mapping[str, Listed] | None = None

    def _evidence(self, sources: ProviderSources) -> Layer | None:
        """OpenRouter's listing of this provider's own models, as candidates only (never a merged value)."""
        spec = sources.spec
        if not spec.openrouter_author or spec.name == OPENROUTER:
            return None
        if self.listed is None:
            self.listed = self._openrouter_listing()
        found = listed_candidates(spec.openrouter_author, sources.model_ids, self.listed)
        if not found:
            return None
        records = {model_id: SourceRecord(model_id, fields) for model_id, fields in found.items()}
        return Layer(OPENROUTER, records, evidence=True)

    def _unchanged_inputs(self, sources: ProviderSources, state: Mapping[str, Any]) -> bool:
        return (
            not self.options.recompute
            and sources.input_digest is not None
            and state["input_digest"] == sources.input_digest
            and state["change_mark"] == repo.change_mark(self.conn, sources.spec.name)
        )

    def _openrouter_listing(self) -> Mapping[str, Listed]:
        """This run's live OpenRouter listing unless its gate refuses it, else what its stored rows say it listed."""
        sources = self.openrouter
        if sources is not None and sources.listing == LIVE:
            state = self.states.get(OPENROUTER)
            last = state["model_count"] if state is not None and state["listing"] == LIVE else None
            if check_listing(sources.spec.label, len(sources.model_ids), last, self.options.force) is None:
                return openrouter_listing(sources)
        return repo.load_source_candidates(self.conn, OPENROUTER, OPENROUTER)

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
        evidence = self._evidence(sources)
        sources.input_digest = _with_evidence(sources.input_digest, evidence)
        if state is not None and same_kind and self._unchanged_inputs(sources, state):
            # Same inputs as the last good sync and no write to these models since: the result would be identical.
            outcome.unchanged = len(sources.model_ids)
            outcome.inputs_unchanged = True
            if self.settings.quarantine:
                pending, _ = quarantine.open_entries(held_db.load_open(conn, spec.name))
                outcome.quarantined = sum(len(fields) for fields in pending.values())
            self._save_state(sources)
            return outcome
        snapshot, manual = repo.load_snapshot(conn, spec.name)
        if self.settings.quarantine:
            self.pending, self.rejected = quarantine.open_entries(held_db.load_open(conn, spec.name))
        layers = [_manual_layer(manual), *sources.layers, *([evidence] if evidence is not None else [])]
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
            if self.settings.quarantine:
                self._judge(outcome, chunk, classified, old, latest)
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
            # A model no source lists any more proposes nothing: its held changes are withdrawn with it.
            self.closed.extend(
                (entry.id, quarantine.WITHDRAWN)
                for model_id, _ in gone
                for entry in self.pending.get(model_id, {}).values()
            )
            self._write(outcome, changes, [])
        self._save_state(sources)
        return outcome

    def _judge(
        self,
        outcome: ProviderOutcome,
        chunk: Sequence[str],
        classified: Classified,
        old: Mapping[int, Mapping[str, Any]],
        latest: set[str],
    ) -> None:
        """Hold the suspicious changes of a chunk's created and changed models; settle their entries."""
        judged: list[tuple[ModelRecord, SnapshotRow | None, Mapping[str, Any] | None]]
        judged = [(record, None, None) for record in classified.created]
        judged += [(record, stored, old[stored.pk]) for record, stored in classified.candidates]
        seen = set()
        for record, stored, row in judged:
            seen.add(record.model_id)
            pending = self.pending.get(record.model_id, {})
            suspects = quarantine.judge(row, record.values, self.limits, pending)
            if not suspects and not pending:
                continue
            rejected = self.rejected.get(record.model_id, {})
            verdict = quarantine.settle(suspects, pending, rejected, record.candidates,
                                        self.settings.policy.price_tolerance)  # fmt: skip
            # The source of the merged schedule, before holding changes it: what an approval restores with it.
            prices_source = record.values["provenance"].get("prices")
            if verdict.held:
                values = record.values
                quarantine.hold(values, row, verdict.held)
                reprice_policy(record.model_id, values, self.settings.policy, record.model_id in latest)
                settle_lifecycle(record, stored, self.now)
            for suspect in verdict.waiting:
                outcome.hold(record.model_id, suspect.field, suspect.old, suspect.new, suspect.rule)
            for suspect, status in verdict.opened:
                self.opened.append({
                    "model_id": record.model_id, "field": suspect.field, "old": suspect.old, "new": suspect.new,
                    "evidence": suspect.evidence(record.candidates, self.limits, prices_source), "status": status,
                    "decided_by": None if status == quarantine.PENDING else quarantine.SYNC_ACTOR,
                })  # fmt: skip
            self.closed.extend(verdict.closed)
        # A model whose merged record equals the stored one proposes nothing: its pending entries are withdrawn.
        for model_id in chunk:
            if model_id not in seen and model_id in self.pending:
                self.closed.extend((entry.id, quarantine.WITHDRAWN) for entry in self.pending[model_id].values())

    def _write(
        self, outcome: ProviderOutcome, changes: list[Change], repairs: list[tuple[int, str, dict[str, Any] | None]]
    ) -> None:
        for change in changes:
            outcome.add(change)
        opened, closed = self.opened, self.closed
        self.opened, self.closed = [], []
        if not self.options.dry_run:
            actor = self.options.actor or self.options.trigger
            repo.write_models(self.conn, changes, run_id=self.run_id, actor=actor, now=self.now)
            repo.write_hash_repairs(self.conn, repairs)
            held_db.close_entries(self.conn, closed, quarantine.SYNC_ACTOR, self.now)
            held_db.insert_entries(self.conn, outcome.provider, opened, self.run_id, self.now)

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
        in_run = prepared.get(OPENROUTER)
        openrouter = in_run if isinstance(in_run, ProviderSources) else None
        planner = _Planner(conn, settings, options, run_id, now, openrouter)
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
