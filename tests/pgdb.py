"""A migrated PostgreSQL database of the test session's own, next to the configured one, dropped at the end."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from modelsync.db.engine import create_db_engine, upgrade_schema
from modelsync.db.tables import metadata

PG_URL = os.environ.get("MODELSYNC_TEST_POSTGRES_URL", "").strip()


@contextmanager
def own_database(prefix: str) -> Iterator[str]:
    """Create and migrate a uniquely named database on the configured server; yield its URL; drop it after."""
    base = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    # A unique name per call: pytest-xdist workers and concurrent CI runs share the server.
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        engine = create_db_engine(url)
        upgrade_schema(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def emptied(url: str) -> str:
    """Empty every table of the database at `url` (ids restart); return the URL."""
    engine = create_db_engine(url)
    with engine.begin() as conn:
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url
