"""What keeping every source's prices and limits costs the merge: candidates on vs off, over the bundled catalogs.

Assembles every provider the bundled catalogs cover (no network, no database) and merges all their models, with
the candidates kept (as a sync does) and with `verify.layer_candidates` replaced by one that keeps nothing, best of
N rounds each; prints both times and their ratio, and how many models and conflicts the candidates give.

Usage: .venv/bin/python bench/candidates.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from modelsync.settings import load_settings
from modelsync.sources.overrides import NO_OVERRIDES
from modelsync.sync import merge, verify
from modelsync.sync.assemble import assemble


def _nothing(*_args: Any) -> dict[str, Any]:
    return {}


def main() -> None:
    """Time the merge with and without candidates."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    settings = load_settings()
    now = datetime.now(UTC)
    sources = [assemble(spec, NO_OVERRIDES, None, now) for spec in settings.registry.values()]
    sources = [found for found in sources if found.model_ids]

    def run() -> tuple[float, list[Any]]:
        start = time.perf_counter()
        records = [r for s in sources for r in merge.merge_records(s.spec.name, s.model_ids, s.layers)]
        return time.perf_counter() - start, records

    on = min(run()[0] for _ in range(rounds))
    _, records = run()
    original = verify.layer_candidates
    verify.layer_candidates = _nothing  # type: ignore[assignment]
    try:
        off = min(run()[0] for _ in range(rounds))
    finally:
        verify.layer_candidates = original
    conflicts = sum(len(verify.conflicting_fields(r.candidates, {}, Decimal("0.01"))) for r in records)
    print(f"models merged: {len(records)}; conflicting fields: {conflicts}")
    print(f"merge with candidates {on * 1000:.1f} ms, without {off * 1000:.1f} ms, ratio {on / off:.2f}")


if __name__ == "__main__":
    main()
