"""The runner: what runs one account once when its tick comes (today `AccountSync`).

The daemon only calls `Runner.run(job)` and, at a clean stop, `close()`; so its tests hand it
a runner of their own instead of patching the sync engine. `SyncRunner` is the real one: one
provider client per account, kept for the daemon's lifetime, and the account's `StoppableClock`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Protocol

from sqlalchemy import Engine

from syncer.clock import Clock
from syncer.config import Config, ResolvedAccount
from syncer.daemon.jobs import AccountJob
from syncer.providers import ProviderClient
from syncer.providers.http import RequestObserver
from syncer.sync import AccountResult, AccountSync, SyncInterrupted, SyncOptions, retry_policy

ClientFactory = Callable[[ResolvedAccount, Clock, RequestObserver | None], ProviderClient]
# Told of every HTTP attempt: account, provider, outcome (a status code or an exception
# name), and whether it will be retried.
RequestCounter = Callable[[str, str, str, bool], None]


class Runner(Protocol):
    def run(self, job: AccountJob) -> AccountResult:
        """Run the account once, stopping early when `job.stop` is set; never raises for a
        provider or data problem (an exception here is a bug, or the database before the
        run could start)."""
        ...

    def close(self) -> None:
        """Release what the runs kept (connections); called once no run is in progress."""
        ...


class StoppableClock:
    """The injected clock for one account's runs, except that a wait (retry backoff,
    `Retry-After`) ends at a stop request by raising `SyncInterrupted`, so the run records
    itself instead of sleeping on."""

    def __init__(self, clock: Clock, stop: threading.Event, account: str) -> None:
        self._clock = clock
        self._stop = stop
        self._account = account

    def now(self) -> datetime:
        return self._clock.now()

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def sleep(self, seconds: float) -> None:
        if self._stop.wait(max(0.0, seconds)):
            raise SyncInterrupted(
                f"{self._account}: interrupted by a stop request while waiting to retry"
            )


def provider_clients(config: Config) -> ClientFactory:
    """Real provider clients, with the config's retry policy."""
    policy = retry_policy(config)

    def make(
        account: ResolvedAccount, clock: Clock, observer: RequestObserver | None
    ) -> ProviderClient:
        return ProviderClient(account, clock=clock, policy=policy, observer=observer)

    return make


class SyncRunner:
    """`AccountSync` against the daemon's engine, one provider client per account."""

    def __init__(
        self,
        engine: Engine,
        config: Config,
        clients: ClientFactory,
        count_request: RequestCounter | None = None,
    ) -> None:
        self._engine = engine
        self._config = config
        self._make_client = clients
        self._count_request = count_request
        self._clients: dict[str, ProviderClient] = {}
        self._lock = threading.Lock()

    def run(self, job: AccountJob) -> AccountResult:
        options = SyncOptions(stop=job.stop)
        client = self._client(job)
        return AccountSync(
            self._engine, self._config, client, clock=job.clock, options=options
        ).run()

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _client(self, job: AccountJob) -> ProviderClient:
        with self._lock:
            client = self._clients.get(job.name)
            if client is None:
                count = self._count_request
                observer = partial(count, job.name) if count is not None else None
                client = self._clients[job.name] = self._make_client(
                    job.account, job.clock, observer
                )
            return client
