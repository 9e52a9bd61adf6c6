"""Lifecycle: the runs in progress, the stop request (a signal, or `request_stop`), and how
long the runs get to record where they stopped.

The first SIGTERM/SIGINT stops new runs and sets `stop`, which every run watches (at its next
page, or in a retry pause). `wait_for_runs` then gives them `stop_timeout` seconds; a second
signal exits at once with code 1 (the runs stay `running` in `sync_runs`; the next run of each
account closes them).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType

from syncer.clock import Clock
from syncer.errors import EXIT_ACCOUNT_FAILED

log = logging.getLogger(__name__)


class Lifecycle:
    """Which accounts are running, and whether new runs may start."""

    def __init__(self, stop_timeout: float, clock: Clock) -> None:
        self.stop_timeout = stop_timeout
        self.stop = threading.Event()  # the runs' flag: stop at the next page or pause
        self._clock = clock
        self._requested = threading.Event()
        self._reason = "stop requested"
        self._condition = threading.Condition()
        self._active: set[str] = set()
        self._stopping = False

    # -- the stop request ------------------------------------------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop taking new runs and ask the running ones to stop; safe in a signal handler."""
        self.stop.set()
        self._reason = reason
        self._requested.set()

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT request the stop; a second one exits at once (main thread)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._requested.is_set():
            sys.stderr.write(f"{name} again: exiting now; runs in progress stay `running`\n")
            sys.stderr.flush()
            os._exit(EXIT_ACCOUNT_FAILED)
        self.request_stop(name)

    def wait_for_request(self) -> None:
        """Block until a stop is requested, then take no new run and say who is busy."""
        self._requested.wait()
        with self._condition:
            self._stopping = True
            busy = sorted(self._active)
        log.info(
            "stopping (%s): no new runs; %s",
            self._reason,
            f"waiting up to {self.stop_timeout:.0f}s for the run(s) of {', '.join(busy)} "
            "to record where they stopped"
            if busy
            else "no run in progress",
            extra={"event": "daemon_stopping"},
        )

    # -- the runs in progress --------------------------------------------------------------

    def begin(self, account: str) -> bool:
        """Note that `account` starts a run; False (and nothing noted) once stopping."""
        with self._condition:
            if self._stopping or self.stop.is_set():
                return False
            self._active.add(account)
            return True

    def end(self, account: str) -> None:
        with self._condition:
            self._active.discard(account)
            self._condition.notify_all()

    def wait_for_runs(self) -> bool:
        """Take no new run, and wait up to `stop_timeout` for the runs in progress to end;
        True when they all did."""
        deadline = self._clock.monotonic() + self.stop_timeout
        with self._condition:
            self._stopping = True
            self.stop.set()
            while self._active:
                remaining = deadline - self._clock.monotonic()
                # A wait that times out ends the stop timeout too (on any clock).
                timed_out = remaining <= 0 or not self._condition.wait(remaining)
                if timed_out and self._active:
                    log.error(
                        "stopped with run(s) still in progress after %.0fs: %s; the next run "
                        "of each closes it as interrupted",
                        self.stop_timeout,
                        ", ".join(sorted(self._active)),
                        extra={"event": "daemon_stopped"},
                    )
                    return False
        log.info("stopped", extra={"event": "daemon_stopped"})
        return True
