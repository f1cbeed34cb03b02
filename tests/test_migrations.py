"""Alembic migrations: they build exactly the schema in tables.py, on SQLite and PostgreSQL, and run on first use."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from modelsync.db.engine import SCHEMA_HEAD, alembic_config, create_db_engine, current_revision, open_database
from modelsync.db.tables import metadata


def test_schema_head_constant_matches_the_newest_migration():
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_migrated_schema_matches_the_table_definitions(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []
    assert current_revision(engine) == SCHEMA_HEAD


def test_first_use_creates_the_schema_and_second_use_is_a_no_op(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engine = open_database(url)
    assert current_revision(engine) == SCHEMA_HEAD
    assert "ai_model" in sa.inspect(engine).get_table_names()
    engine.dispose()
    again = open_database(url)  # must not fail or re-apply anything
    assert current_revision(again) == SCHEMA_HEAD
    again.dispose()


def test_downgrade_and_upgrade_round_trip(db_url):
    from alembic import command

    engine = create_db_engine(db_url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "ai_model" not in sa.inspect(engine).get_table_names()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    assert current_revision(engine) == SCHEMA_HEAD
    engine.dispose()
