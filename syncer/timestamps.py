"""Instants written as ISO 8601 text in UTC with a `Z`: one function per contract.

- `iso_z`: exact, for what scripts parse (report and `syncer status` JSON and CSV): every
  digit the instant has, microseconds only when there are any (`2026-10-01T12:00:00Z`,
  `2026-10-01T12:00:00.250000Z`).
- `iso_z_seconds`: to the second, for what people and providers read (text log lines, the
  daemon's "next run at", the simulated providers' `created_at`): `2026-10-01T12:00:00Z`.
- `iso_z_millis`: to the millisecond, for JSON log lines: `2026-10-01T12:00:00.250Z`.

Tables for people show local times without a zone suffix instead (`reports.periods.local_text`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso_z(instant: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a `Z`, exact (microseconds when non-zero)."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_z_seconds(epoch_seconds: float) -> str:
    """Seconds since the Unix epoch as ISO 8601 in UTC with a `Z`, to the second (truncated)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def iso_z_millis(epoch_seconds: float) -> str:
    """Seconds since the Unix epoch as ISO 8601 in UTC with a `Z`, to the millisecond
    (truncated)."""
    millis = int((epoch_seconds - int(epoch_seconds)) * 1000)  # as `LogRecord.msecs`
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_seconds)) + f".{millis:03d}Z"
