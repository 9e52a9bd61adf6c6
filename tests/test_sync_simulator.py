"""End to end against the simulator on loopback: the real client, both providers, and tables
that equal the simulated inventory to the cent."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.simulator import SimulatorServer, World
from syncer.store.models import PhoneNumber, PhoneNumberVersion, StatusChange
from syncer.sync import sync_accounts
from tests.invariants import assert_history_invariants
from tests.truth import assert_matches_inventory

FEES = {"default": Decimal("1.00"), "US": Decimal("1.15"), "GB": Decimal("1.40")}


@pytest.fixture(scope="module")
def world_server() -> Iterator[tuple[World, SimulatorServer]]:
    world = World.generate(numbers=1200, seed=11, accounts_per_provider=2)
    with SimulatorServer(world, port=0) as server:
        yield world, server


def accounts_for(world: World, url: str, **per_account: dict[str, Any]) -> Config:
    configs = []
    for sim in world.accounts:
        extra: dict[str, Any] = dict(per_account.get(sim.name, {}))
        if sim.name == "ringyo-1":
            extra.setdefault("fees", FEES)
            extra.setdefault("currency", "EUR")
        configs.append(
            AccountConfig(
                name=sim.name,
                provider=sim.provider,
                api_key=SecretStr(sim.api_key),
                base_url=url,
                account_id=sim.account_id,
                **extra,
            )
        )
    return Config(accounts=configs)


def resolved(config: Config) -> list[ResolvedAccount]:
    return [ResolvedAccount(a, a.api_key) for a in config.accounts if a.api_key]


def versions(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(PhoneNumberVersion)).scalar_one())


def test_sync_equals_the_inventory_then_follows_its_changes(engine: Engine) -> None:
    world = World.generate(numbers=900, seed=5, accounts_per_provider=2)
    with SimulatorServer(world, port=0) as server:
        config = accounts_for(world, server.url)
        results = sync_accounts(engine, config, resolved(config))
        assert all(r.ok for r in results), [r.error for r in results]
        assert sum(r.counts.created for r in results) == 900
        counts = assert_matches_inventory(engine, world.inventory(), config)
        assert counts["matched"] == 900

        before = versions(engine)
        again = sync_accounts(engine, config, resolved(config))
        assert all(r.ok and r.counts.unchanged == r.counts.seen for r in again)
        assert versions(engine) == before  # idempotent: no version added

        summary = world.churn(fraction=0.1, seed=3)
        results = sync_accounts(engine, config, resolved(config))
        assert all(r.ok for r in results), [r.error for r in results]
        counts = assert_matches_inventory(engine, world.inventory(), config)
        assert counts["released"] == summary["releases"]
        assert sum(r.counts.released for r in results) == summary["releases"]
        assert sum(r.counts.created for r in results) == summary["new_numbers"]
        with engine.connect() as c:
            moved = c.execute(
                select(func.count())
                .select_from(StatusChange)
                .where(StatusChange.from_status.is_not(None))
            ).scalar_one()
        assert moved == summary["status_changes"] + summary["releases"]
    assert_history_invariants(engine)


def test_ringyo_fees_come_from_the_schedule_and_money_is_exact(
    engine: Engine, world_server: tuple[World, SimulatorServer]
) -> None:
    world, server = world_server
    config = accounts_for(world, server.url)
    sync_accounts(engine, config, resolved(config))
    with engine.connect() as c:
        rows = c.execute(
            select(
                PhoneNumber.account,
                PhoneNumber.country,
                PhoneNumber.monthly_fee,
                PhoneNumber.currency,
            ).where(PhoneNumber.provider == "ringyo")
        ).all()
        total = c.execute(
            select(func.sum(PhoneNumber.monthly_fee)).where(PhoneNumber.provider == "tryvox")
        ).scalar_one()
    for account, country, fee, currency in rows:
        if account == "ringyo-1":
            assert (fee, currency) == (FEES.get(country, FEES["default"]), "EUR")
        else:
            assert (fee, currency) == (None, None)  # no schedule: unpriced, never free
    expected = sum(
        (
            Decimal(item["monthly_fee"])
            for items in world.inventory()["tryvox"].values()
            for item in items
        ),
        Decimal(0),
    )
    assert Decimal(total).quantize(Decimal("0.01")) == expected


@pytest.mark.parametrize(
    ("filters", "provider"),
    [
        ({"country": "US"}, "ringyo"),
        ({"status": "pending"}, "ringyo"),
        ({"country": "GB"}, "tryvox"),
        ({"status": "suspended", "country": "US"}, "tryvox"),
    ],
)
def test_filters_list_only_their_part(
    engine: Engine,
    world_server: tuple[World, SimulatorServer],
    filters: dict[str, str],
    provider: str,
) -> None:
    world, server = world_server
    name = f"{provider}-2"
    config = accounts_for(world, server.url, **{name: {"filters": filters}})
    config = Config(accounts=[config.account(name)])
    results = sync_accounts(engine, config, resolved(config))
    assert results[0].status == "succeeded", results[0].error
    key = "id" if provider == "ringyo" else "e164"
    wanted = {
        item[key]
        for item in world.inventory()[provider][name]
        if all(item[field] == value for field, value in filters.items())
    }
    with engine.connect() as c:
        stored = set(c.execute(select(PhoneNumber.external_id)).scalars())
    assert stored == wanted
    assert wanted


def test_a_number_moving_between_pages_is_neither_missed_nor_released(
    engine: Engine,
) -> None:
    """New numbers appear at the front of a TryVox listing after page 1 (drift)."""
    from syncer.simulator import parse_faults

    world = World.generate(numbers=1000, seed=9, accounts_per_provider=1)
    with SimulatorServer(
        world, port=0, faults=parse_faults("tryvox:drift_after_page=1,drift_count=7")
    ) as server:
        config = accounts_for(world, server.url)
        config = Config(accounts=[config.account("tryvox-1")])
        first = sync_accounts(engine, config, resolved(config))[0]
        assert first.ok, first.error
        assert_matches_inventory(engine, world.inventory(), config)
        assert first.counts.released == 0
