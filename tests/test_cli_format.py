"""The listing commands in pipes: `--format table|tsv|csv|json`, a table on a terminal and TSV in a pipe.

The pipe tests run the real `modelsync` console script as a subprocess, its stdout a pipe (or a pseudo-terminal),
so the default is decided the way a shell decides it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

import dbread

MODELSYNC = str(Path(sys.executable).with_name("modelsync"))


def _env(db_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": db_url, "MODELSYNC_OFFLINE": "true", "COLUMNS": "60"}


@pytest.fixture
def synced(cli):
    assert cli("sync").code == 0
    return cli


def test_models_list_piped_to_grep_counts_every_stored_gpt_4o_id(synced, engine, db_url):
    stored = sorted(row["model_id"] for row in dbread.models(engine) if "gpt-4o" in row["model_id"])
    assert len(stored) > 3
    listing = subprocess.Popen([MODELSYNC, "models", "list"], stdout=subprocess.PIPE, env=_env(db_url))
    grep = subprocess.run(["grep", "-c", "gpt-4o"], stdin=listing.stdout, capture_output=True, text=True, check=True)
    assert listing.wait() == 0
    assert int(grep.stdout) == len(stored)
    # Whole rows, even with a 60-column terminal width in the environment: every id is there in full.
    piped = subprocess.run([MODELSYNC, "models", "list"], capture_output=True, text=True, env=_env(db_url), check=True)
    lines = piped.stdout.splitlines()
    assert lines[0].split("\t")[:3] == ["provider", "id", "name"]
    assert sorted(line.split("\t")[1] for line in lines[1:] if "gpt-4o" in line.split("\t")[1]) == stored
    assert all(line.count("\t") == 9 for line in lines)
    assert any(len(line) > 60 for line in lines)


def test_on_a_terminal_the_default_is_a_table(synced, db_url):
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [MODELSYNC, "sync-runs"], stdout=follower, stderr=subprocess.DEVNULL, env=_env(db_url) | {"COLUMNS": "200"}
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait() == 0
    finally:
        os.close(leader)
    text = b"".join(chunks).decode()
    assert "┃" in text or "│" in text  # a rich table's borders
    assert "\t" not in text


@pytest.mark.parametrize(
    "args",
    [("models", "list"), ("sync-runs",), ("catalogs",), ("history", "openai/gpt-4o"), ("users", "list"),
     ("tokens", "list")],
)  # fmt: skip
def test_every_listing_command_speaks_every_format(synced, args):
    password = "x" * 16 + "\n"
    assert synced("users", "create", "root", "--role", "super_admin", "--password-stdin", stdin=password).code == 0
    assert synced("tokens", "create", "--user", "root").code == 0
    tsv = synced(*args, "--format", "tsv")
    csv_ = synced(*args, "--format", "csv")
    as_json = synced(*args, "--format", "json")
    table = synced(*args, "--format", "table")
    assert tsv.code == csv_.code == as_json.code == table.code == 0
    assert synced(*args).out == tsv.out  # not a terminal: TSV
    rows = list(csv.reader(io.StringIO(csv_.out)))
    tsv_rows = [line.split("\t") for line in tsv.out.splitlines()]
    assert len(rows) == len(tsv_rows) > 1 and rows[0] == tsv_rows[0]
    assert all(len(row) == len(rows[0]) for row in rows)
    assert json.loads(as_json.out) == json.loads(synced(*args, "--json").out)
    assert "\t" not in table.out
    assert synced(*args, "--format", "yaml").code == 4


def test_tsv_cells_escape_tabs_and_newlines_so_a_row_stays_one_line(cli, engine):
    from modelsync.records import SourceRecord
    from modelsync.services.sync import SyncOptions, run_sync
    from modelsync.settings import load_settings
    from modelsync.sources.live import ListingResult

    odd = "gpt-4o\tfake\nTotal"
    records = {odd: SourceRecord(odd, {"kind": "chat", "display_name": "a\tb"}), "plain": SourceRecord("plain", {})}

    def listing(_settings, names, _progress):
        return {name: ListingResult(name, records=records) for name in names}

    run_sync(engine, load_settings(), SyncOptions(providers=["together"], trigger="cli"), fetch=listing)
    lines = cli("models", "list", "--provider", "together").out.splitlines()
    assert len(lines) == 3 and all(line.count("\t") == 9 for line in lines)
    assert "gpt-4o\\tfake\\nTotal\ta\\tb" in lines[1]
