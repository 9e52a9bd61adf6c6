"""Exact history: the change matrix, idempotence and comebacks, on every database.

The accounts are the simulator's, listed in-process (`tests.simulated`); a record spoiled in a
precise way comes from `tests.fakes`.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.providers import ProviderClient, RetryPolicy
from syncer.simulator import World
from syncer.store.models import PhoneNumber, PhoneNumberVersion, StatusChange, SyncRun
from syncer.sync import AccountResult, AccountSync, SyncOptions
from tests.conftest import FakeClock
from tests.fakes import FakeTryVox, tryvox_item
from tests.invariants import assert_history_invariants
from tests.simulated import SimulatedProviders, world_of

ACCOUNT = ResolvedAccount(
    AccountConfig(
        name="vox-main",
        provider="tryvox",
        account_id="acc_1",
        api_key=SecretStr("k"),
        base_url="https://api.tryvox.test",
    ),
    SecretStr("tvx_key_history"),
)


def sync_once(engine: Engine, handler: Any, clock: FakeClock, **options: Any) -> AccountResult:
    """Sync `ACCOUNT` against a fake's `handler`, or the simulated `tryvox-1` of a world."""
    account, transport = ACCOUNT, httpx.MockTransport(handler)
    if isinstance(handler, World):
        providers = SimulatedProviders(handler)
        account, transport = providers.account("tryvox-1", name="vox-main"), providers.transport
    client = ProviderClient(
        account,
        clock=clock,
        policy=RetryPolicy(max_attempts=2),
        transport=transport,
    )
    with client:
        return AccountSync(
            engine, Config(), client, clock=clock, options=SyncOptions(**options)
        ).run()


def versions_of(engine: Engine, e164: str) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                select(
                    PhoneNumberVersion.status,
                    PhoneNumberVersion.monthly_fee,
                    PhoneNumberVersion.valid_from,
                    PhoneNumberVersion.valid_to,
                )
                .join(PhoneNumber, PhoneNumber.id == PhoneNumberVersion.number_id)
                .where(PhoneNumber.e164 == e164)
                .order_by(PhoneNumberVersion.id)
            )
        ]


def changes_of(engine: Engine, e164: str) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                select(StatusChange.from_status, StatusChange.to_status, StatusChange.changed_at)
                .where(StatusChange.e164 == e164)
                .order_by(StatusChange.id)
            )
        ]


def count(engine: Engine, model: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(model)).scalar_one())


def e164(n: int) -> str:
    return tryvox_item(n)["e164"]


def other_status(status: str) -> str:
    return "suspended" if status != "suspended" else "active"


def test_change_matrix(engine: Engine, clock: FakeClock) -> None:
    world = world_of(6, clock=clock)
    numbers = world.numbers_of("tryvox-1")
    first_state = {number.e164: (number.status, number.monthly_fee) for number in numbers}
    t1 = clock.now()
    first = sync_once(engine, world, clock)
    assert first.ok
    assert (first.counts.created, first.counts.seen) == (6, 6)
    assert count(engine, PhoneNumberVersion) == 6

    # the world changes: a status, a fee, a removal, a new number; two stay as they were
    moved, repriced, removed, kept = numbers[0], numbers[1], numbers[2], numbers[3]
    was, fee = first_state[moved.e164]
    world.set_status("tryvox", "tryvox-1", moved.key, other_status(was))
    new_fee = repriced.monthly_fee + Decimal("0.75")
    world.set_monthly_fee("tryvox-1", repriced.key, new_fee)
    world.release("tryvox-1", removed.key)
    (added,) = world.add_numbers("tryvox-1", 1)
    clock.advance(3600)
    t2 = clock.now()
    second = sync_once(engine, world, clock)
    assert second.ok, second.error
    c = second.counts
    assert (c.seen, c.created, c.updated, c.unchanged, c.released, c.rejected) == (6, 1, 2, 3, 1, 0)

    assert versions_of(engine, moved.e164) == [(was, fee, t1, t2), (moved.status, fee, t2, None)]
    repriced_status, old_fee = first_state[repriced.e164]
    assert versions_of(engine, repriced.e164) == [
        (repriced_status, old_fee, t1, t2),
        (repriced_status, new_fee, t2, None),
    ]
    removed_status, removed_fee = first_state[removed.e164]
    assert versions_of(engine, removed.e164) == [
        (removed_status, removed_fee, t1, t2),
        ("released", removed_fee, t2, None),
    ]
    new = world.numbers_of("tryvox-1")[0]  # TryVox lists the newest first
    assert new.key == added
    assert versions_of(engine, added) == [(new.status, new.monthly_fee, t2, None)]
    assert versions_of(engine, kept.e164) == [(*first_state[kept.e164], t1, None)]
    assert changes_of(engine, moved.e164) == [(None, was, t1), (was, moved.status, t2)]
    assert changes_of(engine, repriced.e164) == [(None, repriced_status, t1)]  # a fee change only
    assert changes_of(engine, removed.e164) == [
        (None, removed_status, t1),
        (removed_status, "released", t2),
    ]

    # the removed number comes back
    world.restore(removed)
    clock.advance(3600)
    t3 = clock.now()
    third = sync_once(engine, world, clock)
    assert (third.counts.updated, third.counts.created, third.counts.released) == (1, 0, 0)
    assert versions_of(engine, removed.e164)[-2:] == [
        ("released", removed_fee, t2, t3),
        (removed_status, removed_fee, t3, None),
    ]
    assert changes_of(engine, removed.e164)[-1] == ("released", removed_status, t3)
    with engine.connect() as conn:
        back = conn.execute(select(PhoneNumber).where(PhoneNumber.e164 == removed.e164)).one()
    assert (back.status, back.released_at, back.first_seen_at) == (removed_status, None, t1)
    assert_history_invariants(engine)


