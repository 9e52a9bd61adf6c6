"""What the simulator saw: requests by provider and status, per account, and faults injected.

Served at `GET /_sim/stats` and by `SimulatorServer.stats()`, so tests and benchmarks can
check the client's manners (no early retries after a 429, bounded concurrency per key).
Statuses are HTTP codes as strings, plus `"dropped"` for connections closed unanswered.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any


class Stats:
    """Thread-safe counters; `reset()` clears all but the requests still in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: Counter[str] = Counter()
        self._requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self._accounts: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._early_retries = 0
        self._max_in_flight = 0
        self._admin_requests = 0

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._accounts.clear()
            self._faults.clear()
            self._early_retries = 0
            self._max_in_flight = max(self._in_flight.values(), default=0)
            self._admin_requests = 0

    def enter(self, key: str | None) -> None:
        """A request with API key `key` started (None: without a key)."""
        if key is None:
            return
        with self._lock:
            self._in_flight[key] += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight[key])

    def leave(self, key: str | None) -> None:
        if key is None:
            return
        with self._lock:
            self._in_flight[key] -= 1
            if self._in_flight[key] <= 0:
                del self._in_flight[key]

    def answered(self, provider: str, status: str) -> None:
        with self._lock:
            self._requests[provider][status] += 1

    def account_request(self, account: str) -> None:
        with self._lock:
            self._accounts[account] += 1

    def fault(self, kind: str, count: int = 1) -> None:
        if count:
            with self._lock:
                self._faults[kind] += count

    def early_retry(self) -> None:
        with self._lock:
            self._early_retries += 1
            self._faults["early_retry"] += 1

    def admin_request(self) -> None:
        with self._lock:
            self._admin_requests += 1

    def snapshot(self) -> dict[str, Any]:
        """`requests: {provider: {status: n}}`, `requests_total: {provider: n}`,
        `accounts: {name: n}` (authenticated API requests), `faults: {kind: n}`,
        `early_retries`, `max_requests_per_key_in_flight`, `admin_requests`."""
        with self._lock:
            return {
                "requests": {p: dict(sorted(c.items())) for p, c in self._requests.items()},
                "requests_total": {p: c.total() for p, c in self._requests.items()},
                "accounts": dict(sorted(self._accounts.items())),
                "faults": dict(sorted(self._faults.items())),
                "early_retries": self._early_retries,
                "max_requests_per_key_in_flight": self._max_in_flight,
                "admin_requests": self._admin_requests,
            }
