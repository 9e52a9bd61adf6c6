"""Release only on proof: failed, partial, filtered or emptied listings release nothing.

The account is the simulator's `tryvox-1` (250 numbers), listed in-process; a listing that
never adds up, or holds a record spoiled in a precise way, is served by `tests.fakes` with the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Engine, Table, func, select

from syncer.config import Config, ResolvedAccount
from syncer.providers import ProviderClient, RetryPolicy
from syncer.release_guard import state_before_the_run
from syncer.simulator import World, parse_faults
from syncer.store.history import AccountHistory
from syncer.store.models import PhoneNumber, SyncRun
from syncer.sync import AccountResult, AccountSync, SyncOptions
from tests.conftest import FakeClock
from tests.fakes import FakeTryVox
from tests.invariants import assert_history_invariants
from tests.simulated import SimulatedProviders, items_of, world_of


@dataclass
class Stored:
    """The simulated `tryvox-1`, configured as "vox-main"."""

    world: World
    providers: SimulatedProviders

    def account(self, **extra: Any) -> ResolvedAccount:
        return self.providers.account("tryvox-1", name="vox-main", **extra)

    def keys(self) -> list[str]:
        return [number.key for number in self.world.numbers_of("tryvox-1")]

    def fake(self) -> FakeTryVox:
        """A fake listing the account's numbers as the simulator serves them, to spoil."""
        return FakeTryVox(items_of(self.world, "tryvox-1"))


def sync_once(
    engine: Engine,
    provider: Stored | FakeTryVox,
    clock: FakeClock,
    account: ResolvedAccount | None = None,
    config: Config | None = None,
    **options: Any,
) -> AccountResult:
    """Sync `account` (default: the stored one) against the simulator or a fake."""
    if isinstance(provider, Stored):
        account, transport = account or provider.account(), provider.providers.transport
    else:
        assert account is not None
        transport = httpx.MockTransport(provider)
    client = ProviderClient(
        account,
        clock=clock,
        policy=RetryPolicy(max_attempts=2, base_delay=0.01),
        transport=transport,
    )
    with client:
        return AccountSync(
            engine, config or Config(), client, clock=clock, options=SyncOptions(**options)
        ).run()


def statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as c:
        return dict(c.execute(select(PhoneNumber.e164, PhoneNumber.status)).all())


def run_row(engine: Engine, run_id: int | None) -> Any:
    with engine.connect() as c:
        return c.execute(select(SyncRun).where(SyncRun.id == run_id)).one()


@pytest.fixture
def stored(engine: Engine, clock: FakeClock) -> Stored:
    """250 numbers synced once (three pages of 100)."""
    world = world_of(250, clock=clock)
    account = Stored(world, SimulatedProviders(world))
    assert sync_once(engine, account, clock).ok
    clock.advance(600)
    return account


def test_failed_listing_releases_nothing(engine: Engine, clock: FakeClock, stored: Stored) -> None:
    stored.world.remove_many("tryvox-1", stored.keys()[:10])
    stored.world.set_faults(parse_faults("tryvox:fail_after=2"))  # the third page: 503s
    result = sync_once(engine, stored, clock)
    assert result.status == "failed"
    assert not result.ok
    assert "503" in (result.error or "")
    assert "released" not in statuses(engine).values()
    row = run_row(engine, result.run_id)
    assert (row.status, row.released, row.listing_complete) == ("failed", 0, False)
    assert_history_invariants(engine)


def test_inconsistent_listing_stores_records_but_releases_nothing(
    engine: Engine, clock: FakeClock, stored: Stored
) -> None:
    fake = stored.fake()
    del fake.items[:10]
    fake.items[20]["status"] = "pending" if fake.items[20]["status"] != "pending" else "active"
    fake.total_override = 245  # the counts never add up
    result = sync_once(engine, fake, clock, account=stored.account())
    assert result.status == "succeeded"
    assert not result.ok  # not listed completely: exit code 1
    assert "listing incomplete" in (result.error or "")
    assert result.counts.updated == 1  # what was seen is stored
    assert "released" not in statuses(engine).values()


def test_mass_release_guard(engine: Engine, clock: FakeClock, stored: Stored) -> None:
    # an emptied listing (a provider bug, a wrong account id...)
    stored.world.remove_many("tryvox-1", stored.keys())
    result = sync_once(engine, stored, clock)
    assert result.status == "failed"
    assert "mass release guard" in (result.error or "")
    assert "lacks 250 of the 250 numbers live before this run" in (result.error or "")
    assert "released" not in statuses(engine).values()
    clock.advance(60)
    allowed = sync_once(engine, stored, clock, allow_mass_release=True)
    assert allowed.ok
    assert allowed.counts.released == 250
    assert set(statuses(engine).values()) == {"released"}
    assert_history_invariants(engine)


