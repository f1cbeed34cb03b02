"""How verified the fixture catalog is (issue 10, item 2): per provider, the price and limit fields of active chat
models by verdict, the conflicts, and what OpenRouter's listing (as a candidate for the provider's own models)
adds; then what the web UI's conflict count costs against one model-table page.

    python bench/verification.py            # sync the 12 fixture listings with the fixture feeds, then count
    python bench/verification.py --rounds 5

The sync is bench/truth.py's (`--fixtures --feeds`: the fake provider and a local feed server, never the
internet). "without openrouter" recomputes the verdicts from the same stored candidates less OpenRouter's at the
other providers: the same sync, as it was before OpenRouter's listing counted for them. (The limits a fallback
layer supplies count in both columns.)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from truth import sync_fixtures

FIELDS = ("input_price", "output_price", "context_window")


def _bucket(verdict: str) -> str:
    if verdict in ("conflict", "single source", "no independent source"):
        return verdict
    sources, agree = (int(part.split()[0]) for part in verdict.split(", "))
    return "≥2 agree" if agree >= 2 and agree == sources else "≥2, some differ (decided)"


def count(rows: list[dict[str, Any]], tolerance: Any, without: str | None = None) -> Counter[str]:
    """Verdict buckets over the active chat models' input, output and context fields."""
    from modelsync.fieldspec import json_name
    from modelsync.sync.verify import verdicts

    found: Counter[str] = Counter()
    for row in rows:
        candidates = row["candidates"] or {}
        if without and row["provider"] != without:  # a provider's own listing stays its own source
            candidates = {
                name: {s: v for s, v in values.items() if s != without} for name, values in candidates.items()
            }
        judged = verdicts(candidates, row, row["manual"] or {}, tolerance)
        for name in FIELDS:
            verdict = judged.get(json_name(name))
            if verdict is not None:
                found[_bucket(verdict)] += 1
    return found


def main() -> None:
    """Sync the fixtures, print the verdicts with and without OpenRouter, and time the conflict count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import sqlalchemy as sa

    from modelsync.db.engine import open_database
    from modelsync.db.tables import ai_model
    from modelsync.services import query
    from modelsync.services.conflicts import count_conflicts, list_conflicts
    from modelsync.services.query import ModelFilters

    tolerance = Decimal("0.01")
    with tempfile.TemporaryDirectory() as workdir:
        database = Path(workdir) / "verify.db"
        sync_fixtures(database, feeds=True)
        engine = open_database(f"sqlite:///{database}")
        with engine.connect() as conn:
            chat = sa.select(ai_model).where(ai_model.c.status == "active", ai_model.c.kind == "chat")
            rows = [dict(row) for row in conn.execute(chat).mappings()]
        withs, withouts = count(rows, tolerance), count(rows, tolerance, "openrouter")
        print(f"active chat models: {len(rows)}; fields judged: input, output, context window")
        print(f"{'verdict':<28}{'with openrouter':>16}{'without':>10}")
        for bucket in sorted(set(withs) | set(withouts)):
            print(f"{bucket:<28}{withs[bucket]:>16}{withouts[bucket]:>10}")
        found = list_conflicts(engine, tolerance)
        named = [c for c in found if any(item["source"] == "openrouter" for item in c["candidates"])]
        providers = Counter(c["provider"] for c in named if c["provider"] != "openrouter")
        print(f"conflicts (all models): {len(found)}; naming openrouter at another provider: {sum(providers.values())}"
              f" ({', '.join(f'{p} {n}' for p, n in providers.most_common())})")  # fmt: skip

        def best(call: Any) -> float:
            times = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                call()
                times.append(time.perf_counter() - started)
            return min(times)

        counted = best(lambda: count_conflicts(engine, tolerance))
        page = best(lambda: query.list_page(engine, ModelFilters(), "provider", 50, None))
        print(f"conflict count (nav, once per catalog change): {counted * 1000:.1f} ms; one 50-model table page: "
              f"{page * 1000:.1f} ms; ratio {counted / page:.1f}x")  # fmt: skip
        engine.dispose()


if __name__ == "__main__":
    main()
