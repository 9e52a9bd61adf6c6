"""One tick of one account: run it, or skip it because another replica just did; tell the
observer either way; and keep whatever goes wrong with that account.

Several replicas may run against one database. Besides the writer lock (a replica finding the
account busy skips the tick), a replica skips a tick when the account's latest run, by any
process, started less than half a period ago (`recent_run_age`), so replicas share the work
instead of each syncing every account. A `--run-now` account's first tick always runs.

A tick that fails before its run could start (the database unreachable, a lock error, a bug)
is logged with the account and counted by the observer as a failed run: there is no row in
`sync_runs` to tell of it. The next tick runs as usual.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from syncer.clock import Clock
from syncer.daemon.jobs import AccountJob
from syncer.daemon.lifecycle import Lifecycle
from syncer.daemon.runner import Runner
from syncer.outcomes import RunOutcome
from syncer.store.engine import first_line
from syncer.sync import AccountResult

log = logging.getLogger(__name__)

LastRunStarted = Callable[[str, str], "datetime | None"]  # (provider, account) -> started_at


class TickObserver(Protocol):
    """Told what each tick did (the daemon's metrics are one)."""

    def account_scheduled(self, account: str, provider: str) -> None: ...
    def request_done(self, account: str, provider: str, outcome: str, retrying: bool) -> None: ...
    def run_finished(self, result: AccountResult) -> None: ...
    def run_skipped(self, account: str, provider: str) -> None: ...
    def tick_failed(self, account: str, provider: str) -> None: ...
    def tick_done(self) -> None:
        """After every tick: the shared database may have changed (by any replica)."""
        ...


class NoObserver:
    def account_scheduled(self, account: str, provider: str) -> None:
        pass

    def request_done(self, account: str, provider: str, outcome: str, retrying: bool) -> None:
        pass

    def run_finished(self, result: AccountResult) -> None:
        pass

    def run_skipped(self, account: str, provider: str) -> None:
        pass

    def tick_failed(self, account: str, provider: str) -> None:
        pass

    def tick_done(self) -> None:
        pass


def recent_run_age(
    last_started: datetime | None, now: datetime, fresh_for: timedelta
) -> timedelta | None:
    """How long ago the account's latest run started, when that is less than `fresh_for`
    (then this tick is left to the replica that ran it); None when the tick should run."""
    if last_started is None:
        return None
    age = now - last_started
    return age if age < fresh_for else None


class Ticks:
    """What the scheduler calls for each due account (one tick at a time per account)."""

    def __init__(
        self,
        runner: Runner,
        lifecycle: Lifecycle,
        clock: Clock,
        last_run_started: LastRunStarted,
        observer: TickObserver | None = None,
        run_now: Iterable[str] = (),
    ) -> None:
        self._runner = runner
        self._lifecycle = lifecycle
        self._clock = clock
        self._last_run_started = last_run_started
        self._observer = observer or NoObserver()
        self._run_now = set(run_now)
        self._run_now_lock = threading.Lock()

    def __call__(self, job: AccountJob) -> None:
        if not self._lifecycle.begin(job.name):
            return  # stopping: no new run
        try:
            self._tick(job)
        finally:
            self._lifecycle.end(job.name)

    def _tick(self, job: AccountJob) -> None:
        fields = {"account": job.name, "provider": job.provider, "event": "run_error"}
        observed = False
        try:
            observed = self._run_or_skip(job)
            self._observer.tick_done()
        except SQLAlchemyError as exc:  # the database is away: one line, not a traceback
            log.error("%s: database error: %s", job.name, first_line(exc), extra=fields)
            if not observed:
                self._observer.tick_failed(job.name, job.provider)
        except Exception:  # one account's bug must not end the daemon
            log.exception(
                "%s: unexpected error; the next run follows the schedule", job.name, extra=fields
            )
            if not observed:
                self._observer.tick_failed(job.name, job.provider)

    def _run_or_skip(self, job: AccountJob) -> bool:
        """Run the account, or skip it; True once the observer has been told which."""
        with self._run_now_lock:
            forced = job.name in self._run_now
            self._run_now.discard(job.name)
        if not forced:
            started = self._last_run_started(job.provider, job.name)
            age = recent_run_age(started, self._clock.now(), job.fresh_for)
            if age is not None:
                log.info(
                    "%s: skipped: its last run started %.1fs ago, less than half its schedule (%s)",
                    job.name,
                    age.total_seconds(),
                    job.schedule.text,
                    extra={
                        "account": job.name,
                        "provider": job.provider,
                        "event": "run_skipped",
                        "status": RunOutcome.SKIPPED.value,
                    },
                )
                self._observer.run_skipped(job.name, job.provider)
                return True
        result = self._runner.run(job)
        self._observer.run_finished(result)
        return True
