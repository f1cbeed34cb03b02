"""Benchmark: live listings over HTTP, against the fake provider server with 50 ms latency per request.

Prints, from one run:
1. Concurrency: all twelve providers (their fixture listings) against the slowest single provider alone, for
   the fetch stage (HTTP + normalize) and for a whole sync on a fresh database. Ratio near 1 = they overlap.
2. Scale: a Replicate-scale listing (50,000 models, full cursor-paged listing) synced from scratch and then
   re-synced with nothing changed, as ratios to the minimal pipeline over the same pages: a bare `httpx` loop
   following the same `next` links + json.loads + map to rows + one raw upsert (`executemany` on SQLite,
   COPY + INSERT .. ON CONFLICT on PostgreSQL; see baseline.py). The no-op re-sync is compared with a second
   run of the minimal pipeline (which upserts every row again).
3. Peak memory (max RSS) of each measuring process.

Every measurement runs in a child process on a fresh database; the fake server runs in this process. The
concurrency figures are the best of --repeat runs each (one run is noisy at these sub-second durations).

    python bench/sync_live.py [--models 50000] [--page-size 100] [--latency 0.05] [--backends sqlite,postgres]
                              [--sections concurrency,scale]

PostgreSQL is measured when --pg-url or MODELSYNC_TEST_POSTGRES_URL is given. Replicate's real page size is not
documented (the fixtures assume 25); the page size is a parameter because it only scales both sides equally.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from baseline import drop_baseline_table, fresh_database, raw_upsert_postgres, raw_upsert_sqlite  # noqa: E402

PROVIDERS = (
    "openai",
    "anthropic",
    "google",
    "replicate",
    "openrouter",
    "mistral",
    "xai",
    "groq",
    "deepseek",
    "together",
    "ollama",
    "vllm",
)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- children ---------------------------------------------------------------------------------------------------------


def child_sync(url: str, providers: list[str], expect: int | None) -> dict[str, Any]:
    """A full sync then a no-op re-sync of the providers, through modelsync's own fetch (real HTTP)."""
    from modelsync.db.engine import open_database
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings

    engine = open_database(url)
    settings = load_settings(database_url=url, offline=True)  # the catalog feeds are not what is measured
    options = SyncOptions(providers=providers, trigger="bench")
    started = time.perf_counter()
    first = run_sync(engine, settings, options)
    full = time.perf_counter() - started
    started = time.perf_counter()
    second = run_sync(engine, settings, options)
    noop = time.perf_counter() - started
    engine.dispose()
    failed = [o.message for o in (*first.outcomes, *second.outcomes) if o.status != "ok"]
    assert not failed, failed
    assert expect is None or first.total("created") == expect, first.to_dict()
    assert second.total("created") == second.total("updated") == second.total("deprecated") == 0
    return {"full": full, "noop": noop, "created": first.total("created"), "peak_mb": _peak_mb()}


def child_fetch(providers: list[str], repeat: int) -> dict[str, Any]:
    """The fetch stage alone (HTTP layer and adapters, no database): the best of `repeat` runs after a warm-up."""
    from modelsync.settings import load_settings
    from modelsync.sources.live import fetch_listings

    settings = load_settings()
    fetch_listings(settings, ["vllm"], lambda *_: None)  # warm the imports and the TLS context
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        results = fetch_listings(settings, providers, lambda *_: None)
        timings.append(time.perf_counter() - started)
        failed = [result.error for result in results.values() if result.error]
        assert not failed, failed
    return {"fetch": min(timings), "models": sum(len(result.records or {}) for result in results.values())}


def _bare_fetch(base_url: str, token: str) -> list[bytes]:
    """The minimal fetch: one client, follow `next` until it ends, keep the raw bodies."""
    import httpx

    pages = []
    url: str | None = f"{base_url}/v1/models"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while url:
            response = client.get(url)
            response.raise_for_status()
            pages.append(response.content)
            url = json.loads(response.content)["next"]
    return pages


def _rows(pages: list[bytes]) -> list[tuple[Any, ...]]:
    rows = []
    for page in pages:
        for item in json.loads(page)["results"]:
            model_id = f"{item['owner']}/{item['name']}"
            rows.append(("replicate", model_id, item["name"], None, None, None, None, "{}", "[]"))
    return rows


def child_baseline(url: str) -> dict[str, Any]:
    """The minimal pipeline (fetch + json.loads + map + raw upsert), twice."""
    base_url, token = os.environ["REPLICATE_BASE_URL"], os.environ["REPLICATE_API_TOKEN"]
    drop_baseline_table(url)
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        rows = _rows(_bare_fetch(base_url, token))
        if url.startswith("sqlite"):
            raw_upsert_sqlite(url.split("///", 1)[1], rows)
        else:
            raw_upsert_postgres(url.replace("postgresql+psycopg://", "postgresql://", 1), rows)
        timings.append(time.perf_counter() - started)
    return {"full": timings[0], "again": timings[1], "rows": len(rows), "peak_mb": _peak_mb()}


# --- parent -----------------------------------------------------------------------------------------------------------


