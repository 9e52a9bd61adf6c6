"""Account schedules: a 5-field crontab (`0 * * * *`) or a fixed interval (`every 30s|10m|2h`).

Parsing lives here so that the config can validate a schedule at start, and the daemon and
`syncer status` read the same parsed value. All times are UTC.

A crontab means what it means to cron, not what APScheduler 3 makes of it: APScheduler 3
numbers weekdays from Monday = 0 (cron: Sunday = 0 or 7), and when both day-of-month and
day-of-week are restricted it wants both to match (cron: either). `cron_trigger` translates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h)$")
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_SCHEDULE = "every 1h"

# Cron weekday numbers (0 and 7 are Sunday) and names, as APScheduler's weekday names.
_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_WEEKDAY_ITEM = re.compile(r"^(?:(\*)|(\w+)(?:-(\w+))?)(?:/(\d+))?$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: exactly one of `crontab` and `interval` is set."""

    text: str
    crontab: str | None = None
    interval: timedelta | None = None

    def period(self, now: datetime) -> timedelta:
        """The time between two runs: the interval, or for a crontab the gap between its next
        two fire times after `now` (so "0 9 * * 1-5" on a Friday evening gives a day)."""
        if self.interval is not None:
            return self.interval
        assert self.crontab is not None
        trigger = cron_trigger(self.crontab)
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first)
        if first is None or second is None:  # pragma: no cover - a crontab always fires again
            return timedelta(days=1)
        gap: timedelta = second - first
        return gap


def parse_schedule(text: str) -> Schedule:
    """Parse a schedule, raising ValueError with a message that says what is accepted."""
    cleaned = " ".join(text.strip().split())
    every = _EVERY.match(cleaned)
    if every:
        seconds = int(every.group(1)) * _UNIT_SECONDS[every.group(2)]
        if seconds < 1:
            raise ValueError(f"{text!r}: the interval must be at least 1s")
        return Schedule(text=cleaned, interval=timedelta(seconds=seconds))
    if cleaned.startswith("every"):
        raise ValueError(f"{text!r} is not an interval: write every 30s, every 10m or every 2h")
    if len(cleaned.split(" ")) != 5:
        raise ValueError(
            f"{text!r} is neither a 5-field crontab (minute hour day month weekday) "
            "nor an interval like 'every 10m'"
        )
    try:
        cron_trigger(cleaned)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid crontab: {exc}") from None
    return Schedule(text=cleaned, crontab=cleaned)


def schedule_or_default(schedule: Schedule | None) -> Schedule:
    """An account's schedule, or `DEFAULT_SCHEDULE` when its config gives none."""
    return schedule or parse_schedule(DEFAULT_SCHEDULE)


def parse_duration(text: str) -> timedelta:
    """A duration such as `90s`, `30m`, `6h` or `2d`; raises ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{text!r} is not a duration: write 90s, 30m, 6h or 2d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def cron_trigger(crontab: str, jitter: float | None = None) -> Any:
    """An APScheduler 3 trigger (UTC) that fires when cron would fire for `crontab`.

    Weekdays are rewritten as names (cron's 1-5 is mon-fri; APScheduler's would be tue-sat).
    When both day-of-month and day-of-week are restricted, cron fires on a day matching
    either, so the trigger is the OR of one trigger per field. Raises ValueError.
    """
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = crontab.split()
    day_of_week = _weekday_names(weekday)

    def trigger(day: str, day_of_week: str, jitter: float | None = None) -> Any:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=day_of_week,
            timezone="UTC",
            jitter=jitter,
        )

    if day.startswith("*") or weekday.startswith("*"):
        return trigger(day, day_of_week, jitter)
    return OrTrigger([trigger(day, "*"), trigger("*", day_of_week)], jitter=jitter)


def _weekday_names(field: str) -> str:
    """Cron's day-of-week field as an explicit list of weekday names (`*` stays `*`).

    Items are `*`, `N`, `A-B`, each with an optional `/STEP`; weekdays are 0-7 (0 and 7 are
    Sunday) or sun-sat. `N/STEP` runs from N to Saturday.
    """
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _WEEKDAY_ITEM.match(item)
        if not match:
            raise ValueError(f"day of week {field!r}: cannot read {item!r}")
        star, first, last, step = match.groups()
        if star:
            low, high = 0, 6
        else:
            low = _weekday(first)
            high = _weekday(last) if last is not None else (6 if step else low)
        if high < low:
            raise ValueError(f"day of week {field!r}: {item!r} runs backwards")
        stride = int(step) if step is not None else 1
        if stride < 1:
            raise ValueError(f"day of week {field!r}: a step must be at least 1")
        days.update(day % 7 for day in range(low, high + 1, stride))
    return ",".join(_WEEKDAY_NAMES[day] for day in sorted(days))


def _weekday(token: str) -> int:
    """A cron weekday, 0-7 (7 is Sunday again, so ranges like 5-7 work)."""
    if token.isdigit():
        if int(token) > 7:
            raise ValueError(f"weekday {token} is out of range (0-7; 0 and 7 are Sunday)")
        return int(token)
    if token in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES.index(token)
    raise ValueError(f"{token!r} is not a weekday (0-7 or sun-sat)")
