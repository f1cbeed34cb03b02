"""What every CLI command shares: settings, the database, the consoles, safe text and JSON output.

Rules:
- Heavy modules (SQLAlchemy, pydantic, the catalogs) are imported inside the commands that need them, so that
  `modelsync --help` and argument errors answer at once.
- Every value that comes from data or configuration (ids, names, notes, messages, actors) is printed through
  `printable`: control characters become visible escapes (`\x1b`, `\n`) and rich markup is escaped, so an id
  cannot colour the terminal, move the cursor or start a line of its own (and so forge a summary line).
  JSON output is printed as exact JSON, which escapes control characters itself.
"""

from __future__ import annotations

import logging
import re
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from modelsync.settings import Settings

# Results go to stdout; progress, warnings and errors to stderr, so `--json` output stays parseable.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


# C0 and C1 controls and DEL, the Unicode line and paragraph separators, the bidirectional formatting characters
# (which can make a terminal show text in another order than it is), and the backslash itself, so that an escape
# printed for a control character can never be confused with the same characters typed in an id.
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(rf"[\\{_CONTROLS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escaped(value: object) -> str:
    """Text of `value` with control characters (and the backslash) escaped, without rich markup escaping."""
    return _UNSAFE.sub(_escape_char, str(value))


def printable(value: object) -> str:
    """Text of `value` safe for a terminal line or table cell: control characters escaped, rich markup escaped."""
    return escape(_UNSAFE.sub(_escape_char, str(value)))


_UNSAFE_IN_MESSAGES = re.compile(rf"[{_CONTROLS}]")


def printable_message(text: str) -> str:
    """A message of modelsync's own (an error, a warning, a note) safe for the terminal.

    The values such messages quote were escaped where the message was made (`\x00` for a NUL in an id), so
    backslashes are left as they are here instead of being doubled; a control character still never gets through.
    """
    return escape(_UNSAFE_IN_MESSAGES.sub(_escape_char, text))


class _WarningsToStderr(logging.Handler):
    """Prints what loading the settings warns about (an unknown MODELSYNC_* variable) as a warning line."""

    def emit(self, record: logging.LogRecord) -> None:
        """Print one warning."""
        err.print(f"[yellow]warning:[/yellow] {printable_message(record.getMessage())}")


class _JsonLogLines(logging.Handler):
    """modelsync's own log records as JSON lines on the current stderr (MODELSYNC_LOG_FORMAT=json)."""

    previous_level = logging.NOTSET

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record."""
        try:
            # The stderr of this moment, not of the handler's creation (a test runner swaps it between commands).
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


_LOGGER = "modelsync"


def release_logs() -> None:
    """Undo `_route_logs`: the JSON handler goes and modelsync's logger gets back its level (for in-process callers)."""
    logger = logging.getLogger(_LOGGER)
    for old in [handler for handler in logger.handlers if isinstance(handler, _JsonLogLines)]:
        logger.removeHandler(old)
        logger.setLevel(old.previous_level)


def _route_logs(loaded: Settings) -> None:
    """With the JSON log format, a command's log records (what the server would log) leave as redacted JSON lines."""
    from modelsync.services.logs import JsonFormatter, secrets_of

    release_logs()
    if loaded.log_format != "json":
        return
    logger = logging.getLogger(_LOGGER)
    handler = _JsonLogLines(logging.INFO)
    handler.previous_level = logger.level
    handler.setFormatter(JsonFormatter(secrets_of(loaded)))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # a provider that failed is logged at INFO, as the server logs it


@cache
def settings() -> Settings:
    """Load settings once per process; their warnings go to stderr."""
    from modelsync.settings import load_settings
    from modelsync.settings import log as settings_log

    handler = _WarningsToStderr(logging.WARNING)
    settings_log.addHandler(handler)
    try:
        loaded = load_settings()
    finally:
        settings_log.removeHandler(handler)
    _route_logs(loaded)
    return loaded


@cache
def database() -> Engine:
    """Open the database (migrating it on first use) once per process, and apply the audit retention if set."""
    from modelsync.db.engine import open_database
    from modelsync.services.audit import Retention

    engine = open_database(settings().database_url)
    # Each command is a process of its own, so this runs at most once per command; it writes only when entries are
    # due (one indexed look-up otherwise), and a busy database just leaves it to the next command.
    Retention(engine, settings().audit_retention_days).run()
    return engine


def print_json(data: Any) -> None:
    """Print one JSON document on stdout (orjson: a 5,000-model listing renders in milliseconds)."""
    import orjson

    text = orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    if out.is_terminal:
        out.print_json(text, indent=2)
    else:
        sys.stdout.write(text + "\n")