def test_unchanged_world_changes_no_row(engine: Engine, clock: FakeClock) -> None:
    world = world_of(250)
    sync_once(engine, world, clock)
    with engine.connect() as c:
        before = [tuple(r) for r in c.execute(select(PhoneNumber).order_by(PhoneNumber.id))]
        versions_before = [tuple(r) for r in c.execute(select(PhoneNumberVersion))]
    clock.advance(600)
    again = sync_once(engine, world, clock)
    assert again.ok
    assert (again.counts.unchanged, again.counts.created, again.counts.updated) == (250, 0, 0)
    with engine.connect() as c:
        after = [tuple(r) for r in c.execute(select(PhoneNumber).order_by(PhoneNumber.id))]
        versions_after = [tuple(r) for r in c.execute(select(PhoneNumberVersion))]
    assert after == before
    assert versions_after == versions_before
    assert count(engine, StatusChange) == 250


def test_last_seen_is_refreshed_daily_not_every_sync(engine: Engine, clock: FakeClock) -> None:
    world = world_of(3)
    t1 = clock.now()
    sync_once(engine, world, clock)
    clock.advance(3600)
    sync_once(engine, world, clock)
    with engine.connect() as c:
        assert set(c.execute(select(PhoneNumber.last_seen_at)).scalars()) == {t1}
    clock.advance(86400)
    t3 = clock.now()
    sync_once(engine, world, clock)
    with engine.connect() as c:
        assert set(c.execute(select(PhoneNumber.last_seen_at)).scalars()) == {t3}
    assert count(engine, PhoneNumberVersion) == 3


def test_rejected_record_keeps_last_good_state_and_is_not_released(
    engine: Engine, clock: FakeClock
) -> None:
    fake = FakeTryVox([tryvox_item(n) for n in range(4)])
    sync_once(engine, fake, clock)
    fake.items[1]["status"] = "decommissioned"
    fake.items[2]["monthly_fee"] = "-5.00"
    clock.advance(60)
    result = sync_once(engine, fake, clock)
    assert result.ok, result.error
    assert (result.counts.rejected, result.counts.released, result.counts.seen) == (2, 0, 4)
    with engine.connect() as c:
        statuses = dict(c.execute(select(PhoneNumber.e164, PhoneNumber.status)).all())
        rejected = c.execute(
            select(SyncRun.id, SyncRun.rejected).where(SyncRun.id == result.run_id)
        ).one()
        from syncer.store.models import RejectedRecord

        rows = c.execute(select(RejectedRecord).order_by(RejectedRecord.external_id)).all()
    assert statuses[e164(1)] == "active"
    assert rejected.rejected == 2
    assert [r.external_id for r in rows] == sorted([e164(1), e164(2)])
    by_key = {r.external_id: r for r in rows}
    assert "status" in by_key[e164(1)].reason
    assert by_key[e164(2)].payload["monthly_fee"] == Decimal("-5.00")  # as received, exact
    assert_history_invariants(engine)


def test_sync_run_row_records_the_run(engine: Engine, clock: FakeClock) -> None:
    result = sync_once(engine, world_of(150), clock)
    with engine.connect() as c:
        run = c.execute(select(SyncRun).where(SyncRun.id == result.run_id)).one()
    assert run.status == "succeeded"
    assert run.listing_complete
    assert (run.pages, run.seen, run.created, run.error) == (2, 150, 150, None)
    assert run.finished_at is not None
    assert run.finished_at >= run.started_at
    assert timedelta(0) <= run.finished_at - run.started_at
