"""Logging set-up: readable lines for people, one JSON object per line for log pipelines.

Every record passes through the one scrubber (`syncer.secrets.scrub`), which hides any
registered API key, in any form a provider may have echoed it in, that slipped into a
message: a last line of defence; no code logs a key on purpose.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from syncer.secrets import register_secrets, scrub
from syncer.timestamps import iso_z_millis, iso_z_seconds

__all__ = ["redact", "register_secrets", "setup_logging"]

redact = scrub  # the name the rest of syncer has used for it


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_z_seconds(record.created)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Fields a log call may pass with `extra=`; the JSON formatter writes them as keys.
_EXTRA_KEYS = (
    "account",
    "provider",
    "run_id",
    "event",
    "status",
    "listing_complete",
    "counts",
    "duration",
)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": iso_z_millis(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _EXTRA_KEYS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def setup_logging(level: int = logging.WARNING, fmt: str = "text") -> None:
    """Send syncer's logs to stderr at `level`, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; that is our debug level.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpcore").setLevel(max(level, logging.WARNING))
