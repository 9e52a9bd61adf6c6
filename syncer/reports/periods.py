"""Time for reports: the dates people type, and calendar periods as UTC instants.

Every boundary a report needs is computed here, in Python, and bound into the SQL as a
parameter: the databases only compare stored UTC timestamps with bound ones, which keeps the
queries the same on SQLite, PostgreSQL and MariaDB.

How input is read (the report's time zone is UTC unless `--timezone` names another):

- a date (`2026-10-01`) is 00:00 of that day in the report's time zone; as an *end* of a
  range (`--until`) it means the end of that day, so `--since 2026-10-01 --until 2026-10-07`
  covers seven whole days;
- a date and time without an offset (`2026-10-01T12:00`) is in the report's time zone; with
  an offset (`...Z`, `...+02:00`) it is that instant;
- a month (`2026-10`) runs from 00:00 on its first day to 00:00 on the first day of the
  next month, in the report's time zone (so months differ in length, also by DST hours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncer.errors import UsageError

MICROSECOND = timedelta(microseconds=1)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month, independent of any time zone."""

    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def period(self, zone: tzinfo) -> Period:
        """This month in `zone`, as UTC instants."""
        return Period(
            str(self), local_midnight(self.year, self.month, 1, zone), self.next().start(zone)
        )

    def start(self, zone: tzinfo) -> datetime:
        return local_midnight(self.year, self.month, 1, zone)

    @classmethod
    def of(cls, instant: datetime, zone: tzinfo) -> Month:
        """The month `instant` falls in, in `zone`."""
        local = instant.astimezone(zone)
        return cls(local.year, local.month)


@dataclass(frozen=True)
class Period:
    """A labelled span of time `[start, end)`, both aware UTC datetimes."""

    label: str
    start: datetime
    end: datetime

    @property
    def micros(self) -> int:
        """Its length in microseconds (the unit accrual shares are computed in)."""
        return micros_between(self.start, self.end)


def micros_between(start: datetime, end: datetime) -> int:
    return (end - start) // MICROSECOND


def local_midnight(year: int, month: int, day: int, zone: tzinfo) -> datetime:
    """00:00 of a local date in `zone`, as a UTC instant."""
    return datetime(year, month, day, tzinfo=zone).astimezone(UTC)


def parse_zone(name: str | None) -> tzinfo:
    """The time zone named by `--timezone` (an IANA name such as Europe/Berlin); UTC if None."""
    if name is None or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"--timezone: unknown time zone {name!r} (use an IANA name such as Europe/Berlin)"
        ) from None


def zone_name(zone: tzinfo) -> str:
    return "UTC" if zone is UTC else str(zone)


def parse_month(text: str, option: str) -> Month:
    """`YYYY-MM` as a `Month`; anything else is a `UsageError` naming the option."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise UsageError(f"{option}: {text!r} is not a month such as 2026-10")
    return Month(int(match.group(1)), int(match.group(2)))


def parse_instant(text: str, zone: tzinfo, option: str, *, end_of_day: bool = False) -> datetime:
    """A date or date-time typed by a user, as an aware UTC instant (see the module doc)."""
    value = text.strip()
    try:
        if _DATE.match(value):
            day = date.fromisoformat(value)
            if end_of_day:
                day += timedelta(days=1)
            return local_midnight(day.year, day.month, day.day, zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is not a date (2026-10-01) or date and time "
            "(2026-10-01T12:00, 2026-10-01T12:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def refuse_future(instant: datetime | None, now: datetime, option: str, zone: tzinfo) -> None:
    """`--as-of` answers from history, and the future has none: refuse it (exit 2) rather
    than print today's figures under a future date."""
    if instant is not None and instant > now:
        raise UsageError(
            f"{option}: {local_text(instant, zone)} {zone_name(zone)} is in the future "
            f"(now is {local_text(now, zone)}); history only reaches now"
        )


def months(first: Month, last: Month) -> list[Month]:
    """Every month from `first` to `last`, both included."""
    found: list[Month] = []
    current = first
    while current <= last:
        found.append(current)
        current = current.next()
    return found


def days(start: datetime, end: datetime, zone: tzinfo) -> list[Period]:
    """The local days of `zone` that overlap `[start, end)`, clipped to it."""
    found: list[Period] = []
    local = start.astimezone(zone).date()
    while True:
        day_start = max(start, local_midnight(local.year, local.month, local.day, zone))
        following = local + timedelta(days=1)
        day_end = min(end, local_midnight(following.year, following.month, following.day, zone))
        if day_start >= end:
            return found
        found.append(Period(local.isoformat(), day_start, day_end))
        local = following


def local_text(instant: datetime, zone: tzinfo) -> str:
    """A time for a table: `2026-10-01 12:00:00` in the report's time zone."""
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
