"""Time, injected: everything that reads the time or waits takes a `Clock`.

Production code uses `SystemClock`; tests pass a fake one whose `sleep` advances time instantly,
so backoff and `Retry-After` are checked without waiting. `now()` is always timezone-aware UTC.
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
