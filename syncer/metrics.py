"""Prometheus metrics of the daemon (`syncer daemon --metrics-port N`).

Counters and the histogram count what *this process* did, so with several replicas sum them
across replicas. The inventory gauges (`syncer_numbers`, `syncer_monthly_fee_total`) and the
last-success gauge describe the shared database, so every replica reports the same values:
take `max` across replicas, not `sum`.

Metric names and labels (account, provider, status, code, currency) are a public interface,
like the SQL tables: dashboards and alerts are built on them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from syncer.records import RELEASED
from syncer.status import InventoryRow
from syncer.store.models import RUN_FAILED, RUN_SUCCEEDED
from syncer.sync import SKIPPED, AccountResult

# Runs last from well under a second (a few hundred numbers) to many minutes (100k+).
RUN_DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
RECORD_OUTCOMES = ("seen", "created", "updated", "released", "rejected")
RUN_OUTCOMES = (RUN_SUCCEEDED, "incomplete", RUN_FAILED, SKIPPED)


class Metrics:
    """The daemon's metrics, in a registry of their own (so tests can make several)."""

    def __init__(self) -> None:
        # No `*_created` series next to every counter: they double the output for nothing a
        # dashboard needs (process-wide, but only the daemon serves metrics).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
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
            "failed, or skipped (another replica had the account, or had just synced it).",
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

    def add_account(self, account: str, provider: str) -> None:
        """Create the account's series at zero, so rates and alerts work before its first run."""
        for status in RUN_OUTCOMES:
            self.runs.labels(account, provider, status)
        for counter in self.records.values():
            counter.labels(account, provider)

    def observe_request(self, account: str, provider: str, outcome: str, retrying: bool) -> None:
        """A `ProviderClient` observer (bind the account first): one call per HTTP attempt."""
        self.http_requests.labels(account, provider, outcome).inc()
        if retrying:
            self.http_retries.labels(account, provider, outcome).inc()

    def observe_run(self, result: AccountResult) -> None:
        account, provider = result.account, result.provider
        if result.status == SKIPPED:
            self.observe_skip(account, provider)
            return
        outcome = run_outcome(result)
        self.runs.labels(account, provider, outcome).inc()
        self.run_duration.labels(account, provider, outcome).observe(result.duration)
        counts = result.counts.as_dict()
        for name, counter in self.records.items():
            counter.labels(account, provider).inc(counts[name])
        if result.ok:
            self.last_success.labels(account, provider).set_to_current_time()

    def observe_skip(self, account: str, provider: str) -> None:
        self.runs.labels(account, provider, SKIPPED).inc()

    def set_last_successes(self, finished: dict[tuple[str, str], datetime]) -> None:
        for (provider, account), at in finished.items():
            self.last_success.labels(account, provider).set(at.timestamp())

    def set_inventory(self, rows: Iterable[InventoryRow]) -> None:
        self.inventory.update(rows)


def run_outcome(result: AccountResult) -> str:
    """succeeded (listed completely), incomplete, failed, or skipped."""
    if result.status == SKIPPED or result.ok:
        return result.status
    return "incomplete" if result.status == RUN_SUCCEEDED else RUN_FAILED


class InventoryCollector:
    """`syncer_numbers` and `syncer_monthly_fee_total` from the latest inventory query.

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
            "syncer_monthly_fee_total",
            "Monthly fees of the numbers held (released ones left out), by account, status "
            "and currency. Never add different currencies.",
            labels=["account", "provider", "status", "currency"],
        )
        counted: dict[tuple[str, str, str], int] = {}
        for row in rows:
            key = (row.account, row.provider, row.status)
            counted[key] = counted.get(key, 0) + row.numbers
            if row.status != RELEASED and row.currency and row.monthly_fee_total is not None:
                # Prometheus samples are floats: the only place syncer lets money be a float.
                # Exact amounts are in the database and in `syncer report costs`.
                fees.add_metric([*key, row.currency], float(row.monthly_fee_total))
        for key, count in counted.items():
            numbers.add_metric(list(key), count)
        yield numbers
        yield fees
