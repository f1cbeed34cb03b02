"""Log lines of the server process: text or JSON lines (`MODELSYNC_LOG_FORMAT`), with every secret redacted.

Rules:
- JSON lines carry `time` (UTC, ISO 8601, milliseconds), `level`, `logger`, `message`, every `extra` field the
  caller attached, and `exception` (the formatted traceback) when there is one. uvicorn's access lines also get
  `client`, `method`, `path` and `status` as fields.
- Every text that leaves a formatter (message, extra values, traceback) passes one redactor: the configured
  provider keys (sources/http.py `Redactor`: any letter case, URL-encoded, 12+ character prefixes), the session
  secret, the metrics token and the database password, plus patterns that need no configuration: modelsync API
  tokens (`msk_...`), `Bearer <credential>`, and the password of any `scheme://user:password@host` URL.
- `log_config` is a `logging.config.dictConfig` dictionary, handed to uvicorn so that its own loggers and every
  worker process format the same way.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

from sqlalchemy.engine import make_url

from modelsync.settings import Settings
from modelsync.sources.http import Redactor, all_secrets

MASK: Final = Redactor.MASK
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}
_PATTERNS: Final = (
    (re.compile(r"msk_[A-Za-z0-9_\-]{8,}"), MASK),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), rf"\1{MASK}"),
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), rf"\1{MASK}@"),
)


class Scrubber:
    """Blanks the configured secrets and anything shaped like a credential out of a text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._known = Redactor(secrets)

    def __call__(self, text: str) -> str:
        """Return `text` with every secret replaced by the mask."""
        text = self._known(text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def secrets_of(settings: Settings) -> list[str]:
    """Every secret the settings hold: provider keys, session secret, metrics token, database password."""
    found = all_secrets(settings)
    for secret in (settings.session_secret, settings.metrics_token, settings.secret_key, settings.secret_key_previous):
        if secret is not None:
            found.append(secret.get_secret_value())
    try:
        password = make_url(settings.database_url).password
    except Exception:  # an unparseable URL is reported where the database is opened, not here
        password = None
    if password:
        found += [str(password), unquote(str(password))]
    return found


def _value(value: Any, scrub: Scrubber) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


def _fields(record: logging.LogRecord, scrub: Scrubber) -> dict[str, Any]:
    fields = {key: _value(value, scrub) for key, value in vars(record).items() if key not in _STANDARD}
    if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
        client, method, path, _version, status = record.args
        fields.update(client=str(client), method=str(method), path=scrub(str(path)), status=_value(status, scrub))
    return fields


def _traceback(record: logging.LogRecord) -> str | None:
    if record.exc_info and record.exc_info[0] is not None:
        return "".join(traceback.format_exception(*record.exc_info)).rstrip()
    return record.stack_info or None


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.scrub = Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.scrub(record.getMessage()),
        }
        for key, value in _fields(record, self.scrub).items():
            line.setdefault(key, value)
        trace = _traceback(record)
        if trace:
            line["exception"] = self.scrub(trace)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...`, secrets redacted."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.scrub = Scrubber(secrets)

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a text line (a traceback follows on its own lines)."""
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        extra = "".join(
            f" {key}={value}"
            for key, value in _fields(record, self.scrub).items()
            if record.name != "uvicorn.access" or key not in ("client", "method", "path", "status")
        )
        line = f"{at} {record.levelname} {record.name}: {self.scrub(record.getMessage())}{extra}"
        trace = _traceback(record)
        return f"{line}\n{self.scrub(trace)}" if trace else line


def log_config(settings: Settings, level: str = "info", log_format: str | None = None) -> dict[str, Any]:
    """A dictConfig for the server: modelsync's and uvicorn's loggers on stderr in the chosen format."""
    chosen = log_format or settings.log_format
    formatter = JsonFormatter if chosen == "json" else TextFormatter
    named = level.upper() if level.lower() != "trace" else "DEBUG"
    handler = {"class": "logging.StreamHandler", "formatter": "modelsync", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"modelsync": {"()": formatter, "secrets": secrets_of(settings)}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": named, "propagate": False},
            "uvicorn.error": {"level": named},
            "uvicorn.access": {"handlers": ["default"], "level": named, "propagate": False},
        },
        "root": {"handlers": ["default"], "level": named},
    }
