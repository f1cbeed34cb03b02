"""What every CLI command shares: settings, the database, the consoles and JSON output.

Heavy modules (SQLAlchemy, pydantic, the catalogs) are imported inside the commands that need them, so that
`modelsync --help` and argument errors answer at once.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from modelsync.settings import Settings

# Results go to stdout; progress, warnings and errors to stderr, so `--json` output stays parseable.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@cache
def settings() -> Settings:
    """Load settings once per process."""
    from modelsync.settings import load_settings

    return load_settings()


@cache
def database() -> Engine:
    """Open the database (migrating it on first use) once per process."""
    from modelsync.db.engine import open_database

    return open_database(settings().database_url)


def print_json(data: Any) -> None:
    """Print one JSON document on stdout (orjson: a 5,000-model listing renders in milliseconds)."""
    import orjson

    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    if out.is_terminal:
        out.print_json(text, indent=2)
    else:
        sys.stdout.write(text + "\n")
