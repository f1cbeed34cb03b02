"""Reading the test database: every helper a test uses to look at stored rows, in one place.

Plain functions over an Engine, each opening its own connection, so a test can call them between requests, CLI
runs and syncs. Rows come back as dicts (column name -> value), ordered by primary key unless said otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from modelsync.db.tables import ai_model, audit_log, metadata, model_change, provider_state, sync_run


def _select(table: sa.Table, order_by: tuple[str, ...] | None, where: dict[str, Any]) -> sa.Select:
    query = sa.select(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    columns = [table.c[name] for name in order_by] if order_by else list(table.primary_key.columns)
    return query.order_by(*columns)


def rows(engine: Engine, table: sa.Table, *, order_by: tuple[str, ...] | None = None, **where: Any) -> list[dict]:
    """Rows of `table` whose columns equal `where`, ordered by `order_by` column names (default: primary key)."""
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(_select(table, order_by, where)).mappings()]


def one_row(engine: Engine, table: sa.Table, **where: Any) -> dict:
    """The only row of `table` whose columns equal `where` (an error when there are none or several)."""
    with engine.connect() as conn:
        return dict(conn.execute(_select(table, None, where)).mappings().one())


def count(engine: Engine, table: sa.Table, **where: Any) -> int:
    """How many rows of `table` have columns equal to `where`."""
    query = sa.select(sa.func.count()).select_from(table)
    for name, value in where.items():
        query = query.where(table.c[name] == value)
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def models(engine: Engine, **where: Any) -> list[dict]:
    """Stored model rows whose columns equal `where`, ordered by provider and model id."""
    return rows(engine, ai_model, order_by=("provider", "model_id"), **where)


def model_row(engine: Engine, provider: str, model_id: str) -> dict:
    """The stored row of one model."""
    return one_row(engine, ai_model, provider=provider, model_id=model_id)


def models_by_ref(engine: Engine, provider: str | None = None) -> dict[str, dict]:
    """Stored model rows (of one provider, or all) keyed by `provider/model_id`, in insertion order."""
    where = {"provider": provider} if provider else {}
    return {f"{row['provider']}/{row['model_id']}": row for row in rows(engine, ai_model, **where)}


def audit_entries(engine: Engine, action: str | None = None, **where: Any) -> list[dict]:
    """Audit log entries (of one action, or all) whose columns equal `where`, oldest first."""
    if action is not None:
        where["action"] = action
    return rows(engine, audit_log, **where)


def history_rows(engine: Engine, provider: str | None = None) -> list[dict]:
    """Recorded model changes (of one provider's models, or all), oldest first."""
    query = sa.select(model_change).order_by(model_change.c.id)
    if provider:
        query = query.where(
            model_change.c.model_pk.in_(sa.select(ai_model.c.id).where(ai_model.c.provider == provider))
        )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def run(engine: Engine, run_id: int) -> dict:
    """The recorded sync run with this id."""
    return one_row(engine, sync_run, id=run_id)


def provider_rows(engine: Engine, provider: str) -> dict[str, list[dict]]:
    """Every stored row about one provider: its models, their history and its listing state."""
    return {
        "models": rows(engine, ai_model, provider=provider),
        "history": history_rows(engine, provider),
        "state": rows(engine, provider_state, provider=provider),
    }


def database_dump(engine: Engine) -> dict[str, list]:
    """Everything stored, for byte-for-byte checks: each table's rows by primary key, plus SQLite's own SQL dump."""
    with engine.connect() as conn:
        dump: dict[str, list] = {
            table.name: [tuple(row) for row in conn.execute(_select(table, None, {}))]
            for table in metadata.sorted_tables
        }
        if engine.dialect.name == "sqlite":
            dump["sqlite_dump"] = list(conn.connection.driver_connection.iterdump())
    return dump


def database_text(engine: Engine) -> str:
    """Every value of every table as one string (to prove a secret is stored nowhere)."""
    with engine.connect() as conn:
        return "\n".join(repr(tuple(row)) for table in metadata.sorted_tables for row in conn.execute(sa.select(table)))


def database_bytes(engine: Engine) -> bytes:
    """What the database holds as bytes: a SQLite database's files (journal included), else `database_text`."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        return b"".join(part.read_bytes() for part in path.parent.glob(path.name + "*"))
    return database_text(engine).encode()
