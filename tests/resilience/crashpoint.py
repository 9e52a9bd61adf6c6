"""`syncer`, but it SIGKILLs itself in the middle of a write: the crash test's injector.

    CRASH_AFTER_WRITES=3 python -m tests.resilience.crashpoint --config syncer.toml sync

With `CRASH_AFTER_WRITES=N` the process kills itself (SIGKILL: no cleanup, no rollback, no
`finally`) right after its Nth INSERT/UPDATE/DELETE statement has run: inside that
statement's transaction, before the commit. `CRASH_STATEMENT=text` counts only statements
whose SQL contains `text`, `CRASH_VALUE=value` only those with `value` among their bound
parameters (`CRASH_STATEMENT=" status_changes " CRASH_VALUE=released` dies in a release
batch, after its versions, before its commit; PostgreSQL's `COPY` counts as a write).
Without them it is plain `syncer`.
It lives in the tests on purpose: production code carries no crash hook; SQLAlchemy's engine
events are the seam.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")


def _values(parameters: Any) -> Iterator[Any]:
    """Every bound value, whatever the driver's parameter style or executemany nesting."""
    if isinstance(parameters, dict):
        parameters = list(parameters.values())
    if isinstance(parameters, list | tuple):
        for value in parameters:
            if isinstance(value, dict | list | tuple):
                yield from _values(value)
            else:
                yield value
                if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
                    # A PostgreSQL array literal: a whole batch's column in one parameter.
                    yield from (element.strip('"') for element in value[1:-1].split(","))


def install(after: int, statement_text: str | None, value: str | None) -> None:
    """Kill this process right after its `after`th matching write statement."""
    lock = threading.Lock()
    seen = 0

    @event.listens_for(Engine, "after_cursor_execute")
    def _count(
        connection: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        nonlocal seen
        if not statement.lstrip().upper().startswith(_WRITES):
            return
        if statement_text is not None and statement_text not in statement:
            return
        if value is not None and value not in _values(parameters):
            return
        with lock:
            seen += 1
            if seen == after:
                os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    after = os.environ.get("CRASH_AFTER_WRITES")
    if after:
        install(
            int(after),
            os.environ.get("CRASH_STATEMENT") or None,
            os.environ.get("CRASH_VALUE") or None,
        )
    from syncer.cli import main as syncer

    syncer(prog_name="syncer")


if __name__ == "__main__":
    main()
