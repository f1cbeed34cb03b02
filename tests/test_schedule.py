"""The scheduled sync: cron parsing and next fire times (pure), the scheduler loop driven by an injected clock, a
scheduled sync firing in a running app, the busy lock, and `serve --schedule` from the command line."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

import dbread
from apiserver import serve_process
from modelsync.db.dialect import SyncLock
from modelsync.db.tables import sync_run
from modelsync.errors import ConfigError
from modelsync.schedule import CRON_FORMAT, ScheduleError, parse_schedule, seconds_schedule
from modelsync.services.scheduler import SyncScheduler, scheduled_sync
from modelsync.settings import load_settings


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --- cron expressions (pure) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "start", "expected"),
    [
        ("0 6 * * *", utc(2026, 11, 30, 5, 59, 59), [utc(2026, 11, 30, 6), utc(2026, 12, 1, 6), utc(2026, 12, 2, 6)]),
        # A fire time is strictly after the start: a sync that ends within its own second does not fire again.
        ("0 6 * * *", utc(2026, 11, 30, 6), [utc(2026, 12, 1, 6), utc(2026, 12, 2, 6), utc(2026, 12, 3, 6)]),
        (
            "*/15 * * * *",
            utc(2026, 11, 30, 10, 7),
            [utc(2026, 11, 30, 10, 15), utc(2026, 11, 30, 10, 30), utc(2026, 11, 30, 10, 45)],
        ),
        # Cron's weekdays: 0 and 7 are Sunday (2026-11-30 is a Monday).
        ("0 6 * * 0", utc(2026, 11, 30), [utc(2026, 12, 6, 6), utc(2026, 12, 13, 6), utc(2026, 12, 20, 6)]),
        ("0 6 * * 7", utc(2026, 11, 30), [utc(2026, 12, 6, 6), utc(2026, 12, 13, 6), utc(2026, 12, 20, 6)]),
        ("0 9 * * mon-fri", utc(2026, 12, 4, 10), [utc(2026, 12, 7, 9), utc(2026, 12, 8, 9), utc(2026, 12, 9, 9)]),
        # Both day fields restricted: either one matching fires (the 1st of the month OR a Monday).
        ("0 0 1 * 1", utc(2026, 11, 30, 1), [utc(2026, 12, 1), utc(2026, 12, 7), utc(2026, 12, 14)]),
        ("30 2 29 2 *", utc(2026, 3, 1), [utc(2028, 2, 29, 2, 30), utc(2032, 2, 29, 2, 30), utc(2036, 2, 29, 2, 30)]),
        ("0 0 1 jan,jul *", utc(2026, 11, 30), [utc(2027, 1, 1), utc(2027, 7, 1), utc(2028, 1, 1)]),
        # Runs of spaces are one separator.
        (
            "  5   4 * *   *  ",
            utc(2026, 11, 30, 4, 6),
            [utc(2026, 12, 1, 4, 5), utc(2026, 12, 2, 4, 5), utc(2026, 12, 3, 4, 5)],
        ),
    ],
)
def test_next_fire_times_follow_cron_in_utc(expression, start, expected):
    assert parse_schedule(expression).fire_times(start, 3) == expected


def test_a_start_in_another_zone_is_read_as_the_same_instant_and_answered_in_utc():
    schedule = parse_schedule("0 6 * * *")
    start = datetime(2026, 11, 30, 7, 30, tzinfo=timezone(timedelta(hours=2)))  # 05:30 UTC
    assert schedule.next_after(start) == utc(2026, 11, 30, 6)
    assert schedule.next_after(start).utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="naive"):
        schedule.next_after(datetime(2026, 11, 30, 5))


def test_the_expression_is_kept_normalized_and_described():
    schedule = parse_schedule(" 0  6 * * * ")
    assert schedule.expression == "0 6 * * *"
    assert "06:00" in schedule.describe()


@pytest.mark.parametrize(
    "expression",
    [
        "bad",
        "",
        "   ",
        "0 6 * *",
        "* * * * * *",
        "61 * * * *",
        "0 24 * * *",
        "0 0 31 2 *",
        "0 6 * * 8",
        "a b c d e",
        "0 6 * * mon-",
        "*/0 * * * *",
    ],
)
def test_invalid_expressions_are_refused_with_the_format(expression):
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(expression)
    assert CRON_FORMAT in str(raised.value) and repr(expression) in str(raised.value)


def test_the_schedule_setting_is_validated_with_the_other_settings(monkeypatch):
    monkeypatch.setenv("MODELSYNC_SCHEDULE", "0  6 * * *")
    assert load_settings().schedule == "0 6 * * *"
    monkeypatch.setenv("MODELSYNC_SCHEDULE", "")
    assert load_settings().schedule is None
    monkeypatch.setenv("MODELSYNC_SCHEDULE", "every day")
    with pytest.raises(ConfigError, match=r"schedule: .*five fields"):
        load_settings()


# --- the scheduler loop, driven by an injected clock ------------------------------------------------------------


class FakeTime:
    """A clock that moves only when the scheduler waits (or a job says time passed)."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.stopped = threading.Event()

    def clock(self) -> datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.now += timedelta(seconds=seconds)
        return self.stopped.is_set()


