"""The simulator's app behind an `httpx.MockTransport`: provider paging in-process.

`SimulatedProviders(world)` answers the requests of a real `ProviderClient` with the same
`SimulatorApp` that `syncer simulate` serves over HTTP (the same paging, authentication,
faults and stats), without a socket or a server thread. Sync tests that only need accounts
to list use it; `tests.fakes` is left for answers the simulator would never give (a byte-exact
malformed page, a chosen response at a chosen request).

    world = world_of(20)                    # ringyo-1 and tryvox-1, 20 numbers each
    providers = SimulatedProviders(world)
    account = providers.account("tryvox-1")  # a ResolvedAccount for it
    with providers.client(account, clock) as client:
        ...                                  # a ProviderClient whose requests the app answers

`on_request` (a test's own synchronisation point, never an answer) is called with each
request before the app answers it; `in_flight`/`max_in_flight` count the requests being
answered at once, across accounts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from syncer.clock import Clock
from syncer.config import AccountConfig, ResolvedAccount
from syncer.providers import ProviderClient, RetryPolicy
from syncer.simulator import World
from syncer.simulator.app import Request, SimulatorApp
from syncer.simulator.stats import Stats


class SimulatedProviders:
    """Both simulated providers of `world`, answering through `transport`."""

    def __init__(
        self,
        world: World,
        *,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.world = world
        self._stats = Stats()
        times: dict[str, Any] = {}
        if monotonic is not None:
            times["monotonic"] = monotonic
        if sleep is not None:
            times["sleep"] = sleep
        self.app = SimulatorApp(world, self._stats, **times)
        self.transport = httpx.MockTransport(self.handle)
        self.on_request: Callable[[Request], None] | None = None
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the simulator's HTTP server would."""
        parsed = Request.parse(
            request.method,
            request.url.raw_path.decode("ascii"),
            request.headers.items(),
            request.read(),
        )
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.on_request is not None:
                self.on_request(parsed)
            outcome = self.app.handle(parsed)
        finally:
            with self._lock:
                self.in_flight -= 1
        if outcome.drop:  # the server closes the connection without an answer
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(outcome.status, headers=outcome.headers, content=outcome.body)

    def stats(self) -> dict[str, Any]:
        """What the simulator saw (`Stats.snapshot`)."""
        return self._stats.snapshot()

    def account(self, simulated: str, *, name: str | None = None, **config: Any) -> ResolvedAccount:
        """A config account for the simulated account `simulated` (named `name`, default the
        same), with its key; `config` adds keys (`filters`, `concurrency`, `fees`, ...)."""
        sim = self.world.account(simulated)
        fields: dict[str, Any] = {
            "name": name or simulated,
            "provider": sim.provider,
            "api_key": "configured-inline",
            "base_url": f"https://api.{sim.provider}.test",
            **config,
        }
        if sim.account_id is not None:
            fields["account_id"] = sim.account_id
        return ResolvedAccount(AccountConfig.model_validate(fields), SecretStr(sim.api_key))

    def client(
        self, account: ResolvedAccount, clock: Clock, policy: RetryPolicy | None = None
    ) -> ProviderClient:
        """A real provider client for `account` whose requests this app answers."""
        return ProviderClient(account, clock=clock, policy=policy, transport=self.transport)


def world_of(numbers: int, seed: int = 1, accounts: int = 1, clock: Clock | None = None) -> World:
    """A world of `accounts` accounts per provider (`ringyo-1`, `tryvox-1`, ...), each with
    `numbers` numbers; `clock` dates what changes in it (the wall clock if None)."""
    return World.generate(
        numbers=2 * accounts * numbers,
        seed=seed,
        accounts_per_provider=accounts,
        clock=clock.now if clock is not None else None,
    )


def items_of(world: World, account: str) -> list[dict[str, Any]]:
    """`account`'s items as served, fees as decimal strings (which `tests.fakes` serves as
    JSON numbers): for a fake that must answer with the world's numbers, spoiled."""
    items: list[dict[str, Any]] = world.inventory()[world.account(account).provider][account]
    return items


def keys_of(world: World, account: str) -> list[str]:
    """The keys of `account`'s numbers, in its listing order."""
    return [number.key for number in world.numbers_of(account)]