def _child(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False, cwd=env["BENCH_CWD"]
    )
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure(env: dict[str, str], backend: str, pg_url: str | None, workdir: Path, *args: str) -> dict[str, Any]:
    with fresh_database(backend, pg_url, workdir) as url:
        return _child(env, *args, "--url", url)


def _best_sync(env: dict[str, str], backend: str, args: argparse.Namespace, workdir: Path, names: str) -> dict:
    runs = [
        _measure(env, backend, args.pg_url, workdir, "--child", "sync", "--providers", names)
        for _ in range(args.repeat)
    ]
    return min(runs, key=lambda run: run["full"])


def concurrency(env: dict[str, str], backends: list[str], args: argparse.Namespace, workdir: Path) -> None:
    """Section 1: all providers together vs the slowest alone, for the fetch stage and for a whole sync."""
    print("\n1. Concurrency (fixture listings, 12 providers)")
    repeat = ("--repeat", str(args.repeat))
    fetches = {name: _child(env, "--child", "fetch", "--providers", name, *repeat)["fetch"] for name in PROVIDERS}
    all_fetch = _child(env, "--child", "fetch", "--providers", ",".join(PROVIDERS), *repeat)["fetch"]
    slow = max(fetches, key=fetches.__getitem__)
    print(
        f"   fetch stage: all providers {all_fetch:.3f} s / slowest alone ({slow}, {fetches[slow]:.3f} s) = "
        f"{all_fetch / fetches[slow]:.2f}   [sum of singles {sum(fetches.values()):.3f} s]"
    )
    for backend in backends:
        singles = {name: _best_sync(env, backend, args, workdir, name) for name in PROVIDERS}
        together = _best_sync(env, backend, args, workdir, ",".join(PROVIDERS))
        slowest = max(singles, key=lambda name: singles[name]["full"])
        print(
            f"   whole sync, {backend}: all providers {together['full']:.3f} s ({together['created']} models) / "
            f"slowest alone ({slowest}, {singles[slowest]['full']:.3f} s) = "
            f"{together['full'] / singles[slowest]['full']:.2f}   [sum of singles "
            f"{sum(single['full'] for single in singles.values()):.3f} s]"
        )


def scale(env: dict[str, str], backends: list[str], args: argparse.Namespace, workdir: Path) -> None:
    """Section 2: a Replicate-scale full listing, full sync and no-op re-sync vs the minimal pipeline."""
    pages = -(-args.models // args.page_size)
    print(f"\n2. Replicate-scale listing: {args.models} models, {pages} pages of {args.page_size}")
    for backend in backends:
        base = _measure(env, backend, args.pg_url, workdir, "--child", "baseline")
        ours = _measure(
            env,
            backend,
            args.pg_url,
            workdir,
            "--child",
            "sync",
            "--providers",
            "replicate",
            "--expect",
            str(args.models),
        )
        print(
            f"   {backend}: minimal pipeline {base['full']:.2f} s (again {base['again']:.2f} s); "
            f"modelsync full sync {ours['full']:.2f} s = {ours['full'] / base['full']:.2f}x, "
            f"no-op re-sync {ours['noop']:.2f} s = {ours['noop'] / base['again']:.2f}x the minimal pipeline's re-run\n"
            f"   {backend}: peak memory modelsync {ours['peak_mb']:.0f} MB, minimal pipeline {base['peak_mb']:.0f} MB"
        )


def main() -> None:
    """Run every measurement and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=os.environ.get("MODELSYNC_TEST_POSTGRES_URL"))
    parser.add_argument("--repeat", type=int, default=3, help="runs per concurrency measurement; the best counts")
    parser.add_argument("--sections", default="concurrency,scale", help="which sections to run")
    parser.add_argument("--child", choices=["sync", "baseline", "fetch"])
    parser.add_argument("--url")
    parser.add_argument("--providers", default="")
    parser.add_argument("--expect", type=int)
    args = parser.parse_args()
    if args.child == "sync":
        print(json.dumps(child_sync(args.url, args.providers.split(","), args.expect)))
        return
    if args.child == "fetch":
        print(json.dumps(child_fetch(args.providers.split(","), args.repeat)))
        return
    if args.child == "baseline":
        print(json.dumps(child_baseline(args.url)))
        return

    from fake_provider import FakeProviders

    backends = [b for b in args.backends.split(",") if b != "postgres" or args.pg_url]
    fake = FakeProviders().start()
    fake.latency = args.latency
    try:
        with tempfile.TemporaryDirectory() as workdir:
            env = {
                **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN", "_BASE_URL"))},
                **fake.env(),
                "MODELSYNC_REPLICATE_FULL_LISTING": "true",
                "MODELSYNC_PROVIDERS": "openrouter,ollama,vllm",
                "BENCH_CWD": workdir,
            }
            env.pop("MODELSYNC_CONFIG", None)
            print(f"fake provider server: {args.latency * 1000:.0f} ms per request; backends: {', '.join(backends)}")
            sections = args.sections.split(",")
            if "concurrency" in sections:
                concurrency(env, backends, args, Path(workdir))
            if "scale" in sections:
                fake.synthesize_replicate(args.models)
                fake.replicate_page_size = args.page_size
                scale(env, backends, args, Path(workdir))
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
