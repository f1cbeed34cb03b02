"""Log lines: JSON lines or text (MODELSYNC_LOG_FORMAT), with keys, tokens and passwords redacted, in the formatter
and in a real `modelsync serve` process (uvicorn's access lines included).
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from apiserver import serve_process
from modelsync.services.logs import JsonFormatter, TextFormatter, log_config, secrets_of
from modelsync.settings import load_settings

KEY = "sk-test-openai-9f3Kq2Zr7Lw1"
API_TOKEN = "msk_Zq3v9KpL2mN8xR4tY6wB1cD5eF7gH0jA"
PASSWORD = "pg-Pa55word-7731"
SESSION_SECRET = "session-secret-0123456789abcdefghijkl"


@pytest.fixture
def configured(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://modelsync:{PASSWORD}@db.internal:5432/modelsync")
    monkeypatch.setenv("MODELSYNC_SESSION_SECRET", SESSION_SECRET)
    return load_settings()


def emit(formatter: logging.Formatter, exc: BaseException | None = None) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("modelsync.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "provider answered 401 for key %s (shortened %s...)",
            KEY,
            KEY[:14],
            extra={"provider": "openai", "header": f"Authorization: Bearer {API_TOKEN}", "attempt": 2},
            exc_info=exc,
        )
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def assert_redacted(text: str) -> None:
    for secret in (KEY, KEY[:14], API_TOKEN, PASSWORD, SESSION_SECRET):
        assert secret not in text, secret
    assert "[redacted]" in text


def test_a_json_line_has_time_level_logger_message_and_extra_fields_with_secrets_redacted(configured):
    try:
        raise RuntimeError(f"connect to postgresql://modelsync:{PASSWORD}@db.internal/x failed; {SESSION_SECRET}")
    except RuntimeError as error:
        output = emit(JsonFormatter(secrets_of(configured)), error)
    assert output.count("\n") == 1  # one line, the traceback inside it
    assert_redacted(output)
    line = json.loads(output)
    assert line["level"] == "WARNING" and line["logger"] == "modelsync.test_logs"
    when = datetime.fromisoformat(line["time"])
    assert when.utcoffset() == UTC.utcoffset(None) and abs((datetime.now(UTC) - when).total_seconds()) < 600
    assert line["message"] == "provider answered 401 for key [redacted] (shortened [redacted]...)"
    assert line["provider"] == "openai" and line["attempt"] == 2
    assert line["header"] == "Authorization: Bearer [redacted]"
    assert "RuntimeError" in line["exception"] and "modelsync:[redacted]@db.internal" in line["exception"]


def test_a_text_line_is_redacted_too(configured):
    output = emit(TextFormatter(secrets_of(configured)))
    assert_redacted(output)
    assert " WARNING modelsync.test_logs: provider answered 401 for key [redacted]" in output
    assert "provider=openai" in output and "attempt=2" in output
    assert output.split(" ", 1)[0].endswith("Z")  # UTC


def test_the_log_config_names_the_format_and_carries_every_secret(configured):
    keys = {"secret_key": SecretStr("k" * 40), "secret_key_previous": SecretStr("p" * 40)}
    secrets = secrets_of(configured.model_copy(update={"metrics_token": SecretStr("m" * 40), **keys}))
    assert {KEY, PASSWORD, SESSION_SECRET, "m" * 40, "k" * 40, "p" * 40} <= set(secrets)
    assert log_config(configured)["formatters"]["modelsync"]["()"] is TextFormatter
    json_config = log_config(configured.model_copy(update={"log_format": "json"}), "warning")
    assert json_config["formatters"]["modelsync"]["()"] is JsonFormatter
    assert json_config["root"]["level"] == "WARNING"
    assert log_config(configured, log_format="json")["formatters"]["modelsync"]["()"] is JsonFormatter


def test_serve_writes_json_lines_with_keys_redacted(clean_env):
    env = {
        "DATABASE_URL": f"sqlite:///{clean_env / 'modelsync.db'}",
        "MODELSYNC_LOG_FORMAT": "json",
        "OPENAI_API_KEY": KEY,
    }
    process, url = serve_process(clean_env, env)
    try:
        # A client that puts secrets in a URL: the access line must not repeat them.
        assert httpx.get(f"{url}/metrics", params={"k": KEY, "t": API_TOKEN}).status_code == 200
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    text = err.decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, text
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access" and line["path"].startswith("/metrics")]
    assert len(access) == 1 and access[0]["status"] == 200 and access[0]["method"] == "GET"
    assert KEY not in text and API_TOKEN not in text and "[redacted]" in access[0]["path"]
    assert any(line["logger"] == "uvicorn.error" and "Uvicorn running" in line["message"] for line in lines)


def test_a_cli_sync_logs_json_lines_with_the_key_redacted_and_text_mode_prints_none(cli, offline, monkeypatch):
    # OpenAI's key set and its server unreachable: the listing fails, which the sync logs (and summarizes).
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("MODELSYNC_LOG_FORMAT", "json")
    result = cli("sync", "--provider", "openai")
    lines = [json.loads(line) for line in result.err.splitlines() if line.startswith("{")]
    failed = [line for line in lines if line["logger"] == "modelsync.sources" and "OpenAI" in line["message"]]
    assert failed and failed[0]["level"] == "INFO" and "cannot be reached" in failed[0]["message"]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert KEY not in result.err

    monkeypatch.setenv("MODELSYNC_LOG_FORMAT", "text")
    again = cli("sync", "--provider", "openai")
    assert not [line for line in again.err.splitlines() if line.startswith("{")]
    assert logging.getLogger("modelsync").handlers == []  # nothing the JSON command configured outlives it
