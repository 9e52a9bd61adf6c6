"""`syncer daemon`: every account on its schedule, until SIGTERM or SIGINT.

The scheduler is APScheduler 3's `BlockingScheduler` in UTC, one job per account:

- the account's `schedule` (a crontab with cron's own meaning, or `every N s|m|h`), else
  `DEFAULT_SCHEDULE` (every hour);
- jitter: each run starts up to `JITTER_FRACTION` of the period late (at most `MAX_JITTER`),
  so accounts, and replicas, do not all fire at once; interval runs stay on their grid;
- `coalesce` and `max_instances=1`: one run of an account at a time in a process, and runs
  missed while it was busy or asleep collapse into one;
- a misfire grace time of one period: a run that could not start on time (every worker busy,
  the machine suspended) still starts until its next tick is due, after which it is dropped;
- `--run-now` syncs every account at start, then follows the schedules.

Several replicas may run against one database. The per-account writer lock lets one run an
account at a time: a replica finding it busy skips the tick (logged at info). A replica also
skips a tick when the account's latest run, by any process, started less than half a period
ago, so replicas share the work instead of each syncing every account.

A failed run (provider down, key refused, database away) is logged and recorded; the next
tick runs as usual. Nothing here stops the daemon except a signal.

Stopping: the first SIGTERM/SIGINT stops new runs and asks the running ones to stop at their
next page (or retry pause); each records itself as failed ("interrupted"). The daemon waits
up to `stop_timeout` seconds for them and exits 0. If a run is still busy then (a request
hanging until its timeout), or a second signal comes, it exits 1 at once: the run stays
`running` in `sync_runs`, and the next run of the account closes it.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from syncer.clock import SYSTEM_CLOCK
from syncer.config import Config, ResolvedAccount
from syncer.errors import EXIT_ACCOUNT_FAILED, EXIT_OK, UsageError
from syncer.providers import ProviderClient
from syncer.providers.http import RequestObserver
from syncer.schedule import Schedule, cron_trigger, schedule_or_default
from syncer.store.engine import first_line
from syncer.sync import AccountSync, SyncInterrupted, SyncOptions, retry_policy

if TYPE_CHECKING:
    from syncer.metrics import Metrics

log = logging.getLogger(__name__)

JITTER_FRACTION = 0.1
MAX_JITTER = timedelta(minutes=5)
FRESH_FRACTION = 0.5
DEFAULT_STOP_TIMEOUT = 20.0

ClientFactory = Callable[
    [ResolvedAccount, "StoppableClock", RequestObserver | None], ProviderClient
]


@dataclass(frozen=True)
class DaemonOptions:
    """How the daemon runs. `metrics_port` None serves no metrics; 0 picks a free port."""

    run_now: bool = False
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    stop_timeout: float = DEFAULT_STOP_TIMEOUT


class StoppableClock:
    """The system clock, except that a wait (retry backoff, `Retry-After`) ends at a stop
    request by raising `SyncInterrupted`, so the run records itself instead of sleeping on."""

    def __init__(self, stop: threading.Event, account: str) -> None:
        self._stop = stop
        self._account = account

    def now(self) -> datetime:
        return SYSTEM_CLOCK.now()

    def monotonic(self) -> float:
        return SYSTEM_CLOCK.monotonic()

    def sleep(self, seconds: float) -> None:
        if self._stop.wait(max(0.0, seconds)):
            raise SyncInterrupted(
                f"{self._account}: interrupted by a stop request while waiting to retry"
            )


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


@dataclass
class AccountJob:
    """One account's schedule, client and timing, for the daemon's lifetime."""

    account: ResolvedAccount
    schedule: Schedule
    period: timedelta
    client: ProviderClient
    clock: StoppableClock

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def jitter(self) -> float:
        return jitter_seconds(self.period)

    @property
    def misfire_grace(self) -> int:
        return misfire_grace_seconds(self.period)

    @property
    def fresh_for(self) -> timedelta:
        return self.period * FRESH_FRACTION

    def trigger(self) -> Any:
        if self.schedule.interval is not None:
            return GridIntervalTrigger(
                seconds=self.schedule.interval.total_seconds(), jitter=self.jitter, timezone=UTC
            )
        assert self.schedule.crontab is not None
        return cron_trigger(self.schedule.crontab, jitter=self.jitter)


def default_client(config: Config) -> ClientFactory:
    """Real provider clients, with the config's retry policy and the daemon's clock."""
    policy = retry_policy(config)

    def make(
        account: ResolvedAccount, clock: StoppableClock, observer: RequestObserver | None
    ) -> ProviderClient:
        return ProviderClient(account, clock=clock, policy=policy, observer=observer)

    return make


@dataclass
class _Runs:
    """The accounts being synced right now, and whether new runs may start."""

    condition: threading.Condition = field(default_factory=threading.Condition)
    active: set[str] = field(default_factory=set)
    stopping: bool = False


class Daemon:
    """Runs the accounts on their schedules in this process until `request_stop`."""

    def __init__(
        self,
        config: Config,
        accounts: Sequence[ResolvedAccount],
        options: DaemonOptions | None = None,
        *,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.config = config
        self.accounts = list(accounts)
        self.options = options or DaemonOptions()
        self.metrics: Metrics | None = None  # when serving metrics
        self.metrics_url: str | None = None
        self._make_client = client_factory or default_client(config)
        self._sync_options = SyncOptions()
        self._stop_requested = threading.Event()
        self._stop_reason = "stop requested"
        self._started = threading.Event()
        self._runs = _Runs()
        self._run_now = {account.name for account in accounts} if self.options.run_now else set()
        self._jobs: dict[str, AccountJob] = {}
        self._engine: Engine | None = None
        self._metrics_server: Any = None
        workers = max(1, min(config.parallel_accounts, len(self.accounts)))
        self._scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._workers = workers

    # -- running and stopping ------------------------------------------------------------

    def run(self, *, handle_signals: bool = True) -> bool:
        """Run until a stop request; True when every run in progress stopped in time.

        With `handle_signals`, SIGTERM and SIGINT request the stop (main thread only).
        """
        try:
            self._prepare()
        except BaseException:
            self._close()
            raise
        if handle_signals:
            signal.signal(signal.SIGTERM, self._on_signal)
            signal.signal(signal.SIGINT, self._on_signal)
        threading.Thread(target=self._stop_when_requested, name="syncer-stop", daemon=True).start()
        try:
            self._scheduler.start()
        finally:
            clean = self._wait_for_runs()
            if clean:
                self._close()
        return clean

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop taking new runs and ask the running ones to stop; safe in a signal handler."""
        self._sync_options.stop.set()
        self._stop_reason = reason
        self._stop_requested.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stop_requested.is_set():
            sys.stderr.write(f"{name} again: exiting now; runs in progress stay `running`\n")
            sys.stderr.flush()
            os._exit(EXIT_ACCOUNT_FAILED)
        self.request_stop(name)

    def _stop_when_requested(self) -> None:
        self._stop_requested.wait()
        with self._runs.condition:
            self._runs.stopping = True
            busy = sorted(self._runs.active)
        log.info(
            "stopping (%s): no new runs; %s",
            self._stop_reason,
            f"waiting up to {self.options.stop_timeout:.0f}s for the run(s) of {', '.join(busy)} "
            "to record where they stopped"
            if busy
            else "no run in progress",
            extra={"event": "daemon_stopping"},
        )
        self._started.wait()
        self._scheduler.shutdown(wait=False)

    def _wait_for_runs(self) -> bool:
        deadline = time.monotonic() + self.options.stop_timeout
        with self._runs.condition:
            self._runs.stopping = True
            self._sync_options.stop.set()
            while self._runs.active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.error(
                        "stopped with run(s) still in progress after %.0fs: %s; the next run "
                        "of each closes it as interrupted",
                        self.options.stop_timeout,
                        ", ".join(sorted(self._runs.active)),
                        extra={"event": "daemon_stopped"},
                    )
                    return False
                self._runs.condition.wait(remaining)
        log.info("stopped", extra={"event": "daemon_stopped"})
        return True

    # -- set-up and tear-down ------------------------------------------------------------

    def _prepare(self) -> None:
        from syncer.logs import register_secrets
        from syncer.store.engine import check_schema, check_writable, make_engine

        register_secrets(account.api_key.get_secret_value() for account in self.accounts)
        self._engine = make_engine(self.config.database_url, pool_size=2 * self._workers + 2)
        check_schema(self._engine)
        check_writable(self._engine)
        if self.options.metrics_port is not None:
            from syncer.metrics import Metrics

            self.metrics = Metrics()
            self._refresh_gauges()
            self._serve_metrics(self.metrics, self.options.metrics_port)
        now = datetime.now(UTC)
        for account in self.accounts:
            self._add_job(account, now)
        self._scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)

    def _add_job(self, account: ResolvedAccount, now: datetime) -> None:
        clock = StoppableClock(self._sync_options.stop, account.name)
        observer: RequestObserver | None = None
        if self.metrics is not None:
            self.metrics.add_account(account.name, account.provider)
            observer = partial(self.metrics.observe_request, account.name)
        schedule = schedule_or_default(account.config.parsed_schedule)
        job = AccountJob(
            account,
            schedule,
            schedule.period(now),
            self._make_client(account, clock, observer),
            clock,
        )
        self._jobs[account.name] = job
        extra: dict[str, Any] = {"next_run_time": now} if account.name in self._run_now else {}
        self._scheduler.add_job(
            self._tick,
            trigger=job.trigger(),
            args=[job],
            id=account.name,
            name=f"sync {account.name}",
            misfire_grace_time=job.misfire_grace,
            **extra,
        )

    def _serve_metrics(self, metrics: Metrics, port: int) -> None:
        from prometheus_client import start_http_server

        host = self.options.metrics_host
        try:
            server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise UsageError(
                f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror}"
            ) from None
        self._metrics_server = server
        self.metrics_url = f"http://{host}:{server.server_port}/metrics"
        log.info("serving metrics at %s", self.metrics_url, extra={"event": "metrics_serving"})

    def _on_started(self, _event: SchedulerEvent) -> None:
        for scheduled in self._scheduler.get_jobs():
            job = self._jobs[scheduled.id]
            log.info(
                "%s: scheduled %s (jitter up to %.1fs), next run at %s",
                job.name,
                job.schedule.text,
                job.jitter,
                f"{scheduled.next_run_time:%Y-%m-%dT%H:%M:%S}Z",
                extra={"account": job.name, "provider": job.account.provider, "event": "scheduled"},
            )
        log.info(
            "daemon started: %d account(s), at most %d at a time",
            len(self._jobs),
            self._workers,
            extra={"event": "daemon_started"},
        )
        self._started.set()

    def _close(self) -> None:
        for job in self._jobs.values():
            job.client.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
        if self._engine is not None:
            self._engine.dispose()

    # -- one tick of one account ---------------------------------------------------------

    def _tick(self, job: AccountJob) -> None:
        with self._runs.condition:
            if self._runs.stopping or self._sync_options.stop.is_set():
                return
            self._runs.active.add(job.name)
        fields = {"account": job.name, "provider": job.account.provider, "event": "run_error"}
        try:
            self._sync(job)
        except SQLAlchemyError as exc:  # the database is away: one line, not a traceback
            log.error("%s: database error: %s", job.name, first_line(exc), extra=fields)
        except Exception:  # one account's bug must not end the daemon
            log.exception(
                "%s: unexpected error; the next run follows the schedule", job.name, extra=fields
            )
        finally:
            with self._runs.condition:
                self._runs.active.discard(job.name)
                self._runs.condition.notify_all()

    def _sync(self, job: AccountJob) -> None:
        assert self._engine is not None
        forced = job.name in self._run_now
        self._run_now.discard(job.name)
        if not forced and self._ran_recently(job):
            self._refresh_gauges()
            return
        result = AccountSync(
            self._engine, self.config, job.client, clock=job.clock, options=self._sync_options
        ).run()
        if self.metrics is not None:
            self.metrics.observe_run(result)
        self._refresh_gauges()

    def _refresh_gauges(self) -> None:
        """Read the inventory and last successes again (two GROUP BYs): the database is
        shared, so they change with every replica's runs, not only with this one's."""
        from syncer.status import inventory, last_successes

        if self.metrics is not None and self._engine is not None:
            self.metrics.set_inventory(inventory(self._engine))
            self.metrics.set_last_successes(last_successes(self._engine))

    def _ran_recently(self, job: AccountJob) -> bool:
        """Whether a run of the account (by any replica) started less than half a period ago."""
        from syncer.status import last_run_started

        assert self._engine is not None
        started = last_run_started(self._engine, job.account.provider, job.name)
        if started is None:
            return False
        age = datetime.now(UTC) - started
        if age >= job.fresh_for:
            return False
        log.info(
            "%s: skipped: its last run started %.1fs ago, less than half its schedule (%s)",
            job.name,
            age.total_seconds(),
            job.schedule.text,
            extra={
                "account": job.name,
                "provider": job.account.provider,
                "event": "run_skipped",
                "status": "skipped",
            },
        )
        if self.metrics is not None:
            self.metrics.observe_skip(job.name, job.account.provider)
        return True


def run_daemon(config: Config, accounts: Sequence[ResolvedAccount], options: DaemonOptions) -> int:
    """`syncer daemon`: run until SIGTERM/SIGINT; the exit code (0 when it stopped cleanly).

    When a run did not stop within `stop_timeout`, the process ends here with exit code 1
    without waiting for it (its worker thread would otherwise keep the interpreter alive).
    """
    daemon = Daemon(config, accounts, options)
    if daemon.run():
        return EXIT_OK
    logging.shutdown()
    os._exit(EXIT_ACCOUNT_FAILED)
