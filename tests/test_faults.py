"""Killed syncs, through the real CLI in its own process over real HTTP, on SQLite and PostgreSQL.

A large Replicate listing (the full cursor-paged listing) is synced; then a changed listing is synced and the
process is killed (SIGKILL) or terminated (SIGTERM, as docker, systemd and Kubernetes stop a container) while it
fetches or while it plans and writes. Afterwards the stored models are exactly the state before or the state
after that sync (never a mix), the next `modelsync sync` runs at once (no "another sync is running"), and the
interrupted run reads `abandoned` (killed) or `cancelled` (terminated, which also exits 130).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import dbread
from fake_provider import FakeProviders
from modelsync.db import dialect
from modelsync.db.tables import sync_lease
from modelsync.services.sync import SyncOptions, run_sync
from modelsync.settings import load_settings

MODELS = 6000
PAGE = 200
PAGES = MODELS // PAGE


def state(engine) -> dict[str, tuple[str, str]]:
    """Every stored model's fingerprint and status: equal states hold equal data."""
    return {f"{r['provider']}/{r['model_id']}": (r["content_hash"], r["status"]) for r in dbread.models(engine)}


def environment(fake: FakeProviders, db_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN", "_BASE_URL"))}
    env.update(fake.env(("replicate",)))
    env.update(
        DATABASE_URL=db_url,
        MODELSYNC_REPLICATE_FULL_LISTING="true",
        MODELSYNC_HTTP_BACKOFF="0",
        PYTHONUNBUFFERED="1",
    )
    env.pop("MODELSYNC_CONFIG", None)
    return env


SYNC = [sys.executable, "-c", "from modelsync.cli.app import main; main()", "sync", "-p", "replicate"]


def run_cli(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        SYNC,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def writing(engine) -> bool:
    """Whether a sync holds the catalog write lock now (it is planning and writing its changes)."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()  # closing rolls the probe's empty transaction back
        return False
    key = dialect._CATALOG_WRITE_LOCK_KEY
    with engine.connect() as conn:
        held = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :high AND objid = :low"
            ),
            {"high": key >> 32, "low": key & 0xFFFFFFFF},
        ).scalar_one()
    return bool(held)


def pages_served(fake: FakeProviders) -> int:
    return sum(1 for request in fake.requests_for("replicate") if request.path.endswith("/v1/models"))


def wait_for(condition, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "the sync never got there"
        time.sleep(0.005)


@pytest.fixture
def replicate_scale(fake: FakeProviders) -> FakeProviders:
    fake.synthesize_replicate(MODELS)
    fake.replicate_page_size = PAGE
    fake.latency = 0.01
    return fake


# Where to stop the sync: while it fetches (the sync lock held, a third of the pages served), as soon as it holds
# the catalog write lock (planning and writing), and a little later in the same transaction.
POINTS = {"fetching": 0.0, "writing": 0.0, "writing-later": 0.08}


@pytest.mark.parametrize("how", ["kill", "term"])
@pytest.mark.parametrize("point", list(POINTS))
def test_a_sync_stopped_at_any_stage_leaves_one_whole_state_and_the_next_sync_runs_at_once(
    replicate_scale, engine, db_url, tmp_path, how, point, monkeypatch
):
    fake = replicate_scale
    env = environment(fake, db_url, tmp_path)
    for name, value in env.items():  # the first sync runs here, in-process (the same settings as the CLI's)
        monkeypatch.setenv(name, value)
    first = run_sync(engine, load_settings(), SyncOptions(providers=["replicate"]))
    assert first.exit_code == 0, first.to_dict()
    before = state(engine)
    assert len(before) == MODELS

    # The next listing: 300 models gone (to be deprecated), 300 new ones.
    fake.models["replicate"] = fake.models["replicate"][300:]
    extra = [dict(model, name=f"fresh-{index:04d}") for index, model in enumerate(fake.models["replicate"][:300])]
    fake.models["replicate"] = [*fake.models["replicate"], *extra]
    fake.requests.clear()

    delay = POINTS[point]
    child = subprocess.Popen(
        SYNC,
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if point == "fetching":
            wait_for(lambda: pages_served(fake) >= PAGES // 3 or child.poll() is not None)
        else:  # every page fetched, and then the catalog write lock held (recording the run takes it briefly too)
            wait_for(lambda: pages_served(fake) >= PAGES or child.poll() is not None)
            wait_for(lambda: writing(engine) or child.poll() is not None)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
        code = child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stopped = state(engine)
    interrupted = 2  # run 1 was the first sync

    started = time.monotonic()
    after = run_cli(env, tmp_path)
    assert after.returncode == 0, after.stderr  # never "another sync is running"
    assert time.monotonic() - started < 60
    final = state(engine)

    assert stopped in (before, final), "the stopped sync left a mix of two states"
    assert len(final) == MODELS + 300 and sum(status == "deprecated" for _, status in final.values()) == 300
    run = dbread.run(engine, interrupted)
    if code == 0:  # it finished before the signal arrived: the stopped state is the new one
        assert run["status"] == "ok" and stopped == final
    elif how == "kill":
        assert code == -signal.SIGKILL and run["status"] == "abandoned" and stopped == before
        assert "stopped before it finished" in run["summary"]["reason"]
    else:
        assert code == 130, code
        if run["status"] == "ok":  # terminated in the instant after its commit: finished, and says so
            assert stopped == final
        else:
            assert run["status"] == "cancelled" and stopped == before
    assert dbread.count(engine, sync_lease) == 0
