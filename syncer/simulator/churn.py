"""Months of provider life in one call: status changes, releases, fee changes, new numbers.

`churn(world, fraction, seed)` picks `round(fraction x numbers)` existing numbers, the same
ones for the same world and seed. Each is released (25%), has its TryVox monthly fee changed
(20% of the TryVox ones), or else changes status. Then a quarter as many new numbers are
bought, spread over random accounts. The caller holds the world's lock.

It changes the world only through the five methods of `ChurnableWorld`, which `World` has; so
this module does not import the world (the world imports it, for `World.churn`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

from syncer.provider_facts import FACTS, TRYVOX
from syncer.simulator.model import SimAccount, SimNumber

RELEASE_SHARE = 0.25
FEE_SHARE = 0.20
NEW_SHARE = 0.25
_FEE_STEPS = tuple(Decimal(step) for step in ("0.10", "0.25", "0.50", "-0.05", "-0.10"))
_CENT = Decimal("0.01")


class ChurnableWorld(Protocol):
    """What churn needs of a world (see `World` for what each method does)."""

    @property
    def accounts(self) -> list[SimAccount]: ...
    def numbers_of(self, account_name: str) -> list[SimNumber]: ...
    def remove_many(self, account_name: str, keys: Iterable[str]) -> None: ...
    def touch(self, number: SimNumber) -> None: ...
    def add_numbers(self, account_name: str, n: int) -> list[str]: ...


def churn(world: ChurnableWorld, fraction: float, seed: int) -> dict[str, Any]:
    """Change the world; returns counts (`status_changes`, `releases`, `fee_changes`,
    `new_numbers`) and `details`: one `{change, provider, account, key, from, to}` per change.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"churn fraction must be between 0 and 1, got {fraction!r}")
    rng = random.Random(seed)
    everyone = [n for account in world.accounts for n in world.numbers_of(account.name)]
    chosen = rng.sample(everyone, round(fraction * len(everyone)))
    details: list[dict[str, Any]] = []
    releases: dict[str, list[str]] = defaultdict(list)
    for number in chosen:
        roll = rng.random()
        if roll < RELEASE_SHARE:
            releases[number.account].append(number.key)
            details.append(_detail("release", number, number.status, None))
        elif roll < RELEASE_SHARE + FEE_SHARE and number.provider == TRYVOX:
            details.append(_change_fee(world, number, rng))
        else:
            details.append(_change_status(world, number, rng))
    for account, keys in releases.items():
        world.remove_many(account, keys)
    details.extend(_buy_numbers(world, round(len(chosen) * NEW_SHARE), rng))
    counts = {
        "status_changes": "status",
        "releases": "release",
        "fee_changes": "fee",
        "new_numbers": "new",
    }
    summary: dict[str, Any] = {
        name: sum(1 for detail in details if detail["change"] == change)
        for name, change in counts.items()
    }
    summary["details"] = details
    return summary


def _change_status(world: ChurnableWorld, number: SimNumber, rng: random.Random) -> dict[str, Any]:
    before = number.status
    number.status = rng.choice([s for s in FACTS[number.provider].statuses if s != before])
    world.touch(number)
    return _detail("status", number, before, number.status)


def _change_fee(world: ChurnableWorld, number: SimNumber, rng: random.Random) -> dict[str, Any]:
    before = number.monthly_fee
    step = rng.choice(_FEE_STEPS)
    if before + step < 0:
        step = -step
    number.monthly_fee = (before + step).quantize(_CENT)
    world.touch(number)
    return _detail("fee", number, str(before), str(number.monthly_fee))


def _buy_numbers(world: ChurnableWorld, count: int, rng: random.Random) -> list[dict[str, Any]]:
    wanted: dict[str, int] = defaultdict(int)
    accounts = world.accounts
    for _ in range(count):
        wanted[rng.choice(accounts).name] += 1
    details: list[dict[str, Any]] = []
    for account in accounts:
        count = wanted[account.name]
        for key in world.add_numbers(account.name, count) if count else []:
            details.append(
                {
                    "change": "new",
                    "provider": account.provider,
                    "account": account.name,
                    "key": key,
                    "from": None,
                    "to": None,
                }
            )
    return details


def _detail(
    change: str, number: SimNumber, before: str | None, after: str | None
) -> dict[str, Any]:
    return {
        "change": change,
        "provider": number.provider,
        "account": number.account,
        "key": number.key,
        "from": before,
        "to": after,
    }
