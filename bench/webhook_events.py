"""Benchmark: what storing a sync's change events costs, against the same sync with no event collector.

For a synthetic catalog of N models (default 20,000) on a fresh SQLite database (and PostgreSQL with --pg-url or
MODELSYNC_TEST_POSTGRES_URL), the same process times a first sync (N `created` events) and a no-op re-sync
(nothing recomputed: no event), once with every registered collector and once with none (the baseline: the sync
as it was before webhooks), alternating, best of --repeat, and prints the ratios.

    python bench/webhook_events.py [--n 20000] [--repeat 3] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from baseline import fresh_database, synthetic_listing
from sync_write import _normalize


def _run(url: str, pages: list[bytes]) -> tuple[float, float]:
    """(first sync, no-op re-sync) seconds on the fresh database at `url`."""
    from modelsync.db.engine import open_database
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings
    from modelsync.sources.live import ListingResult, listing_digest

    row = {"name": "bench", "label": "Bench", "adapter": "openai_compat", "base_url": "http://127.0.0.1:9",
           "needs_key": False}  # fmt: skip
    settings = load_settings(database_url=url, default_providers=["bench"], registry={"bench": row}, offline=True)
    engine = open_database(url)

    def fetch(_settings: object, _names: object, _progress: object) -> dict:
        records = _normalize(pages)
        return {"bench": ListingResult("bench", records=records, digest=listing_digest(records))}

    times = []
    for _ in range(2):
        started = time.perf_counter()
        run_sync(engine, settings, SyncOptions(providers=["bench"], trigger="bench"), fetch=fetch)
        times.append(time.perf_counter() - started)
    engine.dispose()
    return times[0], times[1]


def main() -> None:
    """Time both variants and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("MODELSYNC_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    from modelsync.services import events

    collectors = dict(events.COLLECTORS)
    pages = synthetic_listing(args.n)
    backends = ["sqlite", "postgres"] if args.pg_url else ["sqlite"]
    print(
        f"{'backend':<9} {'N':>7} {'first s':>9} {'base s':>8} {'ratio':>6} {'no-op s':>8} {'base s':>8} {'ratio':>6}"
    )
    for backend in backends:
        best: dict[str, tuple[float, float]] = {}
        for _ in range(args.repeat):
            for variant in ("events", "baseline"):
                events.COLLECTORS.clear()
                if variant == "events":
                    events.COLLECTORS.update(collectors)
                with (
                    tempfile.TemporaryDirectory() as workdir,
                    fresh_database(backend, args.pg_url, Path(workdir)) as url,
                ):
                    first, noop = _run(url, pages)
                old = best.get(variant, (float("inf"), float("inf")))
                best[variant] = (min(old[0], first), min(old[1], noop))
        (first, noop), (base_first, base_noop) = best["events"], best["baseline"]
        print(f"{backend:<9} {args.n:>7} {first:>9.3f} {base_first:>8.3f} {first / base_first:>6.2f} "
              f"{noop:>8.3f} {base_noop:>8.3f} {noop / base_noop:>6.2f}")  # fmt: skip
    events.COLLECTORS.update(collectors)


if __name__ == "__main__":
    main()
