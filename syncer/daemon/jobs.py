"""Jobs and triggers: each account's schedule as an APScheduler 3 job.

The scheduler is APScheduler 3's `BlockingScheduler` in UTC, one job per account (see the
package doc for the rules: jitter, coalescing, misfire grace, `--run-now`). APScheduler reads
the wall clock to fire jobs; what the daemon decides itself reads its injected clock.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncer.clock import Clock
from syncer.config import ResolvedAccount
from syncer.schedule import Schedule, cron_trigger, schedule_or_default
from syncer.timestamps import iso_z_seconds

log = logging.getLogger(__name__)

JITTER_FRACTION = 0.1
MAX_JITTER = timedelta(minutes=5)
FRESH_FRACTION = 0.5


class GridIntervalTrigger(IntervalTrigger):  # type: ignore[misc]
    """An interval trigger whose runs stay on `start + k x interval`, each plus its own jitter.

    APScheduler 3's own computes the next run from the previous *jittered* one, so every
    jitter would push all later runs back ("every 10m" would average 10m30s).
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return super().get_next_fire_time(None, now)  # type: ignore[no-any-return]
        start = self.start_date.timestamp()
        elapsed = previous_fire_time.timestamp() - start
        # The first tick on the grid after the previous run (`--run-now` runs before the grid).
        ticks = max(0, math.floor(elapsed / self.interval_length) + 1)
        next_fire_time = start + ticks * self.interval_length
        if self.jitter:
            next_fire_time += random.uniform(0, self.jitter)
        return datetime.fromtimestamp(next_fire_time, tz=UTC)


def jitter_seconds(period: timedelta) -> float:
    """How late, at most, a run may start: a tenth of the period, at most `MAX_JITTER`."""
    return min(period * JITTER_FRACTION, MAX_JITTER).total_seconds()


def misfire_grace_seconds(period: timedelta) -> int:
    """How late a run that could not start on time may still start: one period (>= 1s)."""
    return max(1, int(period.total_seconds()))


@dataclass(frozen=True)
class AccountJob:
    """One account's schedule and timing for the daemon's lifetime, and what its runs get:
    a clock (whose waits end at a stop request) and the stop flag itself."""

    account: ResolvedAccount
    schedule: Schedule
    period: timedelta
    clock: Clock
    stop: threading.Event

    @classmethod
    def plan(
        cls, account: ResolvedAccount, now: datetime, clock: Clock, stop: threading.Event
    ) -> AccountJob:
        """The account's job: its schedule (or the default), with the period as of `now`."""
        schedule = schedule_or_default(account.config.parsed_schedule)
        return cls(account, schedule, schedule.period(now), clock, stop)

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def provider(self) -> str:
        return self.account.provider

    @property
    def jitter(self) -> float:
        return jitter_seconds(self.period)

    @property
    def misfire_grace(self) -> int:
        return misfire_grace_seconds(self.period)

    @property
    def fresh_for(self) -> timedelta:
        """How long after a run (by any replica) this account's ticks are skipped."""
        return self.period * FRESH_FRACTION

    def trigger(self) -> Any:
        if self.schedule.interval is not None:
            return GridIntervalTrigger(
                seconds=self.schedule.interval.total_seconds(), jitter=self.jitter, timezone=UTC
            )
        assert self.schedule.crontab is not None
        return cron_trigger(self.schedule.crontab, jitter=self.jitter)


class Scheduler:
    """The accounts' jobs on one `BlockingScheduler`, `workers` runs at a time.

    `start` blocks until `shutdown` (from another thread); `started` is set once every job
    has its first fire time, which is logged.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.started = threading.Event()
        self._jobs: dict[str, AccountJob] = {}
        self._scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)

    def add(
        self, job: AccountJob, tick: Callable[[AccountJob], None], first_run: datetime | None
    ) -> None:
        """Schedule `tick(job)` on the job's trigger; first at `first_run` when given."""
        self._jobs[job.name] = job
        extra: dict[str, Any] = {"next_run_time": first_run} if first_run is not None else {}
        self._scheduler.add_job(
            tick,
            trigger=job.trigger(),
            args=[job],
            id=job.name,
            name=f"sync {job.name}",
            misfire_grace_time=job.misfire_grace,
            **extra,
        )

    def scheduled(self) -> Sequence[Any]:
        """APScheduler's jobs (before `start`, their triggers; after, their fire times too)."""
        return list(self._scheduler.get_jobs())

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """End `start` once it has started; runs in progress go on (the lifecycle waits)."""
        self.started.wait()
        self._scheduler.shutdown(wait=False)

    def _on_started(self, _event: SchedulerEvent) -> None:
        for scheduled in self._scheduler.get_jobs():
            job = self._jobs[scheduled.id]
            log.info(
                "%s: scheduled %s (jitter up to %.1fs), next run at %s",
                job.name,
                job.schedule.text,
                job.jitter,
                iso_z_seconds(scheduled.next_run_time.timestamp()),
                extra={"account": job.name, "provider": job.provider, "event": "scheduled"},
            )
        log.info(
            "daemon started: %d account(s), at most %d at a time",
            len(self._jobs),
            self.workers,
            extra={"event": "daemon_started"},
        )
        self.started.set()
