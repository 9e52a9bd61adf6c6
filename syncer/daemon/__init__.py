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

The parts, each in its module: `jobs` (schedules as APScheduler jobs and triggers),
`lifecycle` (signals, the stop request, the runs in progress and the stop timeout), `ticks`
(one tick: run or skip, and what the observer is told), `runner` (what runs one account:
`AccountSync`). `Daemon` puts them together; the clock, the runner and the observer (the
Prometheus metrics, `syncer.metrics`) are passed in.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy import Engine

from syncer.clock import SYSTEM_CLOCK, Clock
from syncer.config import Config, ResolvedAccount
from syncer.daemon.jobs import (
    FRESH_FRACTION,
    JITTER_FRACTION,
    MAX_JITTER,
    AccountJob,
    GridIntervalTrigger,
    Scheduler,
    jitter_seconds,
    misfire_grace_seconds,
)
from syncer.daemon.lifecycle import Lifecycle
from syncer.daemon.runner import (
    ClientFactory,
    Runner,
    StoppableClock,
    SyncRunner,
    provider_clients,
)
from syncer.daemon.ticks import LastRunStarted, NoObserver, TickObserver, Ticks, recent_run_age
from syncer.errors import EXIT_ACCOUNT_FAILED, EXIT_OK

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "FRESH_FRACTION",
    "JITTER_FRACTION",
    "MAX_JITTER",
    "AccountJob",
    "ClientFactory",
    "Daemon",
    "DaemonOptions",
    "GridIntervalTrigger",
    "Lifecycle",
    "NoObserver",
    "Runner",
    "Scheduler",
    "StoppableClock",
    "SyncRunner",
    "TickObserver",
    "Ticks",
    "jitter_seconds",
    "misfire_grace_seconds",
    "recent_run_age",
    "run_daemon",
]

DEFAULT_STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class DaemonOptions:
    """How the daemon runs. `metrics_port` None serves no metrics; 0 picks a free port."""

    run_now: bool = False
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    stop_timeout: float = DEFAULT_STOP_TIMEOUT


class Daemon:
    """Runs the accounts on their schedules in this process until `request_stop`.

    `runner` runs one account (default: `AccountSync` with real provider clients from
    `client_factory`); `observer` is told of every tick and request (default: nobody);
    `last_run_started` says when an account last ran (default: from `sync_runs`).
    """

    def __init__(
        self,
        engine: Engine,
        config: Config,
        accounts: Sequence[ResolvedAccount],
        options: DaemonOptions | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        runner: Runner | None = None,
        observer: TickObserver | None = None,
        client_factory: ClientFactory | None = None,
        last_run_started: LastRunStarted | None = None,
    ) -> None:
        from syncer.reports.health import last_run_started as stored_last_run_started

        self.accounts = list(accounts)
        self.options = options or DaemonOptions()
        self.lifecycle = Lifecycle(self.options.stop_timeout, clock)
        self.scheduler = Scheduler(max(1, min(config.parallel_accounts, len(self.accounts))))
        self._clock = clock
        self._observer = observer or NoObserver()
        self._runner = runner or SyncRunner(
            engine,
            config,
            client_factory or provider_clients(config),
            self._observer.request_done,
        )
        self._ticks = Ticks(
            self._runner,
            self.lifecycle,
            clock,
            last_run_started or partial(stored_last_run_started, engine),
            self._observer,
            run_now=[a.name for a in self.accounts] if self.options.run_now else (),
        )

    def run(self, *, handle_signals: bool = True) -> bool:
        """Run until a stop request; True when every run in progress stopped in time.

        With `handle_signals`, SIGTERM and SIGINT request the stop (main thread only).
        """
        now = self._clock.now()
        for account in self.accounts:
            stop = self.lifecycle.stop
            clock = StoppableClock(self._clock, stop, account.name)
            self._observer.account_scheduled(account.name, account.provider)
            self.scheduler.add(
                AccountJob.plan(account, now, clock, stop),
                self._ticks,
                first_run=now if self.options.run_now else None,
            )
        if handle_signals:
            self.lifecycle.handle_signals()
        threading.Thread(target=self._stop_when_requested, name="syncer-stop", daemon=True).start()
        try:
            self.scheduler.start()
        finally:
            clean = self.lifecycle.wait_for_runs()
            if clean:
                self._runner.close()
        return clean

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop taking new runs and ask the running ones to stop; safe in a signal handler."""
        self.lifecycle.request_stop(reason)

    def _stop_when_requested(self) -> None:
        self.lifecycle.wait_for_request()
        self.scheduler.shutdown()


def run_daemon(config: Config, accounts: Sequence[ResolvedAccount], options: DaemonOptions) -> int:
    """`syncer daemon`: run until SIGTERM/SIGINT; the exit code (0 when it stopped cleanly).

    Checks the database first (schema, write access) and serves the metrics when asked. When
    a run did not stop within `stop_timeout`, the process ends here with exit code 1 without
    waiting for it (its worker thread would otherwise keep the interpreter alive).
    """
    from syncer.logs import register_secrets
    from syncer.store.engine import check_schema, check_writable, make_engine

    register_secrets(account.api_key.get_secret_value() for account in accounts)
    workers = max(1, min(config.parallel_accounts, len(accounts)))
    engine = make_engine(config.database_url, pool_size=2 * workers + 2)
    server = None
    try:
        check_schema(engine)
        check_writable(engine)
        observer: TickObserver | None = None
        if options.metrics_port is not None:
            from syncer.metrics import Metrics, serve_metrics
            from syncer.reports.health import mirror_gauges

            metrics = Metrics(partial(mirror_gauges, engine))
            metrics.refresh()
            server = serve_metrics(metrics, options.metrics_host, options.metrics_port)
            observer = metrics
        clean = Daemon(engine, config, accounts, options, observer=observer).run()
    except BaseException:
        if server is not None:
            server.close()
        engine.dispose()
        raise
    if clean:
        if server is not None:
            server.close()
        engine.dispose()
        return EXIT_OK
    logging.shutdown()
    os._exit(EXIT_ACCOUNT_FAILED)
