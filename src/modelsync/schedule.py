"""Cron schedules for the scheduled sync: parse a 5-field cron expression (UTC) and compute its next fire times.

Rules: pure (no I/O, no clock of its own: every computation takes the time it starts from). Expressions follow
Debian cron, the crontab users already know: `minute hour day-of-month month day-of-week`, `*`, ranges, lists,
steps, names (`mon`, `jan`), 0 and 7 for Sunday, and a day that matches day-of-month OR day-of-week when both are
restricted. Times are UTC (no daylight saving time: every fire time exists exactly once).

The parser is cronsim (a small, dependency-free library that healthchecks.io runs its cron checks on, tested
against Debian cron's behaviour). APScheduler 3's `CronTrigger.from_crontab` was the other candidate: it numbers
weekdays from Monday (its 0 is Monday, cron's is Sunday) and requires day-of-month AND day-of-week to match where
cron accepts either, so `0 6 * * 0` would not mean what a crontab line means; we only need next-fire times, which
cronsim computes, and run the jobs ourselves (services/scheduler.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cronsim import CronSim, CronSimError

CRON_FORMAT = (
    'five fields separated by spaces, "minute hour day-of-month month day-of-week", in UTC; '
    'for example "0 6 * * *" (every day at 06:00 UTC) or "*/30 * * * 1-5" (every 30 minutes on weekdays)'
)

_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """A schedule that is not a valid 5-field cron expression; the message says the format."""


@dataclass(frozen=True)
class CronSchedule:
    """A validated cron expression and the fire times it gives."""

    expression: str

    def next_after(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment` (an aware datetime), in UTC."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime given to a UTC schedule")
        return next(CronSim(self.expression, moment.astimezone(UTC)))

    def fire_times(self, moment: datetime, count: int) -> list[datetime]:
        """The next `count` fire times after `moment`."""
        times = []
        for _ in range(count):
            moment = self.next_after(moment)
            times.append(moment)
        return times

    def describe(self) -> str:
        """The expression in words ("At 06:00"), for log lines."""
        try:
            return CronSim(self.expression, _ANY_TIME).explain()  # the wording does not depend on the time
        except Exception:  # explaining is a nicety; an expression it cannot word is still valid
            return self.expression


def parse_schedule(text: str) -> CronSchedule:
    """Validate a 5-field cron expression (UTC); raise ScheduleError naming the problem and the format."""
    expression = " ".join(text.split())
    fields = expression.split(" ") if expression else []
    if len(fields) != 5:
        raise ScheduleError(f"{text!r} is not a cron schedule ({len(fields)} fields): use {CRON_FORMAT}.")
    return _checked(expression, text)


def seconds_schedule(expression: str) -> CronSchedule:
    """A 6-field expression whose first field is seconds ("*/2 * * * * *"): for tests and benchmarks only."""
    if len(expression.split()) != 6:
        raise ScheduleError(f"{expression!r}: a seconds schedule has six fields")
    return _checked(expression, expression)


def _checked(expression: str, text: str) -> CronSchedule:
    try:
        # Parsing is all the constructor does; the start time is irrelevant. One fire time is computed too, so an
        # expression that can never fire ("0 0 31 2 *") is refused here instead of hanging the scheduler.
        next(CronSim(expression, _ANY_TIME))
    except CronSimError as exc:
        raise ScheduleError(f"{text!r} is not a valid cron schedule ({exc}): use {CRON_FORMAT}.") from exc
    except StopIteration as exc:
        raise ScheduleError(f"{text!r} never fires: use {CRON_FORMAT}.") from exc
    return CronSchedule(expression)
