"""The minimal pipeline the sync benchmarks compare against, and the synthetic catalog they both consume.

Minimal pipeline = json.loads + map each item to a row tuple + one raw upsert: `executemany` of one
INSERT .. ON CONFLICT DO UPDATE on SQLite; COPY into a staging table + one INSERT .. ON CONFLICT on
PostgreSQL. It writes every row every time, has no history, no provenance, no diff: the floor of what
storing N catalog records can cost on this machine.
"""

from __future__ import annotations

import gc
import json
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

COLUMNS = (
    "provider",
    "model_id",
    "display_name",
    "context_window",
    "max_output_tokens",
    "input_price",
    "output_price",
    "capabilities",
    "modalities_in",
)
_DDL = (
    "CREATE TABLE IF NOT EXISTS bench_raw (provider TEXT NOT NULL, model_id TEXT NOT NULL, display_name TEXT, "
    "context_window BIGINT, max_output_tokens BIGINT, input_price TEXT, output_price TEXT, capabilities TEXT, "
    "modalities_in TEXT, PRIMARY KEY (provider, model_id))"
)


def synthetic_listing(n: int, seed: int = 7, page_size: int = 1000) -> list[bytes]:
    """Return an OpenAI-style listing of n models split into JSON pages, as a provider would send them."""
    rng = random.Random(seed)
    items = []
    for index in range(n):
        items.append(
            {
                "id": f"vendor-{index % 97}/model-{index:06d}",
                "object": "model",
                "display_name": f"Model {index}",
                "context_length": rng.choice([8192, 32768, 128000, 200000, 1000000]),
                "max_output_tokens": rng.choice([4096, 8192, 16384, 65536]),
                "pricing": {
                    "input": str(Decimal(rng.randint(1, 3000)) / 100),
                    "output": str(Decimal(rng.randint(1, 9000)) / 100),
                },
                "capabilities": {"vision": rng.random() < 0.4, "tools": rng.random() < 0.7},
                "input_modalities": ["text", "image"] if rng.random() < 0.4 else ["text"],
            }
        )
    return [
        json.dumps({"object": "list", "data": items[start : start + page_size]}).encode()
        for start in range(0, n, page_size)
    ]


def rows_from_pages(pages: Sequence[bytes], provider: str = "bench") -> list[tuple[Any, ...]]:
    """json.loads + map to rows: the minimal normalization."""
    rows = []
    for page in pages:
        for item in json.loads(page)["data"]:
            rows.append(
                (
                    provider,
                    item["id"],
                    item.get("display_name"),
                    item.get("context_length"),
                    item.get("max_output_tokens"),
                    item["pricing"]["input"],
                    item["pricing"]["output"],
                    json.dumps(item.get("capabilities")),
                    json.dumps(item.get("input_modalities")),
                )
            )
    return rows


def _upsert_sql(placeholder: str) -> str:
    updates = ", ".join(f"{name} = excluded.{name}" for name in COLUMNS[2:])
    values = ", ".join([placeholder] * len(COLUMNS))
    return (
        f"INSERT INTO bench_raw ({', '.join(COLUMNS)}) VALUES ({values}) "
        f"ON CONFLICT (provider, model_id) DO UPDATE SET {updates}"
    )


def raw_upsert_sqlite(path: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """One executemany upsert in one transaction."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_DDL)
        with conn:
            conn.executemany(_upsert_sql("?"), rows)
    finally:
        conn.close()


def raw_upsert_postgres(dsn: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY into a staging table, then one INSERT .. ON CONFLICT DO UPDATE, in one transaction."""
    import psycopg

    updates = ", ".join(f"{name} = excluded.{name}" for name in COLUMNS[2:])
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(_DDL)
        cur.execute("CREATE TEMP TABLE bench_stage (LIKE bench_raw) ON COMMIT DROP")
        with cur.copy(f"COPY bench_stage ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            f"INSERT INTO bench_raw SELECT * FROM bench_stage ON CONFLICT (provider, model_id) DO UPDATE SET {updates}"
        )


def minimal_pipeline(db_url: str, pages: Sequence[bytes]) -> float:
    """Run json.loads + map + raw upsert over the pages; return the seconds it took."""
    # The cyclic GC is paused here as modelsync pauses it for a sync that runs alone in its process (the CLI, and
    # this benchmark's child; services/sync.py), so both sides run under the same collector.
    gc.disable()
    try:
        started = time.perf_counter()
        rows = rows_from_pages(pages)
        if db_url.startswith("sqlite"):
            raw_upsert_sqlite(db_url.split("///", 1)[1], rows)
        else:
            raw_upsert_postgres(db_url.replace("postgresql+psycopg://", "postgresql://", 1), rows)
        return time.perf_counter() - started
    finally:
        gc.enable()


def drop_baseline_table(db_url: str) -> None:
    """Remove the baseline's table so the next measurement starts from an empty table."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.split("///", 1)[1])
        with conn:
            conn.execute("DROP TABLE IF EXISTS bench_raw")
        conn.close()
    else:
        import psycopg

        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_raw")


@contextmanager
def fresh_database(backend: str, pg_url: str | None, workdir: Path) -> Iterator[str]:
    """Yield the URL of a new empty database (a SQLite file, or a PostgreSQL database dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'{uuid.uuid4().hex}.db'}"
        return
    import sqlalchemy as sa

    base = sa.engine.make_url(str(pg_url).replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"modelsync_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
