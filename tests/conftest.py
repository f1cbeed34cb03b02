"""Shared fixtures: a fresh database per test on SQLite and (when configured) PostgreSQL, and a clean environment.

Every test that takes `engine` (or `db_url`) runs once per backend: SQLite always, PostgreSQL when
MODELSYNC_TEST_POSTGRES_URL is set (CI sets it). On PostgreSQL the session creates its own database next to the
configured one, migrates it once, and empties every table before each test.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from sqlalchemy.engine import Engine

from modelsync.db.engine import create_db_engine, upgrade_schema
from modelsync.settings import Settings, load_settings
from pgdb import PG_URL, emptied, own_database

# The fake provider server (tests/fake_provider.py) and its `fake` / `live_env` fixtures.
pytest_plugins = ("fake_provider", "apiserver")

BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]

# Environment variables that would leak the developer's own configuration into a test (and every MODELSYNC_*
# setting but the test suite's own MODELSYNC_TEST_*).
_ISOLATED_VARS = ("DATABASE_URL", "MONGODB_URI")


def _isolated(name: str) -> bool:
    if name.startswith("MODELSYNC_"):
        return not name.startswith("MODELSYNC_TEST_")
    return name in _ISOLATED_VARS or name.endswith(("_API_KEY", "_API_TOKEN", "_BASE_URL"))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run every test in its own directory, offline, with no provider keys or modelsync settings from the outside."""
    for name in list(os.environ):
        if _isolated(name):
            monkeypatch.delenv(name, raising=False)
    # The suite never touches the internet: catalog feeds are off unless a test points them at a local server.
    monkeypatch.setenv("MODELSYNC_OFFLINE", "true")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once is much faster than per test)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test session's own on the configured PostgreSQL server, migrated once."""
    if not PG_URL:
        pytest.fail("MODELSYNC_TEST_POSTGRES_URL is not set")  # only reached through the postgres param
    with own_database("modelsync_test") as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a freshly migrated, empty database on the backend of this parametrization."""
    if request.param == "sqlite":
        target = tmp_path / "modelsync.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    return emptied(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the fresh database."""
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings pointing at the fresh database, with the bundled defaults."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    return load_settings()


class CliResult(NamedTuple):
    """Exit code and output of one `modelsync` invocation."""

    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """Run `modelsync ARGS` in-process through main(), the way the console script does, on DATABASE_URL's database."""
    from modelsync.cli import app as cli_app
    from modelsync.cli import common

    def run(*args: str, stdin: str = "") -> CliResult:
        common.settings.cache_clear()
        common.database.cache_clear()
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        monkeypatch.setattr(sys, "argv", ["modelsync", *args])
        try:
            cli_app.main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            common.database.cache_clear()
            common.release_logs()  # one process per command in real use: nothing it configured outlives it
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli(settings: Settings, run_cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """`run_cli` on the test database."""
    return run_cli
