"""One writer per account; runs left `running` by a dead process are closed; deadlocks retried.

The accounts are the simulator's, listed in-process (`tests.simulated`).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from syncer.config import Config, ResolvedAccount
from syncer.errors import AccountBusyError
from syncer.providers import ProviderClient, RetryPolicy
from syncer.simulator.app import Request
from syncer.store import writes
from syncer.store.engine import in_transaction
from syncer.store.locks import account_lock
from syncer.store.models import SyncRun
from syncer.sync import AccountResult, AccountSync, sync_accounts
from tests.conftest import FakeClock
from tests.invariants import assert_history_invariants
from tests.simulated import SimulatedProviders, world_of

WAIT = 60.0  # how long a held request waits for the test before it fails


def make_sync(
    engine: Engine, providers: SimulatedProviders, clock: FakeClock, account: ResolvedAccount
) -> AccountSync:
    client = providers.client(account, clock, RetryPolicy(max_attempts=2))
    return AccountSync(engine, Config(), client, clock=clock)


def test_a_held_lock_makes_the_run_skip(engine: Engine, clock: FakeClock) -> None:
    providers = SimulatedProviders(world_of(5))
    vox = providers.account("tryvox-1", name="vox-main")
    with account_lock(engine, "vox-main"):
        result = make_sync(engine, providers, clock, vox).run()
    assert result.status == "skipped"
    assert "another syncer process is syncing this account" in (result.error or "")
    assert providers.requests == 0
    with engine.connect() as c:
        assert c.execute(select(SyncRun)).all() == []
    assert make_sync(engine, providers, clock, vox).run().ok  # free again afterwards


def test_lock_is_per_account(engine: Engine) -> None:
    held = account_lock(engine, "a")
    with account_lock(engine, "a"), account_lock(engine, "b"), pytest.raises(AccountBusyError):
        held.__enter__()


def test_two_concurrent_syncs_of_one_account(engine: Engine, clock: FakeClock) -> None:
    """The second run starts while the first is listing (its first request is held until the
    second has ended): the second skips the account."""
    providers = SimulatedProviders(world_of(400))
    vox = providers.account("tryvox-1", name="vox-main")
    first_listing, second_ended = threading.Event(), threading.Event()

    def hold_the_first_run(_request: Request) -> None:
        first_listing.set()
        if not second_ended.wait(WAIT):
            raise AssertionError("the second run did not end while the first was listing")

    providers.on_request = hold_the_first_run
    results: list[AccountResult] = []
    first = threading.Thread(
        target=lambda: results.append(make_sync(engine, providers, clock, vox).run())
    )
    first.start()
    try:
        assert first_listing.wait(WAIT)
        results.append(make_sync(engine, providers, clock, vox).run())
    finally:
        second_ended.set()
        first.join()
    assert [r.status for r in reversed(results)] == ["succeeded", "skipped"]
    with engine.connect() as c:
        assert len(c.execute(select(SyncRun)).all()) == 1
    assert_history_invariants(engine)


def test_a_run_left_running_is_closed_by_the_next(engine: Engine, clock: FakeClock) -> None:
    stale = in_transaction(engine, lambda c: writes.start_run(c, "tryvox", "vox-main", clock.now()))
    clock.advance(60)
    providers = SimulatedProviders(world_of(3))
    assert (
        make_sync(engine, providers, clock, providers.account("tryvox-1", name="vox-main")).run().ok
    )
    with engine.connect() as c:
        row = c.execute(select(SyncRun).where(SyncRun.id == stale)).one()
    assert row.status == "failed"
    assert "interrupted" in row.error
    assert row.finished_at is not None


def test_accounts_sync_concurrently_without_losing_writes(engine: Engine, clock: FakeClock) -> None:
    """Six accounts write at once (on MariaDB this is where InnoDB deadlocks would show)."""
    world = world_of(300, accounts=6)
    providers = SimulatedProviders(world)
    accounts = [providers.account(f"tryvox-{i}", name=f"vox-{i}") for i in range(1, 7)]

    def factory(account: ResolvedAccount) -> ProviderClient:
        return providers.client(account, clock)

    results = sync_accounts(
        engine, Config(parallel_accounts=6), accounts, clock=clock, client_factory=factory
    )
    assert all(r.ok for r in results), [r.error for r in results]
    for i in range(1, 7):
        for number in world.numbers_of(f"tryvox-{i}")[::7]:
            new = "suspended" if number.status != "suspended" else "active"
            world.set_status("tryvox", f"tryvox-{i}", number.key, new)
    clock.advance(60)
    results = sync_accounts(
        engine, Config(parallel_accounts=6), accounts, clock=clock, client_factory=factory
    )
    assert all(r.ok for r in results), [r.error for r in results]
    assert sum(r.counts.updated for r in results) == 6 * 43
    assert_history_invariants(engine)


def test_deadlocked_transaction_is_retried(engine: Engine) -> None:
    attempts = []

    class Deadlock(Exception):
        args = (1213, "Deadlock found when trying to get lock")

    def work(connection: Any) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("INSERT ...", {}, Deadlock())
        return "done"

    assert in_transaction(engine, work) == "done"
    assert len(attempts) == 3
