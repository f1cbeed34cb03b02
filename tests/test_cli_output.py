"""Hostile text in CLI output: ids, names, labels and actors holding terminal escape sequences, newlines and other
control characters print escaped (`\\x1b`, `\\n`) in every table and line, so they can neither drive the terminal
nor forge a line (a summary's `Total:`); `--json` output stays exact JSON with the values unchanged.

Stored values are made hostile directly in the database, as a database written before values were validated
(or by hand) would hold them.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from modelsync.cli import common
from modelsync.cli.common import printable
from modelsync.db.tables import ai_model, app_user, model_change

EVIL_ID = "gpt-4o\x1b[31m\nTotal: 999 created"
EVIL_NAME = "GPT\x1b]0;pwned\x07\r\u202ecod.exe"
CONTROL = ("\x1b", "\x07", "\r", "\u202e")


@pytest.fixture(autouse=True)
def wide_tables(monkeypatch):
    """A wide terminal, so that table cells are printed whole instead of cut or folded."""
    monkeypatch.setattr(common.out, "width", 400)


def assert_clean(text: str) -> None:
    for char in CONTROL:
        assert char not in text, repr(char)
    assert not any(line.startswith("Total: 999") for line in text.splitlines())


def test_printable_escapes_controls_and_markup():
    assert printable("a\x1b[31mb\nc\td\x00e\x7f\x9b\u2028\u202e") == "a\\x1b[31mb\\nc\\td\\x00e\\x7f\\x9b\\u2028\\u202e"
    assert printable("[bold]x[/bold]") == "\\[bold]x\\[/bold]"
    assert printable("C:\\new") == "C:\\\\new"  # a typed backslash never reads as an escape
    assert printable("Claude Sonnet 4.6 — 200k") == "Claude Sonnet 4.6 — 200k"


def test_a_hostile_provider_label_cannot_forge_a_summary_line(cli, clean_env):
    (clean_env / "modelsync.toml").write_text('[provider.openai]\nlabel = "Open\\u001b[31mAI\\nTotal: 999 created"\n')
    result = cli("sync", "--provider", "openai")
    assert result.code == 0, result.err
    assert_clean(result.out)
    assert "Open\\x1b[31mAI\\nTotal: 999 created:" in result.out
    assert [line for line in result.out.splitlines() if line.startswith("Total:")] == [result.out.splitlines()[-1]]


def _make_hostile(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.update(ai_model)
            .where(ai_model.c.provider == "openai", ai_model.c.model_id == "gpt-4o")
            .values(model_id=EVIL_ID, display_name=EVIL_NAME)
        )
        conn.execute(
            sa.update(model_change)
            .where(model_change.c.provider == "openai", model_change.c.model_id == "gpt-4o")
            .values(model_id=EVIL_ID, actor="mallory\x1b[2J")
        )


def test_models_list_show_history_and_cost_print_stored_values_escaped(cli, engine):
    assert cli("sync", "--provider", "openai").code == 0
    _make_hostile(engine)
    ref = f"openai/{EVIL_ID}"
    for args in (
        ("models", "list", "--provider", "openai"),
        ("models", "show", ref),
        ("history", ref),
        ("cost", ref, "--input-tokens", "10", "--output-tokens", "10"),
        ("models", "set", ref, "--recommended", "--actor", "eve\x1b[5m"),
    ):
        result = cli(*args)
        assert result.code == 0, (args, result.err)
        assert_clean(result.out + result.err)
    assert "gpt-4o\\x1b[31m\\nTotal: 999 created" in cli("models", "list", "--provider", "openai").out
    assert "GPT\\x1b]0;pwned\\x07\\r\\u202ecod.exe" in cli("models", "show", ref).out
    assert "mallory\\x1b[2J" in cli("history", ref).out

    # JSON stays exact: the same characters come back.
    models = json.loads(cli("models", "list", "--provider", "openai", "--json").out)
    assert {model["id"] for model in models} >= {EVIL_ID}
    assert json.loads(cli("models", "show", ref, "--json").out)["displayName"] == EVIL_NAME


def test_error_messages_escape_the_values_they_quote(cli):
    result = cli("models", "show", "openai/nope\x1b[31m\nTotal: 999 created")
    assert result.code == 4
    assert_clean(result.err)
    assert "nope\\x1b[31m" in result.err


def test_users_and_tokens_lists_escape_names(cli, engine):
    created = cli("users", "create", "mallory", "--role", "viewer", "--password-stdin", stdin="pw-long-enough-42\n")
    assert created.code == 0, created.err
    assert cli("tokens", "create", "--user", "mallory").code == 0
    with engine.begin() as conn:
        conn.execute(sa.update(app_user).where(app_user.c.name == "mallory").values(name="mal\x1b[31mlory\nroot"))
    for args in (("users", "list"), ("tokens", "list")):
        result = cli(*args)
        assert result.code == 0, result.err
        assert_clean(result.out)
        assert "mal\\x1b[31mlory\\nroot" in result.out
    assert json.loads(cli("users", "list", "--json").out)[0]["name"] == "mal\x1b[31mlory\nroot"
