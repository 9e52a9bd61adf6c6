"""Prometheus metrics of the daemon (`syncer daemon --metrics-port N`).

`Metrics` is the daemon's tick observer: it counts the runs, records and HTTP requests of
*this process*, so with several replicas sum them across replicas. The inventory gauges
(`syncer_numbers`, `syncer_monthly_fees`) and the last-success gauge describe the shared
database, read again after every tick through the function it is given: every replica
reports the same values, so take `max` across replicas, not `sum`.

Metric names and labels (account, provider, status, code, currency) are a public interface,
like the SQL tables: dashboards and alerts are built on them. So a renamed metric keeps its
old name for a while: `syncer_monthly_fee_total` (a gauge named like a counter) is served
next to `syncer_monthly_fees` until the next minor release, its help text saying so.
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from syncer.errors import UsageError
from syncer.outcomes import RunOutcome, run_outcome
from syncer.records import RELEASED

if TYPE_CHECKING:
    from syncer.reports.health import InventoryRow, MirrorGauges
    from syncer.sync import AccountResult

log = logging.getLogger(__name__)

# Runs last from well under a second (a few hundred numbers) to many minutes (100k+).
RUN_DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
RECORD_OUTCOMES = ("seen", "created", "updated", "released", "rejected")
FEES = "syncer_monthly_fees"
DEPRECATED_FEES = "syncer_monthly_fee_total"  # until the next minor release


def syncer_version() -> str:
    """The installed syncer's version ("unknown" when run from a tree that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syncer")
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """The daemon's metrics, in a registry of their own (so tests can make several).

    `read_gauges` reads the shared database for the gauges (default: nothing to read).
    """

    def __init__(self, read_gauges: Callable[[], MirrorGauges] | None = None) -> None:
        # No `*_created` series next to every counter: they double the output for nothing a
        # dashboard needs (process-wide, but only the daemon serves metrics).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self._read_gauges = read_gauges
        build = Info(
            "syncer_build",
            "The syncer version and Python version of this process.",
            registry=self.registry,
        )
        build.info({"version": syncer_version(), "python": platform.python_version()})
        self.run_duration = Histogram(
            "syncer_run_duration_seconds",
            "Duration of account runs that took the account's lock, by how they ended.",
            ["account", "provider", "status"],
            buckets=RUN_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.runs = Counter(
            "syncer_runs",
            "Account runs by outcome: succeeded, incomplete (listed, but not completely), "
            "failed (including ticks that failed before a run could start), or skipped "
            "(another replica had the account, or had just synced it).",
            ["account", "provider", "status"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "syncer_last_success_timestamp_seconds",
            "Unix time at which the account's last complete, successful run finished, by "
            "any replica (read from the database after every tick).",
            ["account", "provider"],
            registry=self.registry,
        )
        self.records = {
            outcome: Counter(
                f"syncer_records_{outcome}",
                f"Provider records {outcome} by this process's runs.",
                ["account", "provider"],
                registry=self.registry,
            )
            for outcome in RECORD_OUTCOMES
        }
        self.http_requests = Counter(
            "syncer_http_requests",
            "HTTP requests to the providers, by outcome: the status code, or the exception "
            "name of a request that got no answer.",
            ["account", "provider", "code"],
            registry=self.registry,
        )
        self.http_retries = Counter(
            "syncer_http_retries",
            "HTTP requests that failed and were retried, by the outcome that caused the retry.",
            ["account", "provider", "code"],
            registry=self.registry,
        )
        self.inventory = InventoryCollector()
        self.registry.register(self.inventory)

    # -- the daemon's tick observer ---------------------------------------------------------

    def account_scheduled(self, account: str, provider: str) -> None:
        """Create the account's series at zero, so rates and alerts work before its first run."""
        for outcome in RunOutcome:
            self.runs.labels(account, provider, outcome.value)
        for counter in self.records.values():
            counter.labels(account, provider)

    def request_done(self, account: str, provider: str, outcome: str, retrying: bool) -> None:
        """One call per HTTP attempt (a `ProviderClient` observer once the account is bound)."""
        self.http_requests.labels(account, provider, outcome).inc()
        if retrying:
            self.http_retries.labels(account, provider, outcome).inc()

    def run_finished(self, result: AccountResult) -> None:
        account, provider = result.account, result.provider
        outcome = run_outcome(result.status, result.complete)
        self.runs.labels(account, provider, outcome.value).inc()
        if outcome == RunOutcome.SKIPPED:
            return
        self.run_duration.labels(account, provider, outcome.value).observe(result.duration)
        counts = result.counts.as_dict()
        for name, counter in self.records.items():
            counter.labels(account, provider).inc(counts[name])
        if outcome == RunOutcome.SUCCEEDED and result.started_at is not None:
            finished = result.started_at.timestamp() + result.duration
            self.last_success.labels(account, provider).set(finished)

    def run_skipped(self, account: str, provider: str) -> None:
        self.runs.labels(account, provider, RunOutcome.SKIPPED.value).inc()

    def tick_failed(self, account: str, provider: str) -> None:
        """A tick that failed before its run could start: a failed run with no duration."""
        self.runs.labels(account, provider, RunOutcome.FAILED.value).inc()

    def tick_done(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Read the gauges from the shared database again (when there is one to read)."""
        if self._read_gauges is None:
            return
        gauges = self._read_gauges()
        self.inventory.update(gauges.inventory)
        for (provider, account), at in gauges.last_successes.items():
            self.last_success.labels(account, provider).set(at.timestamp())


@dataclass
class MetricsServer:
    """The `/metrics` endpoint being served, until `close`."""

    url: str
    server: Any

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(metrics: Metrics, host: str, port: int) -> MetricsServer:
    """Serve `metrics` at `http://host:port/metrics` (port 0 picks a free one) in a thread;
    a port that cannot be listened on is a `UsageError`."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise UsageError(
            f"--metrics-port: cannot listen on {host}:{port}: {exc.strerror}"
        ) from None
    served = MetricsServer(f"http://{host}:{server.server_port}/metrics", server)
    log.info("serving metrics at %s", served.url, extra={"event": "metrics_serving"})
    return served


class InventoryCollector:
    """`syncer_numbers` and `syncer_monthly_fees` from the latest inventory query.

    A custom collector rather than labelled Gauges, so that a status an account no longer
    has disappears from the metrics instead of keeping its last value.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[InventoryRow] = []

    def update(self, rows: Iterable[InventoryRow]) -> None:
        with self._lock:
            self._rows = list(rows)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            rows = list(self._rows)
        numbers = GaugeMetricFamily(
            "syncer_numbers",
            "Numbers in the mirror by account and status (released ones included).",
            labels=["account", "provider", "status"],
        )
        fees = GaugeMetricFamily(
            FEES,
            "Monthly fees of the numbers held (released ones left out), by account, status "
            "and currency. Never add different currencies.",
            labels=["account", "provider", "status", "currency"],
        )
        deprecated = GaugeMetricFamily(
            DEPRECATED_FEES,
            f"Deprecated: the same as {FEES}, under its old name (a gauge named like a "
            "counter); removed in the next minor release.",
            labels=["account", "provider", "status", "currency"],
        )
        counted: dict[tuple[str, str, str], int] = {}
        for row in rows:
            key = (row.account, row.provider, row.status)
            counted[key] = counted.get(key, 0) + row.numbers
            if row.status != RELEASED and row.currency and row.monthly_fee_total is not None:
                # Prometheus samples are floats: the only place syncer lets money be a float.
                # Exact amounts are in the database and in `syncer report costs`.
                fee = float(row.monthly_fee_total)
                fees.add_metric([*key, row.currency], fee)
                deprecated.add_metric([*key, row.currency], fee)
        for key, count in counted.items():
            numbers.add_metric(list(key), count)
        yield numbers
        yield fees
        yield deprecated
