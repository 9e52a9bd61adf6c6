"""One writer per account; runs left `running` by a dead process are closed; deadlocks retried."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.errors import AccountBusyError
from syncer.providers import ProviderClient, RetryPolicy
from syncer.store import writes
from syncer.store.engine import in_transaction
from syncer.store.locks import account_lock
from syncer.store.models import SyncRun
from syncer.sync import AccountSync, sync_accounts
from tests.conftest import FakeClock
from tests.fakes import FakeTryVox, tryvox_item
from tests.invariants import assert_history_invariants


def vox(name: str = "vox-main") -> ResolvedAccount:
    config = AccountConfig(
        name=name,
        provider="tryvox",
        account_id=f"acc_{name}",
        api_key=SecretStr("k"),
        base_url="https://api.tryvox.test",
    )
    return ResolvedAccount(config, SecretStr(f"tvx_key_{name}"))


def make_sync(
    engine: Engine, handler: Any, clock: FakeClock, account: ResolvedAccount
) -> AccountSync:
    client = ProviderClient(
        account,
        clock=clock,
        policy=RetryPolicy(max_attempts=2),
        transport=httpx.MockTransport(handler),
    )
    return AccountSync(engine, Config(), client, clock=clock)


def test_a_held_lock_makes_the_run_skip(engine: Engine, clock: FakeClock) -> None:
    fake = FakeTryVox([tryvox_item(n) for n in range(5)])
    with account_lock(engine, "vox-main"):
        result = make_sync(engine, fake, clock, vox()).run()
    assert result.status == "skipped"
    assert "another syncer process is syncing this account" in (result.error or "")
    assert fake.requests == 0
    with engine.connect() as c:
        assert c.execute(select(SyncRun)).all() == []
    assert make_sync(engine, fake, clock, vox()).run().ok  # free again afterwards


def test_lock_is_per_account(engine: Engine) -> None:
    held = account_lock(engine, "a")
    with account_lock(engine, "a"), account_lock(engine, "b"), pytest.raises(AccountBusyError):
        held.__enter__()


def test_two_concurrent_syncs_of_one_account(engine: Engine, clock: FakeClock) -> None:
    fake = FakeTryVox([tryvox_item(n) for n in range(400)])
    fake.delay = 0.05
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(make_sync(engine, fake, clock, vox()).run())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status for r in results) == ["skipped", "succeeded"]
    with engine.connect() as c:
        assert len(c.execute(select(SyncRun)).all()) == 1
    assert_history_invariants(engine)


def test_a_run_left_running_is_closed_by_the_next(engine: Engine, clock: FakeClock) -> None:
    stale = in_transaction(engine, lambda c: writes.start_run(c, "tryvox", "vox-main", clock.now()))
    clock.advance(60)
    fake = FakeTryVox([tryvox_item(n) for n in range(3)])
    assert make_sync(engine, fake, clock, vox()).run().ok
    with engine.connect() as c:
        row = c.execute(select(SyncRun).where(SyncRun.id == stale)).one()
    assert row.status == "failed"
    assert "interrupted" in row.error
    assert row.finished_at is not None


def test_accounts_sync_concurrently_without_losing_writes(engine: Engine, clock: FakeClock) -> None:
    """Six accounts write at once (on MariaDB this is where InnoDB deadlocks would show)."""
    fakes = {
        f"vox-{i}": FakeTryVox([dict(tryvox_item(n), e164=f"+4420{i}{n:06d}") for n in range(300)])
        for i in range(6)
    }
    accounts = [vox(name) for name in fakes]

    def factory(account: ResolvedAccount) -> ProviderClient:
        return ProviderClient(
            account, clock=clock, transport=httpx.MockTransport(fakes[account.name])
        )

    results = sync_accounts(
        engine, Config(parallel_accounts=6), accounts, clock=clock, client_factory=factory
    )
    assert all(r.ok for r in results), [r.error for r in results]
    for fake in fakes.values():
        for item in fake.items[::7]:
            item["status"] = "suspended"
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