def drive(job, runs: int, expression: str = "*/10 * * * *"):
    """Run a scheduler on fake time from 00:03 until `job` has run `runs` times."""
    fake = FakeTime(utc(2026, 11, 30, 0, 3))
    done = threading.Event()
    calls: list[datetime] = []

    def counted() -> None:
        calls.append(fake.now)
        try:
            job(fake)
        finally:
            if len(calls) == runs:
                fake.stopped.set()
                done.set()

    scheduler = SyncScheduler(parse_schedule(expression), counted, clock=fake.clock, wait=fake.wait)
    first = scheduler.start()
    assert done.wait(60), "the scheduler did not run the job"
    scheduler.stop()
    return first, calls, scheduler


def test_the_job_runs_at_each_fire_time_of_the_schedule():
    first, calls, scheduler = drive(lambda fake: None, 3)
    assert first == utc(2026, 11, 30, 0, 10)
    assert calls == [utc(2026, 11, 30, 0, 10), utc(2026, 11, 30, 0, 20), utc(2026, 11, 30, 0, 30)]
    assert scheduler.runs == 3 and scheduler.next_run is None


def test_a_failing_job_is_logged_and_the_scheduler_keeps_going(caplog):
    def job(fake):
        if fake.now == utc(2026, 11, 30, 0, 10):
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="modelsync.schedule"):
        _, calls, _ = drive(job, 2)
    assert calls == [utc(2026, 11, 30, 0, 10), utc(2026, 11, 30, 0, 20)]
    assert "scheduled sync failed" in caplog.text and "boom" in caplog.text


def test_a_run_that_overruns_fire_times_skips_them_instead_of_running_twice(caplog):
    def job(fake):
        if fake.now == utc(2026, 11, 30, 0, 10):
            fake.now += timedelta(minutes=25)  # a long sync: 00:20 and 00:30 pass while it runs

    with caplog.at_level(logging.WARNING, logger="modelsync.schedule"):
        _, calls, _ = drive(job, 2)
    assert calls == [utc(2026, 11, 30, 0, 10), utc(2026, 11, 30, 0, 40)]
    assert "overran 2 fire time(s)" in caplog.text


def test_a_wall_clock_that_jumps_back_does_not_fire_early():
    fake = FakeTime(utc(2026, 11, 30, 0, 3))
    jumped = []

    def wait(seconds: float) -> bool:
        if not jumped:  # the first wait: NTP sets the clock back an hour
            jumped.append(True)
            fake.now -= timedelta(hours=1)
            return False
        return fake.wait(seconds)

    calls: list[datetime] = []
    done = threading.Event()
    scheduler = SyncScheduler(parse_schedule("*/10 * * * *"), lambda: (calls.append(fake.now), done.set()),
                              clock=fake.clock, wait=wait)  # fmt: skip
    scheduler.start()
    assert done.wait(60)
    fake.stopped.set()
    scheduler.stop()
    assert calls[0] == utc(2026, 11, 30, 0, 10)


def test_stop_ends_a_waiting_scheduler_at_once():
    scheduler = SyncScheduler(parse_schedule("0 6 * * *"), lambda: None)
    scheduler.start()
    thread = scheduler._thread
    assert thread is not None and thread.is_alive()
    scheduler.stop(timeout=30)
    assert not thread.is_alive() and scheduler.runs == 0 and scheduler.next_run is None
    again = SyncScheduler(parse_schedule("0 6 * * *"), lambda: None)
    again.start()
    with pytest.raises(RuntimeError, match="already started"):
        again.start()
    again.stop()


# --- scheduled syncs against a real database -------------------------------------------------------------------


