"""What the quarantine costs a sync: the judge against the diff it runs next to, and a whole sync with it on vs off.

1. Pure: N stored models and their merged records with every price changed (one in ten by x10, the rest by x1.1),
   as a sync that updates every model sees them; times `quarantine.judge` (+ `settle` and `hold` for the held
   ones) against `changes.field_changes`, the field-by-field diff every changed model goes through anyway. Best of
   the rounds; prints both and the ratio.
2. Whole sync: `bench/sync_write.py`'s modelsync child (a first sync of N synthetic models on a fresh SQLite file,
   where every model is created and judged, then the no-op and recompute re-syncs) with MODELSYNC_QUARANTINE true
   and false, alternating, best of the rounds; prints each one's seconds and the on/off ratios.

Usage: .venv/bin/python bench/quarantine.py [--n 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from modelsync.changes import field_changes
from modelsync.records import money_text
from modelsync.sync import quarantine

BENCH = Path(__file__).parent


def _schedule(input_price: Decimal, output_price: Decimal) -> list[dict[str, Any]]:
    return [
        {"unit": "input_tokens", "usd": money_text(input_price), "source": "bench"},
        {"unit": "output_tokens", "usd": money_text(output_price), "source": "bench"},
    ]


def _pairs(n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    pairs = []
    for index in range(n):
        base = Decimal(index % 50 + 1) / 10
        factor = Decimal(10) if index % 10 == 0 else Decimal("1.1")
        old = _schedule(base, base * 4)
        new = _schedule(base * factor, base * 4 * factor)
        provenance = {"prices": "bench", "input_price": "bench", "output_price": "bench", "context_window": "bench"}
        stored = {"prices": old, "input_price": base, "output_price": base * 4, "context_window": 128000,
                  "provenance": dict(provenance)}  # fmt: skip
        merged = {"prices": new, "input_price": base * factor, "output_price": base * 4 * factor,
                  "context_window": 128000, "provenance": dict(provenance)}  # fmt: skip
        pairs.append((stored, merged))
    return pairs


def pure(n: int, rounds: int) -> None:
    """Time the judge against the diff over n changed models."""
    limits, tolerance = quarantine.Limits(), Decimal("0.01")
    pairs = _pairs(n)

    def judged() -> tuple[float, int]:
        held = 0
        started = time.perf_counter()
        for stored, merged in pairs:
            values = {**merged, "provenance": dict(merged["provenance"])}
            suspects = quarantine.judge(stored, values, limits)
            if suspects:
                verdict = quarantine.settle(suspects, {}, {}, None, tolerance)
                quarantine.hold(values, stored, verdict.held)
                held += len(verdict.held)
        return time.perf_counter() - started, held

    def diffed() -> float:
        started = time.perf_counter()
        for stored, merged in pairs:
            field_changes(stored, merged)
        return time.perf_counter() - started

    judge_s = min(judged()[0] for _ in range(rounds))
    diff_s = min(diffed() for _ in range(rounds))
    print(f"pure, {n} changed models ({judged()[1]} prices held):")
    print(f"  judge+settle+hold {judge_s * 1000:.0f} ms, field diff {diff_s * 1000:.0f} ms, "
          f"ratio {judge_s / diff_s:.2f}")  # fmt: skip


def whole(n: int, rounds: int) -> None:
    """A first sync (and the two re-syncs) of n synthetic models with the quarantine on and off, on SQLite."""
    results: dict[str, dict[str, float]] = {"true": {}, "false": {}}
    # Alternating on and off, best of the rounds: the machine is shared, a single run of each is noise.
    for flag in ("true", "false") * rounds:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/bench.db"
            env = {**os.environ, "MODELSYNC_QUARANTINE": flag}
            output = subprocess.run(
                [sys.executable, str(BENCH / "sync_write.py"), "--child", "modelsync", "--url", url, "--n", str(n)],
                check=True, capture_output=True, text=True, env=env,
            )  # fmt: skip
            timed = json.loads(output.stdout.strip().splitlines()[-1])
            for label in ("full", "noop", "recompute"):
                results[flag][label] = min(results[flag].get(label, float("inf")), timed[label])
    print(f"whole sync, {n} synthetic models, SQLite (seconds; quarantine on / off = ratio):")
    for label in ("full", "noop", "recompute"):
        on, off = results["true"][label], results["false"][label]
        print(f"  {label:<9} {on:7.3f} / {off:7.3f} = {on / off:.2f}")


def main() -> None:
    """Run both measurements."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pure(args.n, args.rounds)
    whole(args.n, args.rounds)


if __name__ == "__main__":
    main()
