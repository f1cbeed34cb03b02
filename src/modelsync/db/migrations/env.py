"""Alembic environment: runs on the connection modelsync hands over (see `modelsync.db.migrate`)."""

from __future__ import annotations

from alembic import context

from modelsync.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs the alembic CLI by hand
    raise RuntimeError("run migrations with `modelsync db upgrade`, which passes the database connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
