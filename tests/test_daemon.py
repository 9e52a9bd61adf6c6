"""The daemon in-process: schedules, failures that stay with their account, stopping, metrics.

The daemon runs in a thread against a SQLite file, its providers are `httpx.MockTransport`
fakes; the real process with real signals is in `test_daemon_process.py`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import Engine, select

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.daemon import Daemon, DaemonOptions, StoppableClock
from syncer.providers import ProviderClient, RetryPolicy
from syncer.providers.http import RequestObserver
from syncer.store.engine import make_engine
from syncer.store.models import SyncRun
from tests.fakes import FakeTryVox, tryvox_item
from tests.invariants import assert_history_invariants, running_runs

Handler = Callable[[httpx.Request], httpx.Response]


def vox(name: str, schedule: str | None = "every 1s") -> ResolvedAccount:
    config = AccountConfig(
        name=name,
        provider="tryvox",
        account_id=f"acc_{name}",
        api_key_env="UNUSED",
        base_url="https://api.tryvox.test",
        schedule=schedule,
    )
    # A key of its own per test: a 429 pauses every request made with the same key.
    return ResolvedAccount(config, SecretStr(f"tvx_{name}_{uuid.uuid4().hex}"))


def fake_clients(handlers: dict[str, Handler]) -> Any:
    def make(
        account: ResolvedAccount, clock: StoppableClock, observer: RequestObserver | None
    ) -> ProviderClient:
        return ProviderClient(
            account,
            clock=clock,
            policy=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05),
            transport=httpx.MockTransport(handlers[account.name]),
            observer=observer,
        )

    return make


@contextmanager
def running_daemon(
    url: str, handlers: dict[str, Handler], schedule: str | None = "every 1s", **options: Any
) -> Iterator[Daemon]:
    accounts = [vox(name, schedule) for name in handlers]
    config = Config(database_url=url, accounts=[a.config for a in accounts])
    daemon = Daemon(
        config, accounts, DaemonOptions(**options), client_factory=fake_clients(handlers)
    )
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(daemon.run(handle_signals=False)))
    thread.start()
    try:
        yield daemon
    finally:
        daemon.request_stop("test over")
        thread.join(timeout=60)
    assert not thread.is_alive(), "the daemon did not stop"
    assert outcome == [True], "a run did not stop within the stop timeout"


def runs(engine: Engine, account: str) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(SyncRun).where(SyncRun.account == account).order_by(SyncRun.id)
            ).all()
        )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not done.is_set():
            if condition():
                return
            done.wait(0.05)
    finally:
        deadline.cancel()
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def succeeded(engine: Engine, account: str) -> int:
    return sum(1 for run in runs(engine, account) if run.status == "succeeded")


def test_each_account_runs_on_its_schedule(sqlite_url: str, engine: Engine) -> None:
    handlers: dict[str, Handler] = {
        "vox-a": FakeTryVox([tryvox_item(n) for n in range(30)]),
        "vox-b": FakeTryVox([tryvox_item(n) for n in range(5)]),
    }
    with running_daemon(sqlite_url, handlers):
        wait_for(
            lambda: succeeded(engine, "vox-a") >= 2 and succeeded(engine, "vox-b") >= 2,
            "two runs of each account",
        )
    assert running_runs(engine) == 0
    assert_history_invariants(engine)


def test_run_now_syncs_every_account_at_start(sqlite_url: str, engine: Engine) -> None:
    handlers: dict[str, Handler] = {"vox-a": FakeTryVox([tryvox_item(n) for n in range(3)])}
    with running_daemon(sqlite_url, handlers, schedule="every 1h", run_now=True):
        wait_for(lambda: succeeded(engine, "vox-a") == 1, "the run at start")
    assert len(runs(engine, "vox-a")) == 1  # and nothing more within the hour


def test_a_failing_account_does_not_stop_the_others(sqlite_url: str, engine: Engine) -> None:
    def refused(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "unauthorized"})

    def down(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="maintenance")

    handlers: dict[str, Handler] = {
        "vox-ok": FakeTryVox([tryvox_item(n) for n in range(10)]),
        "vox-refused": refused,
        "vox-down": down,
    }
    with running_daemon(sqlite_url, handlers):
        wait_for(
            lambda: (
                succeeded(engine, "vox-ok") >= 3
                and len(runs(engine, "vox-refused")) >= 2
                and len(runs(engine, "vox-down")) >= 2
            ),
            "the healthy account to keep running next to the failing ones",
        )
    assert running_runs(engine) == 0
    assert {r.status for r in runs(engine, "vox-refused") + runs(engine, "vox-down")} == {"failed"}
    # Every run of a failing account records why; the last may have been stopped by the test.
    refused = [r.error for r in runs(engine, "vox-refused") if "stop request" not in r.error]
    down = [r.error for r in runs(engine, "vox-down") if "stop request" not in r.error]
    assert len(refused) >= 2
    assert len(down) >= 1
    assert all("refused the API key (HTTP 401)" in error for error in refused)
    assert all("kept failing: HTTP 503 on 2 attempts" in error for error in down)


def test_an_unexpected_error_is_logged_and_the_next_tick_runs(
    sqlite_url: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import syncer.daemon
    from syncer.sync import AccountSync

    calls: list[str] = []

    class Flaky(AccountSync):
        def run(self) -> Any:
            calls.append(self.name)
            if calls.count(self.name) == 1 and self.name == "vox-buggy":
                raise RuntimeError("a bug in the first run")
            return super().run()

    monkeypatch.setattr(syncer.daemon, "AccountSync", Flaky)
    handlers: dict[str, Handler] = {
        "vox-buggy": FakeTryVox([tryvox_item(n) for n in range(3)]),
        "vox-fine": FakeTryVox([tryvox_item(n) for n in range(3)]),
    }
    with caplog.at_level("INFO"), running_daemon(sqlite_url, handlers):
        wait_for(lambda: succeeded(engine, "vox-buggy") >= 1, "a run after the bug")
    assert "vox-buggy: unexpected error; the next run follows the schedule" in caplog.text
    assert "RuntimeError: a bug in the first run" in caplog.text
    assert succeeded(engine, "vox-fine") >= 1


def test_a_stop_interrupts_a_run_which_records_itself(sqlite_url: str, engine: Engine) -> None:
    fake = FakeTryVox([tryvox_item(n) for n in range(4000)])
    fake.delay = 0.2  # 40 pages of 100, 4 at a time: about 2s
    with running_daemon(sqlite_url, {"vox-big": fake}, schedule="every 1h", run_now=True):
        wait_for(lambda: fake.requests >= 3, "the run to be listing")
    (run,) = runs(engine, "vox-big")
    assert run.status == "failed"
    assert "interrupted by a stop request" in run.error
    assert run.finished_at is not None
    assert_history_invariants(engine)


def test_a_stop_ends_a_retry_pause_at_once(sqlite_url: str, engine: Engine) -> None:
    requests = []

    def limited(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(429, headers={"Retry-After": "120"}, json={"error": "slow down"})

    # Without the stop ending the 120s pause, the run would outlast the 10s stop timeout.
    with running_daemon(
        sqlite_url, {"vox-limited": limited}, schedule="every 1h", run_now=True, stop_timeout=10
    ):
        wait_for(lambda: len(requests) == 1, "the rate-limited request")
    (run,) = runs(engine, "vox-limited")
    assert run.status == "failed"
    assert "interrupted by a stop request while waiting to retry" in run.error
    assert len(requests) == 1


def scrape(daemon: Daemon) -> dict[str, list[Any]]:
    assert daemon.metrics_url is not None
    text = httpx.get(daemon.metrics_url, timeout=10).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def sample(families: dict[str, list[Any]], family: str, name: str, **labels: str) -> float | None:
    for s in families.get(family, []):
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    return None


def test_metrics_endpoint(sqlite_url: str, engine: Engine) -> None:
    items = [tryvox_item(n, fee="1.25") for n in range(8)]
    items += [tryvox_item(n, status="suspended", fee="2.10") for n in range(8, 10)]
    fake = FakeTryVox(items)
    failures = iter([httpx.Response(503, text="busy")])

    def flaky_once(request: httpx.Request) -> httpx.Response:
        return next(failures, None) or fake(request)

    with running_daemon(
        sqlite_url, {"vox-m": flaky_once}, schedule="every 1h", run_now=True, metrics_port=0
    ) as daemon:
        wait_for(lambda: succeeded(engine, "vox-m") == 1, "the first run")
        wait_for(
            lambda: (
                sample(scrape(daemon), "syncer_runs", "syncer_runs_total", status="succeeded") == 1
            ),
            "the run in the metrics",
        )
        families = scrape(daemon)
    labels = {"account": "vox-m", "provider": "tryvox"}
    assert sample(families, "syncer_records_seen", "syncer_records_seen_total", **labels) == 10
    assert (
        sample(families, "syncer_records_created", "syncer_records_created_total", **labels) == 10
    )
    assert sample(families, "syncer_records_released", "syncer_records_released_total") == 0
    assert sample(families, "syncer_runs", "syncer_runs_total", status="failed") == 0
    assert (
        sample(
            families, "syncer_run_duration_seconds", "syncer_run_duration_seconds_count", **labels
        )
        == 1
    )
    assert (
        sample(
            families,
            "syncer_last_success_timestamp_seconds",
            "syncer_last_success_timestamp_seconds",
            **labels,
        )
        or 0
    ) > 1.7e9
    http = "syncer_http_requests"
    assert sample(families, http, f"{http}_total", code="503", **labels) == 1
    assert sample(families, http, f"{http}_total", code="200", **labels) == 1
    assert sample(families, "syncer_http_retries", "syncer_http_retries_total", code="503") == 1
    assert sample(families, "syncer_numbers", "syncer_numbers", status="active", **labels) == 8
    assert sample(families, "syncer_numbers", "syncer_numbers", status="suspended") == 2
    fee = "syncer_monthly_fee_total"
    assert sample(families, fee, fee, status="active", currency="USD") == float(Decimal("10.00"))
    assert sample(families, fee, fee, status="suspended", currency="USD") == float(Decimal("4.20"))


def test_a_metrics_port_in_use_is_a_usage_error(sqlite_url: str) -> None:
    import socket

    from syncer.errors import UsageError

    account = vox("vox-a")
    config = Config(database_url=sqlite_url, accounts=[account.config])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        options = DaemonOptions(metrics_port=taken.getsockname()[1])
        daemon = Daemon(config, [account], options, client_factory=fake_clients({}))
        with pytest.raises(UsageError, match=r"cannot listen on 127\.0\.0\.1"):
            daemon.run(handle_signals=False)
