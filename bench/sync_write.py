"""Benchmark: modelsync's sync write path vs the minimal pipeline, on SQLite and PostgreSQL.

For each size N (default 1k, 10k, 100k synthetic catalog records) and each backend, two child processes run on
fresh databases: one times the minimal pipeline (json.loads + map to rows + one raw upsert, see baseline.py),
the other times a full `modelsync` sync of the same pages (normalize, merge, policy, diff, bulk write, history,
run record, audit), then a no-op re-sync (same listing: the input digest matches, nothing is recomputed), then a
re-sync that recomputes everything and compares it row by row (what the first sync of a new day does; still writes
no model row). The parent prints the ratios and each child's peak RSS.

    python bench/sync_write.py [--sizes 1000,10000,100000] [--backends sqlite,postgres] [--pg-url URL]

PostgreSQL is measured when --pg-url or MODELSYNC_TEST_POSTGRES_URL is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from baseline import drop_baseline_table, fresh_database, minimal_pipeline, synthetic_listing


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _normalize(pages: list[bytes]) -> dict:
    """Stand-in adapter: the synthetic listing -> SourceRecords (what an adapter's normalize does)."""
    from modelsync.records import SourceRecord, money

    records = {}
    for page in pages:
        for item in json.loads(page)["data"]:
            fields = {
                "display_name": item.get("display_name"),
                "context_window": item.get("context_length"),
                "max_output_tokens": item.get("max_output_tokens"),
                "input_price": money(item["pricing"]["input"]),
                "output_price": money(item["pricing"]["output"]),
                "capabilities": item.get("capabilities") or {},
                "modalities_in": sorted(item.get("input_modalities") or []),
            }
            records[item["id"]] = SourceRecord(item["id"], fields)
    return records


def child_modelsync(url: str, n: int) -> dict:
    """Full sync then no-op re-sync of n synthetic records; returns seconds and peak RSS."""
    from modelsync.db.engine import open_database
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings
    from modelsync.sources.live import ListingResult, listing_digest

    bench_row = {
        "name": "bench",
        "label": "Bench",
        "adapter": "openai_compat",
        "base_url": "http://127.0.0.1:9",
        "needs_key": False,
    }
    settings = load_settings(
        database_url=url, default_providers=["bench"], registry={"bench": bench_row}, offline=True
    )
    engine = open_database(url)
    pages = synthetic_listing(n)

    def fetch(digest: bool) -> object:
        def fetch_pages(_settings: object, _names: object, _progress: object) -> dict:
            # As the live fetch layer does: normalize, then digest the normalized listing.
            records = _normalize(pages)
            return {
                "bench": ListingResult("bench", records=records, digest=listing_digest(records) if digest else None)
            }

        return fetch_pages

    options = SyncOptions(providers=["bench"], trigger="bench")
    timings = {}
    report = None
    for label, with_digest in (("full", True), ("noop", True), ("recompute", False)):
        report = None  # the previous run's report is freed before the clock starts: only the sync is timed
        started = time.perf_counter()
        report = run_sync(engine, settings, options, fetch=fetch(with_digest))
        timings[label] = time.perf_counter() - started
        expected_created = n if label == "full" else 0
        assert report.total("created") == expected_created and report.total("updated") == 0, report.to_dict()
        assert report.outcomes[0].inputs_unchanged == (label == "noop"), label
    engine.dispose()
    return {**timings, "peak_mb": _peak_mb()}


def child_baseline(url: str, n: int) -> dict:
    """The minimal pipeline over the same pages, twice (the second run upserts rows that already exist)."""
    pages = synthetic_listing(n)
    drop_baseline_table(url)
    full = minimal_pipeline(url, pages)
    again = minimal_pipeline(url, pages)
    return {"full": full, "again": again, "peak_mb": _peak_mb()}


def _run_child(mode: str, url: str, n: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--url", url, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    """Parse arguments, run the children, print the table of ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=os.environ.get("MODELSYNC_TEST_POSTGRES_URL"))
    parser.add_argument("--child", choices=["modelsync", "baseline"])
    parser.add_argument("--url")
    parser.add_argument("--n", type=int)
    args = parser.parse_args()
    if args.child:
        result = child_modelsync(args.url, args.n) if args.child == "modelsync" else child_baseline(args.url, args.n)
        print(json.dumps(result))
        return
    backends = [b for b in args.backends.split(",") if b != "postgres" or args.pg_url]
    print(
        f"{'backend':<9}{'N':>8}  {'minimal s':>9}  {'sync s':>8}  {'no-op s':>8}  {'recomp s':>8}  "
        f"{'full/min':>8}  {'noop/min':>8}  {'recomp/min':>10}  {'peak MB sync/min':>16}"
    )
    with tempfile.TemporaryDirectory() as workdir:
        for backend in backends:
            for n in (int(size) for size in args.sizes.split(",")):
                with fresh_database(backend, args.pg_url, Path(workdir)) as url:
                    base = _run_child("baseline", url, n)
                with fresh_database(backend, args.pg_url, Path(workdir)) as url:
                    ours = _run_child("modelsync", url, n)
                print(
                    f"{backend:<9}{n:>8}  {base['full']:>9.3f}  {ours['full']:>8.3f}  {ours['noop']:>8.3f}  "
                    f"{ours['recompute']:>8.3f}  {ours['full'] / base['full']:>8.2f}  "
                    f"{ours['noop'] / base['full']:>8.2f}  {ours['recompute'] / base['full']:>10.2f}  "
                    f"{ours['peak_mb']:>7.0f} / {base['peak_mb']:<7.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
