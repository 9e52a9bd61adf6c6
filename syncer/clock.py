"""Time, injected: everything that reads the time or waits takes a `Clock`.

Production code uses `SystemClock` (the demo a `ShiftedClock`); tests pass a fake one whose
`sleep` advances time instantly, so backoff and `Retry-After` are checked without waiting.
`now()` is always timezone-aware UTC.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for deadlines and pauses)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait that many seconds (a fake clock just advances)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class ShiftedClock:
    """The system clock set to another date: from the instant it was last `set` to, time
    passes at the normal rate (so durations stay real). The demo uses it to date its syncs
    across months; waiting is real waiting."""

    def __init__(self, start: datetime) -> None:
        self._offset = start - datetime.now(UTC)

    def set(self, instant: datetime) -> None:
        self._offset = instant - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        SYSTEM_CLOCK.sleep(seconds)
