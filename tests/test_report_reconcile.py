"""Every figure of every report reconciles with the simulated providers' inventory.

Two real syncs over HTTP against the simulator on loopback, with the world churned in
between (status changes, releases, fee changes, new numbers). The expectations are computed
here, independently of syncer, from the two inventories (`world.inventory()`, the truth),
the Ringyo fee schedules and the two sync instants.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.reports.accrual import AccrualRequest, accrual_report
from syncer.reports.changes import ChangesRequest, changes_report
from syncer.reports.costs import CostsRequest, costs_report
from syncer.reports.runs import RunsRequest, runs_report
from syncer.simulator import SimulatorServer, World
from syncer.sync import sync_accounts
from tests.conftest import FakeClock
from tests.history import utc

FIRST_SYNC = utc(2026, 11, 10, 9)
CHURN = utc(2026, 11, 20, 12)
SECOND_SYNC = utc(2026, 11, 21, 9)
NOW = utc(2026, 12, 1)  # November is over
NOVEMBER = (utc(2026, 11, 1), utc(2026, 12, 1))
BILLABLE = ("active", "suspended")
# ringyo-1 has the demo's USD fee schedule; ringyo-2 here has none: its numbers are unpriced
FEES = {"ringyo-1": {"default": Decimal("1.00"), "US": Decimal("1.15"), "GB": Decimal("1.40")}}


@dataclass(frozen=True)
class Truth:
    """One number as its provider lists it, with the fee syncer should know it by."""

    account: str
    provider: str
    key: str
    e164: str
    status: str
    fee: Decimal | None
    currency: str | None
    setup: Decimal | None
    created: datetime
    item: str  # the whole item, to tell whether anything changed


def truths(inventory: dict[str, Any]) -> dict[tuple[str, str], Truth]:
    found = {}
    for provider in ("ringyo", "tryvox"):
        for account, items in inventory[provider].items():
            for item in items:
                if provider == "ringyo":
                    schedule = FEES.get(account)
                    fee = schedule.get(item["country"], schedule["default"]) if schedule else None
                    key, e164, currency, setup = item["id"], item["phone_number"], None, None
                    currency = "USD" if fee is not None else None
                else:
                    fee, setup = Decimal(item["monthly_fee"]), Decimal(item["setup_fee"])
                    key, e164, currency = item["e164"], item["e164"], item["currency"]
                created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
                found[account, key] = Truth(
                    account, provider, key, e164, item["status"], fee, currency, setup,
                    created.astimezone(UTC), repr(sorted(item.items())),
                )  # fmt: skip
    return found


@dataclass
class Story:
    engine: Engine
    before: dict[tuple[str, str], Truth]
    after: dict[tuple[str, str], Truth]


def simulated_config(
    database_url: str, server: SimulatorServer, world: World
) -> tuple[Config, list[ResolvedAccount]]:
    accounts = []
    for sim in world.accounts:
        fees = FEES.get(sim.name)
        config = AccountConfig(
            name=sim.name,
            provider=sim.provider,
            api_key=SecretStr(sim.api_key),
            account_id=sim.account_id,
            base_url=server.url,
            fees=fees,
            currency="USD" if fees else None,
        )
        accounts.append(ResolvedAccount(config, SecretStr(sim.api_key)))
    return Config(database_url=database_url, accounts=[a.config for a in accounts]), accounts


@pytest.fixture
def story(engine: Engine) -> Story:
    return tell_story(engine)


def tell_story(engine: Engine) -> Story:
    """Sync the world, churn it, sync again (the instants above); the truth before and after."""
    clock = FakeClock(FIRST_SYNC)
    world = World.generate(numbers=160, seed=5, accounts_per_provider=2, clock=clock.now)
    with SimulatorServer(world, port=0) as server:
        config, accounts = simulated_config(str(engine.url), server, world)
        assert all(r.ok for r in sync_accounts(engine, config, accounts, clock=clock))
        before = truths(world.inventory())
        clock.current = CHURN  # the new numbers are bought now
        changes = world.churn(fraction=0.25, seed=3)
        assert all(changes[kind] for kind in ("releases", "fee_changes", "new_numbers"))
        clock.current = SECOND_SYNC
        assert all(r.ok for r in sync_accounts(engine, config, accounts, clock=clock))
        after = truths(world.inventory())
    return Story(engine, before, after)


def test_every_report_reconciles_with_the_inventory(story: Story) -> None:
    check_costs(story)
    check_changes(story)
    check_runs(story)
    check_accrual(story)


def check_costs(story: Story) -> None:
    def expected(state: dict[tuple[str, str], Truth]) -> dict[Any, tuple[int, Decimal | None, int]]:
        totals: dict[Any, tuple[int, Decimal | None, int]] = {}
        for n in state.values():
            count, fees, unpriced = totals.get((n.account, n.status, n.currency), (0, None, 0))
            if n.fee is not None:
                fees = (fees or Decimal(0)) + n.fee
            totals[n.account, n.status, n.currency] = (count + 1, fees, unpriced + (n.fee is None))
        return totals

    def reported(**options: Any) -> dict[Any, tuple[int, Decimal | None, int]]:
        report = costs_report(
            story.engine, CostsRequest.parse(by="account,status", **options), now=NOW
        )
        return {
            (*r.keys, r.currency): (r.numbers, r.monthly_fee_total, r.unpriced_numbers)
            for r in report.rows
        }

    assert reported() == expected(story.after)
    assert reported(as_of="2026-11-15") == expected(story.before)
    # the released ones, with the fee they had when they went
    gone = {k: n for k, n in story.before.items() if k not in story.after}
    assert gone
    assert reported(status="released") == {
        (account, "released", currency): figures
        for (account, _status, currency), figures in expected(gone).items()
    }


def check_changes(story: Story) -> None:
    expected: list[tuple[str, str, str | None, str, datetime]] = [
        (n.account, n.e164, None, n.status, FIRST_SYNC) for n in story.before.values()
    ]
    for key, n in story.after.items():
        old = story.before.get(key)
        if old is None:
            expected.append((n.account, n.e164, None, n.status, SECOND_SYNC))
        elif old.status != n.status:
            expected.append((n.account, n.e164, old.status, n.status, SECOND_SYNC))
    expected += [
        (n.account, n.e164, n.status, "released", SECOND_SYNC)
        for key, n in story.before.items()
        if key not in story.after
    ]
    report = changes_report(
        story.engine, ChangesRequest.parse(since="2026-11-01", until="2026-11-30"), now=NOW
    )
    listed = [(c.account, c.e164, c.from_status, c.to_status, c.changed_at) for c in report.changes]
    assert sorted(listed, key=repr) == sorted(expected, key=repr)
    assert Counter({(s.from_status, s.to_status): s.count for s in report.summary}) == Counter(
        (e[2], e[3]) for e in expected
    )


def check_runs(story: Story) -> None:
    report = runs_report(story.engine, RunsRequest.parse(limit=4))
    for run in report.runs:
        mine = {k: n for k, n in story.after.items() if n.account == run.account}
        old = {k: n for k, n in story.before.items() if n.account == run.account}
        assert run.started_at == SECOND_SYNC
        assert run.status == "succeeded"
        assert run.listing_complete
        assert run.counts["seen"] == len(mine)
        assert run.counts["created"] == len(mine.keys() - old.keys())
        assert run.counts["released"] == len(old.keys() - mine.keys())
        assert run.counts["updated"] == sum(
            1 for k in mine.keys() & old.keys() if mine[k].item != old[k].item
        )
        assert run.counts["rejected"] == 0


@dataclass
class Expected:
    """November as the inventories say it should be accrued, per currency (None: unpriced)."""

    accrued: dict[Any, Fraction]
    parts: dict[Any, Fraction]
    numbers: dict[Any, set[str]]
    setups: dict[Any, Fraction]


def expected_november(story: Story) -> Expected:
    start, end = NOVEMBER
    length = Fraction((end - start).total_seconds())

    def rate(n: Truth) -> Fraction:
        return Fraction(n.fee) if n.status in BILLABLE and n.fee is not None else Fraction(0)

    def share(since: datetime, until: datetime = end) -> Fraction:
        return Fraction((until - since).total_seconds()) / length

    accrued: dict[Any, Fraction] = defaultdict(Fraction)
    parts: dict[Any, Fraction] = defaultdict(Fraction)
    numbers: dict[Any, set[str]] = {}
    for key, n in story.before.items():
        later = story.after.get(key)
        accrued[n.currency] += rate(n) * share(FIRST_SYNC, SECOND_SYNC)
        parts[n.currency, "numbers_added"] += rate(n) * share(FIRST_SYNC)
        if n.status in BILLABLE:
            numbers.setdefault(n.currency, set()).add(n.e164)
        if later is None:
            parts[n.currency, "numbers_released"] -= rate(n) * share(SECOND_SYNC)
            continue
        accrued[later.currency] += rate(later) * share(SECOND_SYNC)
        if later.status in BILLABLE:
            numbers.setdefault(later.currency, set()).add(later.e164)
        billable_before, billable_after = n.status in BILLABLE, later.status in BILLABLE
        fee_before, fee_after = Fraction(n.fee or 0), Fraction(later.fee or 0)
        parts[n.currency, "status_changes"] += (
            (billable_after - billable_before) * fee_before * share(SECOND_SYNC)
        )
        parts[n.currency, "price_changes"] += (
            billable_after * (fee_after - fee_before) * share(SECOND_SYNC)
        )
    for key, n in story.after.items():
        if key not in story.before:
            accrued[n.currency] += rate(n) * share(SECOND_SYNC)
            parts[n.currency, "numbers_added"] += rate(n) * share(SECOND_SYNC)
            if n.status in BILLABLE:
                numbers.setdefault(n.currency, set()).add(n.e164)
    setups: dict[Any, Fraction] = defaultdict(Fraction)
    for n in {**story.before, **story.after}.values():
        if n.setup is not None and start <= n.created < end:
            setups[n.currency] += Fraction(n.setup)
    return Expected(accrued, parts, numbers, setups)


def check_accrual(story: Story) -> None:
    expected = expected_november(story)
    accrued, parts, numbers, setups = (
        expected.accrued,
        expected.parts,
        expected.numbers,
        expected.setups,
    )
    report = accrual_report(
        story.engine, AccrualRequest.parse(start="2026-11", end="2026-11"), now=NOW
    )
    assert {row.currency for row in report.rows} == set(numbers)
    for row in report.rows:
        assert row.numbers == len(numbers[row.currency])
        if row.currency is None:  # ringyo-2: no fee schedule
            assert (row.accrued, row.unpriced_numbers) == (None, row.numbers)
            continue
        assert row.setup_fees == setups[row.currency]
        assert row.accrued == accrued[row.currency] + setups[row.currency]
        assert row.delta is not None
        assert row.delta.total == row.accrued  # October had nothing
        for name in ("numbers_added", "numbers_released", "status_changes", "price_changes"):
            assert row.delta.parts[name] == parts[row.currency, name], name
        assert row.delta.parts["setup_fees"] == setups[row.currency]
        assert row.delta.parts["not_yet_accrued"] == 0