def runs_of(engine, trigger: str = "schedule") -> list[dict]:
    return [run for run in dbread.rows(engine, sync_run) if run["trigger"] == trigger]


def test_the_busy_lock_records_a_rejected_run_and_the_next_fire_time_syncs(engine, offline, caplog):
    """Another replica holds the sync lock at the first fire time: rejected and logged; the second one syncs."""
    held = SyncLock(engine)
    assert held.try_acquire()
    settings = offline.model_copy(update={"default_providers": ("anthropic",)})

    def job(fake):
        try:
            scheduled_sync(engine, settings)
        finally:
            held.release()  # the other replica's sync ends after the first fire time

    with caplog.at_level(logging.WARNING, logger="modelsync.schedule"):
        _, calls, _ = drive(job, 2)
    assert len(calls) == 2
    rejected, synced = runs_of(engine)
    assert rejected["status"] == "rejected" and rejected["actor"] == "scheduler"
    assert synced["status"] == "ok" and synced["providers"] == ["anthropic"]
    assert "scheduled sync skipped: another sync is running" in caplog.text
    assert dbread.audit_entries(engine, "sync")[-1]["details"]["trigger"] == "schedule"


def once_soon() -> tuple[datetime, str]:
    """A seconds schedule that fires once, four to five seconds from now (then a day later)."""
    at = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    return at, f"{at.second} {at.minute} {at.hour} * * *"


def wait_for(predicate, what: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_scheduled_sync_fires_in_the_running_app(engine, offline, api_factory):
    settings = offline.model_copy(update={"default_providers": ("anthropic", "google")})
    at, expression = once_soon()
    with api_factory(engine, settings, schedule=seconds_schedule(expression)) as api:
        with api.client() as client:
            health = client.get("/healthz").json()
        assert health["schedule"] == {"cron": expression, "nextRun": at.isoformat()}
        [run] = wait_for(lambda: [r for r in runs_of(engine) if r["status"] != "running"], "the scheduled run")
        with api.client() as client:
            later = client.get("/healthz").json()
            listing = client.get("/api/ai-models", params={"provider": "anthropic"})
    assert run["status"] == "ok" and run["providers"] == ["anthropic", "google"] and run["actor"] == "scheduler"
    assert run["started_at"] >= at
    assert later["lastSync"]["trigger"] == "schedule" and later["models"] > 0
    assert datetime.fromisoformat(later["schedule"]["nextRun"]) == at + timedelta(days=1)
    assert listing.status_code == 401  # reads still need a token: the schedule changes nothing else


def test_an_app_without_a_schedule_says_so(engine, offline, api_factory):
    with api_factory(engine, offline) as api, api.client() as client:
        assert client.get("/healthz").json()["schedule"] is None


# --- the command line ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["bad", "0 6 * *", "0 6 * * * *", "99 * * * *"])
def test_serve_with_an_invalid_schedule_stops_with_the_format(cli, schedule):
    result = cli("serve", "--schedule", schedule, "--port", "1")
    assert result.code == 4
    assert "--schedule" in result.err and "minute hour day-of-month month day-of-week" in result.err


def test_serve_with_an_invalid_configured_schedule_stops_too(cli, monkeypatch):
    monkeypatch.setenv("MODELSYNC_SCHEDULE", "tomorrow")
    result = cli("serve", "--port", "1")
    assert result.code == 4 and "schedule" in result.err and "five fields" in result.err


def test_serve_logs_the_next_run_shows_it_and_stops_cleanly(settings, clean_env):
    env = {"DATABASE_URL": settings.database_url, "MODELSYNC_SCHEDULE": "0 3 * * *"}
    process, url = serve_process(clean_env, env, "--schedule", "15 6 * * *")
    try:
        health = httpx.get(f"{url}/healthz", timeout=2).json()
        expected = parse_schedule("15 6 * * *").next_after(datetime.now(UTC))
        # The flag wins over MODELSYNC_SCHEDULE.
        assert health["schedule"] == {"cron": "15 6 * * *", "nextRun": expected.isoformat()}
    finally:
        process.terminate()
        process.wait(timeout=30)
    log = process.stderr.read().decode()
    # uvicorn shuts down gracefully, then ends by the signal it was sent (-15) as a well-behaved process does.
    assert process.returncode in (0, -15) and "Application shutdown complete" in log, log
    assert f"next run at {expected:%Y-%m-%d %H:%M:%S} UTC" in log and "'15 6 * * *'" in log