def test_guard_threshold_is_configurable(engine: Engine, clock: FakeClock, stored: Stored) -> None:
    stored.world.remove_many("tryvox-1", stored.keys()[:30])  # 12% of 250
    result = sync_once(engine, stored, clock, config=Config(max_release_fraction=0.1))
    assert "mass release guard" in (result.error or "")
    clock.advance(60)
    result = sync_once(engine, stored, clock, config=Config(max_release_fraction=0.2))
    assert result.ok
    assert result.counts.released == 30


def test_country_filter_releases_only_inside_its_scope(
    engine: Engine, clock: FakeClock, stored: Stored
) -> None:
    numbers = stored.world.numbers_of("tryvox-1")
    country = numbers[0].country
    inside = [number.e164 for number in numbers if number.country == country]
    outside = [number.e164 for number in numbers if number.country != country]
    assert len(inside) >= 2
    assert outside
    stored.world.release("tryvox-1", inside[-1])  # one number of the country is gone
    asked: list[dict[str, str]] = []
    stored.providers.on_request = lambda request: asked.append(request.query)

    result = sync_once(engine, stored, clock, account=stored.account(filters={"country": country}))
    assert result.ok, result.error
    assert {query["country"] for query in asked} == {country}
    after = statuses(engine)
    assert after[inside[-1]] == "released"
    assert result.counts.released == 1
    assert "released" not in {after[e164] for e164 in outside}  # outside the scope


def test_status_filter_never_releases(engine: Engine, clock: FakeClock, stored: Stored) -> None:
    first = stored.world.numbers_of("tryvox-1")[0]
    stored.world.set_status("tryvox", "tryvox-1", first.key, "suspended")
    account = stored.account(filters={"status": "active"})
    result = sync_once(engine, stored, clock, account=account)
    assert not result.ok
    assert "status filter" in (result.error or "")
    assert "released" not in statuses(engine).values()


def test_unreadable_rejected_record_blocks_release(
    engine: Engine, clock: FakeClock, stored: Stored
) -> None:
    fake = stored.fake()
    fake.items[0]["e164"] = None  # a record whose number cannot be read
    del fake.items[1]
    result = sync_once(engine, fake, clock, account=stored.account())
    assert result.counts.rejected == 1
    assert "no readable number" in (result.error or "")
    assert "released" not in statuses(engine).values()


def test_comeback_after_release(engine: Engine, clock: FakeClock, stored: Stored) -> None:
    gone = stored.world.numbers_of("tryvox-1")[5]
    stored.world.release("tryvox-1", gone.key)
    assert sync_once(engine, stored, clock).counts.released == 1
    clock.advance(60)
    stored.world.restore(gone)
    result = sync_once(engine, stored, clock)
    assert (result.counts.updated, result.counts.released) == (1, 0)
    assert statuses(engine)[gone.e164] == gone.status
    assert_history_invariants(engine)


def test_the_state_read_counts_what_the_guard_weighs(engine: Engine, stored: Stored) -> None:
    """The one read of the account's rows at the start of a run counts the numbers the
    mass-release guard weighs: live, within the listing's scope, first seen by the end of the
    last successful run (every live one without it); the count a query of exactly those rows
    gives."""
    numbers = cast(Table, PhoneNumber.__table__)
    with engine.begin() as connection:
        ids = list(connection.execute(select(numbers.c.id).order_by(numbers.c.id)).scalars())
        first = min(connection.execute(select(numbers.c.first_seen_at)).scalars())
        later = first + timedelta(hours=1)
        connection.execute(
            numbers.update().where(numbers.c.id.in_(ids[:30])).values(first_seen_at=later)
        )
        connection.execute(
            numbers.update().where(numbers.c.id.in_(ids[20:50])).values(released_at=later)
        )
        connection.execute(
            numbers.update()
            .where(numbers.c.id.in_(ids[60:70]))
            .values(first_seen_at=later + timedelta(hours=1))
        )
        connection.execute(numbers.update().where(numbers.c.id.in_(ids[::3])).values(country="ZZ"))
    history = AccountHistory("tryvox", "vox-main", 0)

    def held(scope: dict[str, str], confirmed_by: datetime | None) -> int:
        query = select(func.count()).where(
            numbers.c.provider == "tryvox",
            numbers.c.account == "vox-main",
            numbers.c.released_at.is_(None),
            *(numbers.c[column] == value for column, value in scope.items()),
        )
        if confirmed_by is not None:
            query = query.where(numbers.c.first_seen_at <= confirmed_by)
        with engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    counts = set()
    for scope in ({}, {"country": "ZZ"}):
        for confirmed_by in (None, first, later):
            with engine.connect() as connection:
                state = history.read_state(connection, later, scope, confirmed_by)
            assert (state.held, state.live, state.stored) == (held(scope, confirmed_by), 220, 250)
            counts.add(state.held)
        with engine.connect() as connection:
            state, before = state_before_the_run(
                connection, history, scope=scope, stale_before=later
            )
        assert before.confirmed_by is not None  # the end of the one successful run
        assert before.count == state.held == held(scope, before.confirmed_by)
    assert len(counts) == 6  # each case counts something else
