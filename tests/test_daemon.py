"""The daemon in-process, part by part: jobs, ticks, the stop, the runner, metrics.

Each part gets what it depends on passed in: a fake clock, a runner of the test's own (or the
real one with `httpx.MockTransport` providers), a real SQLite database. Nothing is patched and
nothing waits on the clock: a test waits only for an event that its own fakes set. The whole
daemon as a process, with real signals and schedules, is in `test_daemon_process.py`.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine, select

from syncer.clock import SYSTEM_CLOCK, Clock
from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.daemon import (
    AccountJob,
    Daemon,
    DaemonOptions,
    GridIntervalTrigger,
    Lifecycle,
    Scheduler,
    StoppableClock,
    SyncRunner,
    Ticks,
    recent_run_age,
)
from syncer.errors import UsageError
from syncer.metrics import Metrics, serve_metrics
from syncer.providers import ProviderClient, RetryPolicy
from syncer.providers.http import RequestObserver
from syncer.reports.health import last_run_started, mirror_gauges
from syncer.store import writes
from syncer.store.engine import in_transaction, make_engine
from syncer.store.models import SyncRun
from syncer.sync import AccountResult, RunCounts, SyncInterrupted
from tests.conftest import FakeClock
from tests.fakes import FakeRingyo, FakeTryVox, ringyo_item, tryvox_item
from tests.invariants import assert_history_invariants, running_runs

Handler = Callable[[httpx.Request], httpx.Response]
NOON = datetime(2026, 10, 3, 12, 0, tzinfo=UTC)  # a Saturday
WAIT = 60.0  # how long a test waits for an event its fakes set before it fails


def account(
    name: str, schedule: str | None = "every 1h", provider: str = "tryvox"
) -> ResolvedAccount:
    extra: dict[str, Any] = {"account_id": f"acc_{name}"} if provider == "tryvox" else {}
    config = AccountConfig(
        name=name,
        provider=provider,
        api_key_env="UNUSED",
        base_url=f"https://api.{provider}.test",
        schedule=schedule,
        **extra,
    )
    # A key of its own per test: a 429 pauses every request made with the same key.
    return ResolvedAccount(config, SecretStr(f"key_{name}_{uuid.uuid4().hex}"))


def job_of(resolved: ResolvedAccount, clock: Clock, stop: threading.Event | None = None) -> Any:
    stop = stop or threading.Event()
    return AccountJob.plan(resolved, clock.now(), StoppableClock(clock, stop, resolved.name), stop)


def result(job: Any, status: str = "succeeded", complete: bool = True) -> AccountResult:
    counts = RunCounts(pages=1, seen=3, created=3)
    return AccountResult(
        job.name, job.provider, status, counts, complete=complete, started_at=job.clock.now()
    )


class FakeRunner:
    """Runs nothing: records each call, then does what `behave(job, call)` says (default: a
    complete success). `started` is set at every call."""

    def __init__(self, behave: Callable[[Any, int], AccountResult] | None = None) -> None:
        self.calls: list[str] = []
        self.started = threading.Event()
        self.closed = False
        self._behave = behave or (lambda job, _call: result(job))

    def run(self, job: Any) -> AccountResult:
        self.calls.append(job.name)
        self.started.set()
        return self._behave(job, self.calls.count(job.name))

    def close(self) -> None:
        self.closed = True


def samples(metrics: Metrics) -> dict[str, list[Any]]:
    """The metrics as a scraper reads them (the text exposition, parsed)."""
    text = generate_latest(metrics.registry).decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    for family in samples(metrics).values():
        for s in family:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def add_run(engine: Engine, name: str, started: datetime, status: str = "succeeded") -> None:
    def write(connection: Any) -> None:
        run_id = writes.start_run(connection, "tryvox", name, started)
        writes.update_run(
            connection, run_id, status=status, finished_at=started, listing_complete=True
        )

    in_transaction(engine, write)


def ticks(engine: Engine, runner: Any, clock: Clock, **kwargs: Any) -> Ticks:
    lifecycle = kwargs.pop("lifecycle", None) or Lifecycle(10, clock)
    return Ticks(runner, lifecycle, clock, partial(last_run_started, engine), **kwargs)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


# -- jobs and triggers -----------------------------------------------------------------------


def test_each_account_gets_a_job_on_its_own_schedule() -> None:
    clock = FakeClock(NOON)
    scheduler = Scheduler(workers=2)
    plans = {
        "every-10m": account("every-10m", "every 10m"),
        "weekdays": account("weekdays", "0 9 * * 1-5"),
        "default": account("default", None),
    }
    for resolved in plans.values():
        job = job_of(resolved, clock)
        scheduler.add(job, lambda _job: None, first_run=NOON if job.name == "weekdays" else None)
    jobs = {job.id: job for job in scheduler.scheduled()}

    interval = jobs["every-10m"]
    assert isinstance(interval.trigger, GridIntervalTrigger)
    assert interval.trigger.jitter == 60  # a tenth of the period
    assert interval.misfire_grace_time == 600  # one period
    assert jobs["default"].args[0].period == timedelta(hours=1)
    assert jobs["default"].trigger.jitter == 300  # at most five minutes

    weekdays = jobs["weekdays"]
    # On a Saturday the next two runs are Monday and Tuesday 09:00: the period is a day.
    assert weekdays.args[0].period == timedelta(days=1)
    assert weekdays.misfire_grace_time == 86400
    assert weekdays.next_run_time == NOON  # --run-now: at once, by the injected clock
    first = weekdays.trigger.get_next_fire_time(None, NOON)
    assert datetime(2026, 10, 5, 9, 0, tzinfo=UTC) <= first
    assert first <= datetime(2026, 10, 5, 9, 5, tzinfo=UTC)


# -- one tick --------------------------------------------------------------------------------


def test_a_tick_runs_the_account_and_the_observer_counts_it(engine: Engine) -> None:
    clock = FakeClock(NOON)
    runner, metrics = FakeRunner(), Metrics()
    vox = account("vox-a")
    metrics.account_scheduled(vox.name, vox.provider)
    tick = ticks(engine, runner, clock, observer=metrics)
    tick(job_of(vox, clock))
    assert runner.calls == ["vox-a"]
    assert value(metrics, "syncer_runs_total", account="vox-a", status="succeeded") == 1
    assert value(metrics, "syncer_runs_total", account="vox-a", status="failed") == 0
    assert value(metrics, "syncer_records_seen_total", account="vox-a") == 3
    assert value(metrics, "syncer_run_duration_seconds_count", account="vox-a") == 1
    assert value(metrics, "syncer_last_success_timestamp_seconds") == NOON.timestamp()


def test_a_tick_is_left_to_the_replica_that_just_ran_the_account(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(NOON)
    add_run(engine, "vox-a", NOON)  # by another replica; "every 1h": fresh for 30 minutes
    runner, metrics = FakeRunner(), Metrics()
    tick = ticks(engine, runner, clock, observer=metrics)
    job = job_of(account("vox-a"), clock)

    clock.advance(30 * 60 - 1)
    with caplog.at_level("INFO"):
        tick(job)
    assert runner.calls == []
    assert "vox-a: skipped: its last run started 1799.0s ago, less than half its schedule" in (
        caplog.text
    )
    assert value(metrics, "syncer_runs_total", account="vox-a", status="skipped") == 1

    clock.advance(1)
    tick(job)
    assert runner.calls == ["vox-a"]


def test_recent_run_age_is_the_skip_decision() -> None:
    half_hour = timedelta(minutes=30)
    assert recent_run_age(None, NOON, half_hour) is None  # never ran
    assert recent_run_age(NOON, NOON + timedelta(minutes=29), half_hour) == timedelta(minutes=29)
    assert recent_run_age(NOON, NOON + half_hour, half_hour) is None
    # Another replica's clock a little ahead: its run is still recent.
    assert recent_run_age(NOON + timedelta(seconds=5), NOON, half_hour) == timedelta(seconds=-5)


def test_a_run_now_tick_runs_even_right_after_another_run(engine: Engine) -> None:
    clock = FakeClock(NOON)
    add_run(engine, "vox-a", NOON)
    runner = FakeRunner()
    tick = ticks(engine, runner, clock, run_now=["vox-a"])
    job = job_of(account("vox-a"), clock)
    tick(job)
    tick(job)  # only the first tick is forced
    assert runner.calls == ["vox-a"]


def test_an_unexpected_error_is_logged_counted_and_the_next_tick_runs(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    def buggy_first(job: Any, call: int) -> AccountResult:
        if call == 1:
            raise RuntimeError("a bug in the first run")
        return result(job)

    clock = FakeClock(NOON)
    runner, metrics = FakeRunner(buggy_first), Metrics()
    tick = ticks(engine, runner, clock, observer=metrics)
    job = job_of(account("vox-buggy", "every 1s"), clock)
    with caplog.at_level("INFO"):
        tick(job)
        tick(job)
    assert runner.calls == ["vox-buggy", "vox-buggy"]
    assert "vox-buggy: unexpected error; the next run follows the schedule" in caplog.text
    assert "RuntimeError: a bug in the first run" in caplog.text
    assert value(metrics, "syncer_runs_total", account="vox-buggy", status="failed") == 1
    assert value(metrics, "syncer_runs_total", account="vox-buggy", status="succeeded") == 1


def test_a_tick_that_fails_before_its_run_starts_is_counted_as_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database without syncer's tables: asking when the account last ran fails.
    (tmp_path / "no-tables.db").touch()  # an empty SQLite database; a missing one is refused
    broken = make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")
    try:
        clock = FakeClock(NOON)
        runner, metrics = FakeRunner(), Metrics()
        tick = ticks(broken, runner, clock, observer=metrics)
        with caplog.at_level("INFO"):
            tick(job_of(account("vox-a"), clock))
    finally:
        broken.dispose()
    assert runner.calls == []
    assert "vox-a: database error: no such table: sync_runs" in caplog.text
    assert value(metrics, "syncer_runs_total", account="vox-a", status="failed") == 1
    assert value(metrics, "syncer_run_duration_seconds_count", account="vox-a") is None


def test_no_run_starts_once_a_stop_is_requested(engine: Engine) -> None:
    clock = FakeClock(NOON)
    lifecycle = Lifecycle(10, clock)
    runner, metrics = FakeRunner(), Metrics()
    tick = ticks(engine, runner, clock, observer=metrics, lifecycle=lifecycle)
    lifecycle.request_stop("test")
    tick(job_of(account("vox-a"), clock))
    assert runner.calls == []
    assert value(metrics, "syncer_runs_total", account="vox-a") is None


# -- stopping --------------------------------------------------------------------------------


def test_the_stop_waits_for_the_runs_in_progress() -> None:
    lifecycle = Lifecycle(30, FakeClock(NOON))
    assert lifecycle.begin("vox-a")
    ended = threading.Thread(target=lifecycle.end, args=["vox-a"])
    ended.start()
    assert lifecycle.wait_for_runs()  # woken by the run's end, not by a clock
    ended.join()
    assert lifecycle.stop.is_set()
    assert not lifecycle.begin("vox-b")  # no new run after the stop


def test_a_run_still_busy_after_the_stop_timeout_leaves_the_stop_unclean(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifecycle = Lifecycle(0, FakeClock(NOON))
    assert lifecycle.begin("vox-slow")
    with caplog.at_level("INFO"):
        assert not lifecycle.wait_for_runs()
    assert "stopped with run(s) still in progress after 0s: vox-slow" in caplog.text


# -- the daemon as a whole (APScheduler, `--run-now`, a stop) --------------------------------


def run_in_thread(daemon: Daemon) -> tuple[threading.Thread, list[bool]]:
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(daemon.run(handle_signals=False)))
    thread.start()
    return thread, outcome


def stop_and_join(daemon: Daemon, thread: threading.Thread) -> None:
    daemon.request_stop("test over")
    thread.join(timeout=WAIT)
    assert not thread.is_alive(), "the daemon did not stop"


def config_of(engine: Engine, *accounts: ResolvedAccount) -> Config:
    return Config(database_url=str(engine.url), accounts=[a.config for a in accounts])


def test_run_now_syncs_every_account_at_start_then_a_stop_ends_the_daemon(
    engine: Engine,
) -> None:
    accounts = [account("vox-a"), account("vox-b")]
    seen = {a.name: threading.Event() for a in accounts}

    def mark(job: Any, _call: int) -> AccountResult:
        seen[job.name].set()
        return result(job)

    runner = FakeRunner(mark)
    daemon = Daemon(
        engine,
        config_of(engine, *accounts),
        accounts,
        DaemonOptions(run_now=True),
        runner=runner,
    )
    thread, outcome = run_in_thread(daemon)
    try:
        assert all(event.wait(WAIT) for event in seen.values())
    finally:
        stop_and_join(daemon, thread)
    assert outcome == [True]
    assert sorted(runner.calls) == ["vox-a", "vox-b"]  # and nothing more within the hour
    assert runner.closed


def test_a_run_that_ignores_the_stop_makes_it_unclean(engine: Engine) -> None:
    release = threading.Event()

    def stubborn(job: Any, _call: int) -> AccountResult:
        release.wait(WAIT)  # a request hanging until its timeout
        return result(job, "failed")

    runner = FakeRunner(stubborn)
    vox = account("vox-stuck")
    options = DaemonOptions(run_now=True, stop_timeout=0)
    daemon = Daemon(engine, config_of(engine, vox), [vox], options, runner=runner)
    thread, outcome = run_in_thread(daemon)
    try:
        assert runner.started.wait(WAIT)
    finally:
        stop_and_join(daemon, thread)
        release.set()
    assert outcome == [False]
    assert not runner.closed  # the run may still use its client


def mock_clients(handlers: dict[str, Handler]) -> Any:
    def make(
        resolved: ResolvedAccount, clock: Clock, observer: RequestObserver | None
    ) -> ProviderClient:
        return ProviderClient(
            resolved,
            clock=clock,
            policy=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05),
            transport=httpx.MockTransport(handlers[resolved.name]),
            observer=observer,
        )

    return make


def runs(engine: Engine, name: str) -> list[Any]:
    with engine.connect() as connection:
        query = select(SyncRun).where(SyncRun.account == name).order_by(SyncRun.id)
        return list(connection.execute(query).all())


def test_a_stop_interrupts_a_run_which_records_itself(engine: Engine) -> None:
    listing, go_on = threading.Event(), threading.Event()
    fake = FakeRingyo([ringyo_item(n) for n in range(500)])  # 5 pages of 100, one at a time

    def hold_the_third_page(number: int, _cursor: str | None) -> httpx.Response | None:
        if number == 3:
            listing.set()
            go_on.wait(WAIT)
        return None

    fake.on_request = hold_the_third_page
    ringyo = account("ringyo-big", provider="ringyo")
    clients = mock_clients({ringyo.name: fake})
    options = DaemonOptions(run_now=True)
    config = config_of(engine, ringyo)
    daemon = Daemon(engine, config, [ringyo], options, client_factory=clients)
    thread, outcome = run_in_thread(daemon)
    try:
        assert listing.wait(WAIT)
        daemon.request_stop("test over")
        go_on.set()
    finally:
        go_on.set()
        stop_and_join(daemon, thread)
    assert outcome == [True]
    (run,) = runs(engine, ringyo.name)
    assert run.status == "failed"
    assert "interrupted by a stop request" in run.error
    assert run.finished_at is not None
    assert running_runs(engine) == 0
    assert_history_invariants(engine)


def test_a_stop_ends_a_retry_pause_at_once(engine: Engine) -> None:
    asked = threading.Event()

    def limited(_request: httpx.Request) -> httpx.Response:
        asked.set()
        return httpx.Response(429, headers={"Retry-After": "120"}, json={"error": "slow down"})

    vox = account("vox-limited")
    # Without the stop ending the 120s pause, the run would outlast the 10s stop timeout.
    options = DaemonOptions(run_now=True, stop_timeout=10)
    clients = mock_clients({vox.name: limited})
    daemon = Daemon(engine, config_of(engine, vox), [vox], options, client_factory=clients)
    thread, outcome = run_in_thread(daemon)
    try:
        assert asked.wait(WAIT)
    finally:
        stop_and_join(daemon, thread)
    assert outcome == [True]
    (run,) = runs(engine, vox.name)
    assert run.status == "failed"
    assert "interrupted by a stop request while waiting to retry" in run.error


def test_a_runs_clock_is_the_injected_one_and_a_stop_ends_its_waits() -> None:
    fake, stop = FakeClock(NOON), threading.Event()
    clock = StoppableClock(fake, stop, "vox-a")
    assert clock.now() == NOON
    assert clock.monotonic() == fake.monotonic()
    clock.sleep(0)
    stop.set()
    with pytest.raises(SyncInterrupted, match="vox-a: interrupted by a stop request"):
        clock.sleep(3600)


# -- metrics ---------------------------------------------------------------------------------


def test_metrics_of_a_real_run_its_requests_and_the_mirror(engine: Engine) -> None:
    items = [tryvox_item(n, fee="1.25") for n in range(8)]
    items += [tryvox_item(n, status="suspended", fee="2.10") for n in range(8, 10)]
    fake = FakeTryVox(items)
    failures = iter([httpx.Response(503, text="busy")])

    def flaky_once(request: httpx.Request) -> httpx.Response:
        return next(failures, None) or fake(request)

    vox = account("vox-m")
    metrics = Metrics(partial(mirror_gauges, engine))
    metrics.account_scheduled(vox.name, vox.provider)
    runner = SyncRunner(
        engine, config_of(engine, vox), mock_clients({vox.name: flaky_once}), metrics.request_done
    )
    tick = ticks(engine, runner, SYSTEM_CLOCK, observer=metrics)
    try:
        tick(job_of(vox, SYSTEM_CLOCK))
    finally:
        runner.close()

    labels = {"account": "vox-m", "provider": "tryvox"}
    assert value(metrics, "syncer_runs_total", status="succeeded", **labels) == 1
    assert value(metrics, "syncer_runs_total", status="failed", **labels) == 0
    assert value(metrics, "syncer_records_seen_total", **labels) == 10
    assert value(metrics, "syncer_records_created_total", **labels) == 10
    assert value(metrics, "syncer_records_released_total", **labels) == 0
    assert value(metrics, "syncer_http_requests_total", code="503", **labels) == 1
    assert value(metrics, "syncer_http_requests_total", code="200", **labels) == 1
    assert value(metrics, "syncer_http_retries_total", code="503", **labels) == 1
    assert value(metrics, "syncer_numbers", status="active", **labels) == 8
    assert value(metrics, "syncer_numbers", status="suspended", **labels) == 2
    (finished,) = [run.finished_at for run in runs(engine, "vox-m")]
    assert value(metrics, "syncer_last_success_timestamp_seconds", **labels) == (
        finished.timestamp()
    )
    # The fee gauge, under its gauge name and (for one release) its old counter-like name.
    for name in ("syncer_monthly_fees", "syncer_monthly_fee_total"):
        assert value(metrics, name, status="active", currency="USD", **labels) == 10.0
        assert value(metrics, name, status="suspended", currency="USD", **labels) == 4.2
    text = generate_latest(metrics.registry).decode()
    assert "# HELP syncer_monthly_fee_total Deprecated: the same as syncer_monthly_fees" in text
    assert "# TYPE syncer_monthly_fees gauge" in text
    (build,) = samples(metrics)["syncer_build_info"]
    assert build.value == 1
    assert set(build.labels) == {"version", "python"}


def test_metrics_are_served_over_http_and_a_port_in_use_is_a_usage_error() -> None:
    metrics = Metrics()
    served = serve_metrics(metrics, "127.0.0.1", 0)
    try:
        text = httpx.get(served.url, timeout=10).text
    finally:
        served.close()
    assert "syncer_build_info{" in text
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match=r"cannot listen on 127\.0\.0\.1"):
            serve_metrics(metrics, "127.0.0.1", taken.getsockname()[1])
