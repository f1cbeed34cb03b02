"""Time of `modelsync db backup` (JSON dump, and SQLite's online copy) against a plain `SELECT *` of the same rows.

Builds a catalog of N models as bench/api_read.py does (bundled catalogs plus a synthetic listing, through the real
sync engine, so `ai_model` and `model_change` hold N rows each), then times, in one run on one database:
- baseline: every table read with the driver's plain `SELECT *` (raw cursor, `fetchmany`, values thrown away): the
  floor of reading what the dump reads;
- json: services.backup.dump_json to a file (typed reads in keyset chunks, encoding, orjson, fsync, rename);
- sqlite: services.backup.backup_sqlite (SQLite only), SQLite's online backup API and a quick_check.
Prints seconds and the ratio of each to the baseline. With --postgres URL the same runs on a new PostgreSQL database.

Usage: .venv/bin/python bench/backup.py [--models 20000] [--postgres postgresql+psycopg://postgres@127.0.0.1/x]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from api_read import build_catalog
from baseline import fresh_database


def plain_read(engine) -> tuple[float, int]:
    """Seconds and rows of reading every table with a bare `SELECT *`."""
    from modelsync.db.tables import metadata

    rows = 0
    start = time.perf_counter()
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        for table in metadata.sorted_tables:
            cursor.execute(f'SELECT * FROM "{table.name}"')
            while batch := cursor.fetchmany(1000):
                rows += len(batch)
        cursor.close()
    return time.perf_counter() - start, rows


def best_of(runs: int, measure) -> float:
    """The fastest of `runs` timings (the least disturbed by the machine's other work)."""
    return min(measure() for _ in range(runs))


def timed(action) -> float:
    """Seconds one call of `action` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def measure(backend: str, engine, folder: Path, runs: int, dump_json, backup_sqlite) -> str:
    """One line of the table: the baseline, the JSON dump and (on SQLite) the online copy, with their ratios."""
    target = folder / "dump.jsonl"
    base_s = best_of(runs, lambda: plain_read(engine)[0])
    rows = plain_read(engine)[1]
    json_s = best_of(runs, lambda: timed(lambda: dump_json(engine, target)))
    size = target.stat().st_size
    if backend == "sqlite":
        sqlite_s = best_of(runs, lambda: timed(lambda: backup_sqlite(engine, folder / "copy.db")))
        sqlite_cells = f"{sqlite_s:>9.2f} {sqlite_s / base_s:>9.1f}"
    else:
        sqlite_cells = f"{'-':>9} {'-':>9}"
    return (
        f"{backend:<9} {rows:>8} {base_s:>11.3f} {json_s:>8.2f} {json_s / base_s:>7.1f} {sqlite_cells} "
        f"{size / 1e6:>8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=20000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="also measure on a new database on this server")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from modelsync.db.engine import open_database
    from modelsync.services.backup import backup_sqlite, dump_json

    backends = ["sqlite", "postgres"] if args.postgres else ["sqlite"]
    print(f"{'backend':<9} {'rows':>8} {'SELECT * s':>11} {'json s':>8} {'json/x':>7} {'sqlite s':>9} {'sqlite/x':>9} "
          f"{'json MB':>8}")  # fmt: skip
    for backend in backends:
        with tempfile.TemporaryDirectory() as folder, fresh_database(backend, args.postgres, Path(folder)) as url:
            build_catalog(url, args.models)
            engine = open_database(url)
            print(measure(backend, engine, Path(folder), args.runs, dump_json, backup_sqlite))
            engine.dispose()


if __name__ == "__main__":
    main()
