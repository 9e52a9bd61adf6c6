"""Fixtures of the resilience suite: a simulated world on loopback synced into a real database.

`simulation(numbers=..., accounts_per_provider=...)` starts a `SimulatorServer` over a fresh
`World` and returns a `Simulation` that syncs it through the real provider clients, with a
fast retry policy (short backoff; `Retry-After` is still honoured in full) and an observer
counting every HTTP attempt. `backend_url` is SQLite and PostgreSQL, as the issue asks; cheap
tests take the top-level `db_url`/`engine` fixtures to run on MariaDB too.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from syncer.config import Config, ResolvedAccount
from syncer.demo import demo_config
from syncer.providers import ProviderClient, RetryPolicy
from syncer.simulator import SimulatorServer, World, parse_faults
from syncer.store.engine import make_engine
from syncer.store.models import RejectedRecord, SyncRun
from syncer.sync import AccountResult, sync_accounts
from tests.conftest import POSTGRES_URL, database_for
from tests.invariants import assert_history_invariants

SQLITE_AND_POSTGRES = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
# Quick retries for tests; a provider's Retry-After still wins over this backoff.
FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.2, timeout=10)


@pytest.fixture(params=SQLITE_AND_POSTGRES)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty database at schema head on SQLite and PostgreSQL."""
    return database_for(request.param, tmp_path, sqlite_template)


class Attempts:
    """A `RequestObserver`: every HTTP attempt the clients made, by outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.retries = 0
        self.attempts = 0

    def __call__(self, provider: str, outcome: str, retrying: bool) -> None:
        with self._lock:
            self.attempts += 1
            self.outcomes[outcome] += 1
            self.retries += retrying


@dataclass
class SyncReport:
    results: list[AccountResult]
    attempts: Attempts
    stats: dict[str, Any]

    @property
    def served(self) -> int:
        return sum(self.stats["requests_total"].values())

    @property
    def pages(self) -> int:
        return sum(result.counts.pages for result in self.results)

    def by_account(self) -> dict[str, AccountResult]:
        return {result.account: result for result in self.results}

    def figures(self) -> str:
        """One line for the closing note: what the simulator served and injected."""
        faults = {k: v for k, v in self.stats["faults"].items() if k != "latency"}
        rejected = sum(result.counts.rejected for result in self.results)
        return (
            f"served={self.served} pages={self.pages} retries={self.attempts.retries} "
            f"rejected={rejected} early_retries={self.stats['early_retries']} faults={faults}"
        )


@dataclass
class Simulation:
    """A world, its simulator, and a database to mirror it into."""

    world: World
    server: SimulatorServer
    db_url: str
    engine: Engine
    config: Config
    accounts: list[ResolvedAccount]
    reports: list[SyncReport] = field(default_factory=list)

    def set_faults(self, spec: str) -> None:
        self.server.set_faults(parse_faults(spec))

    def sync(
        self, names: list[str] | None = None, policy: RetryPolicy = FAST_RETRIES
    ) -> SyncReport:
        """One pass over the accounts (all, or those named) through the real HTTP client;
        the simulator's counters cover just this pass."""
        chosen = [a for a in self.accounts if names is None or a.name in names]
        attempts = Attempts()
        self.server.reset_stats()

        def client(account: ResolvedAccount) -> ProviderClient:
            return ProviderClient(account, policy=policy, observer=attempts)

        results = sync_accounts(self.engine, self.config, chosen, client_factory=client)
        report = SyncReport(results, attempts, self.server.stats())
        self.reports.append(report)
        assert_history_invariants(self.engine)
        return report


SimulationFactory = Callable[..., Simulation]


@pytest.fixture
def simulation(backend_url: str) -> Iterator[SimulationFactory]:
    """`simulation(numbers, accounts_per_provider, seed, faults)`: a running `Simulation`."""
    started: list[tuple[SimulatorServer, Engine]] = []

    def start(
        numbers: int = 600, accounts_per_provider: int = 1, seed: int = 5, faults: str = ""
    ) -> Simulation:
        world = World.generate(numbers, seed, accounts_per_provider)
        server = SimulatorServer(world, faults=parse_faults(faults)).start()
        engine = make_engine(backend_url)
        started.append((server, engine))
        config, accounts = demo_config(
            backend_url,
            server.url,
            [(a.provider, a.name, a.api_key, a.account_id) for a in world.accounts],
        )
        return Simulation(world, server, backend_url, engine, config, accounts)

    yield start
    for server, engine in started:
        server.stop()
        engine.dispose()


@pytest.fixture
def keep_logging() -> Iterator[None]:
    """The CLI replaces the root logger's handlers; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def config_toml(
    db_url: str,
    base_url: str,
    world: World,
    names: list[str] | None = None,
    *,
    settings: str = "",
    inline_keys: bool = False,
) -> tuple[str, dict[str, str]]:
    """A `syncer.toml` for the simulated accounts (all, or those named) and the environment
    holding their keys. Ringyo accounts get the demo's fee schedules."""
    from syncer.demo import DEMO_FEES

    lines = [f'database_url = "{db_url}"', settings]
    env = {}
    for account in world.accounts:
        if names is not None and account.name not in names:
            continue
        variable = account.name.upper().replace("-", "_") + "_KEY"
        lines += ["", "[[accounts]]", f'name = "{account.name}"']
        lines += [f'provider = "{account.provider}"', f'base_url = "{base_url}"']
        if inline_keys:
            lines.append(f'api_key = "{account.api_key}"')
        else:
            lines.append(f'api_key_env = "{variable}"')
            env[variable] = account.api_key
        if account.account_id is not None:
            lines.append(f'account_id = "{account.account_id}"')
        if account.name in DEMO_FEES:
            fees, currency = DEMO_FEES[account.name]
            table = ", ".join(f'{country} = "{fee}"' for country, fee in fees.items())
            lines += [f"fees = {{ {table} }}", f'currency = "{currency}"']
    return "\n".join(lines) + "\n", env


def rejected_records(engine: Engine, run_ids: list[int]) -> list[dict[str, Any]]:
    """The rejected_records rows of these runs, in the order they were written."""
    query = select(RejectedRecord).where(RejectedRecord.sync_run_id.in_(run_ids))
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query.order_by(RejectedRecord.id))]


def runs(engine: Engine) -> list[dict[str, Any]]:
    """Every sync_runs row, oldest first."""
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(SyncRun).order_by(SyncRun.id))]
