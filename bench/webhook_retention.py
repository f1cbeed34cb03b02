"""Benchmark: the webhook event retention (bounded batches, guarded by the subscriptions) against one bare DELETE.

On a fresh SQLite database (and PostgreSQL with --pg-url or MODELSYNC_TEST_POSTGRES_URL) holding N old events
(default 200,000) and one active subscription whose cursor is past them, times `prune_events` (batches of 2,000,
each its own transaction that locks the subscriptions first) against the baseline `DELETE FROM webhook_event WHERE
created_at < cutoff` in one statement; then the no-op case (all N events young: nothing to prune) the same two
ways. Best of --repeat; prints the ratios.

    python bench/webhook_retention.py [--n 200000] [--repeat 3] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from baseline import fresh_database

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _fill(engine: object, n: int, age: timedelta) -> None:
    """N events of the given age and one active subscription past them."""
    import sqlalchemy as sa

    from modelsync.db.tables import webhook_event, webhook_subscription

    at = NOW - age
    with engine.begin() as conn:  # type: ignore[attr-defined]
        for start in range(0, n, 10_000):
            conn.execute(
                sa.insert(webhook_event),
                [{"kind": "created", "provider": "bench", "model_id": f"m{i}", "payload": {}, "created_at": at}
                 for i in range(start, min(n, start + 10_000))],
            )  # fmt: skip
        newest = conn.execute(sa.select(sa.func.max(webhook_event.c.id))).scalar_one()
        conn.execute(
            sa.insert(webhook_subscription).values(
                url="http://127.0.0.1:9/hook", secret_encrypted="x", secret_fingerprint="x", events=[], providers=[],
                models=[], active=True, last_event_id=newest, created_at=NOW,
            )
        )  # fmt: skip


def _time(url: str, n: int, age: timedelta, variant: str) -> float:
    """Seconds one prune of the filled database at `url` takes, the modelsync way or the baseline way."""
    import sqlalchemy as sa

    from modelsync.db.engine import open_database
    from modelsync.db.tables import webhook_event
    from modelsync.services.event_retention import prune_events

    engine = open_database(url)
    _fill(engine, n, age)
    started = time.perf_counter()
    if variant == "modelsync":
        prune_events(engine, 90, now=NOW)
    else:
        with engine.begin() as conn:
            conn.execute(sa.delete(webhook_event).where(webhook_event.c.created_at < NOW - timedelta(days=90)))
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(webhook_event)).scalar_one()
    assert left == (0 if age.days > 90 else n), (variant, left)
    engine.dispose()
    return elapsed


def main() -> None:
    """Time both variants for a full prune and a no-op one, and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("MODELSYNC_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    backends = ["sqlite", "postgres"] if args.pg_url else ["sqlite"]
    print(f"{'backend':<9} {'N':>7} {'case':<6} {'prune s':>9} {'DELETE s':>9} {'ratio':>6}")
    for backend in backends:
        for case, age in (("full", timedelta(days=100)), ("no-op", timedelta(days=1))):
            best = {"modelsync": float("inf"), "baseline": float("inf")}
            for _ in range(args.repeat):
                for variant in best:
                    with (
                        tempfile.TemporaryDirectory() as workdir,
                        fresh_database(backend, args.pg_url, Path(workdir)) as url,
                    ):
                        best[variant] = min(best[variant], _time(url, args.n, age, variant))
            ours, base = best["modelsync"], best["baseline"]
            print(f"{backend:<9} {args.n:>7} {case:<6} {ours:>9.4f} {base:>9.4f} {ours / base:>6.2f}")


if __name__ == "__main__":
    main()
