"""Account schedules: a 5-field crontab (`0 * * * *`) or a fixed interval (`every 30s|10m|2h`).

Parsing lives here so that the config can validate a schedule at start and the daemon can
build its trigger from the same parsed value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_EVERY = re.compile(r"^every\s+(\d+)\s*(s|m|h)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
DEFAULT_SCHEDULE = "every 1h"


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: exactly one of `crontab` and `interval` is set."""

    text: str
    crontab: str | None = None
    interval: timedelta | None = None


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
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(cleaned, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid crontab: {exc}") from None
    return Schedule(text=cleaned, crontab=cleaned)
