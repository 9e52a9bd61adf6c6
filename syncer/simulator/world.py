"""The simulated world: accounts, their numbers in listing order, and the changes to them.

One re-entrant lock guards all state; every public method takes it, so tests may mutate the
world while the server lists it. Listing is O(page): each account keeps its numbers in the
provider's listing order (Ringyo: `created_at`, `id` ascending; TryVox: `created_at`
descending, then `e164`), filtered views are cached until the next mutation, and Ringyo's
keyset cursors are found by bisection.
"""

from __future__ import annotations

import bisect
import gc
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from syncer.provider_facts import FACTS, PROVIDERS, RINGYO, TRYVOX
from syncer.simulator.churn import churn
from syncer.simulator.faults import Faults, no_faults
from syncer.simulator.model import (
    HISTORY_END,
    RINGYO_PATH,
    TRYVOX_PATH,
    NumberFactory,
    SimAccount,
    SimNumber,
)
from syncer.simulator.wire import item, malform, malformation_of, text_money

Clock = Callable[[], datetime]
SortKey = tuple[int, str]
_MAX_CACHED_VIEWS = 256


@dataclass
class _View:
    """An account's numbers matching one filter, in listing order; built once per version."""

    numbers: list[SimNumber]
    _sort_keys: list[SortKey] | None = field(default=None, repr=False)

    def position_after(self, last: SortKey) -> int:
        """Index of the first number listed after `last` (Ringyo order), even if `last` is gone."""
        if self._sort_keys is None:
            self._sort_keys = [ringyo_sort_key(number) for number in self.numbers]
        return bisect.bisect_right(self._sort_keys, last)


@dataclass(frozen=True)
class RingyoPage:
    items: list[dict[str, Any]]
    total: int
    last: SortKey | None
    has_more: bool
    malformed: int


@dataclass(frozen=True)
class TryVoxPage:
    items: list[dict[str, Any]]
    total: int
    malformed: int


def _split(numbers: int, weights: list[int]) -> list[int]:
    """`numbers` split in proportion to `weights`; the remainder goes to the first shares."""
    total = sum(weights)
    sizes = [numbers * weight // total for weight in weights]
    for index in range(numbers - sum(sizes)):
        sizes[index % len(sizes)] += 1
    return sizes


def ringyo_sort_key(number: SimNumber) -> SortKey:
    return (number.created_ts, number.key)


def _tryvox_sort_key(number: SimNumber) -> tuple[int, str]:
    return (-number.created_ts, number.key)


def _now() -> datetime:
    return datetime.now(UTC)


class World:
    """Accounts and numbers of both providers, generated from a seed, changeable at run time."""

    def __init__(
        self, seed: int, clock: Clock | None = None, history_end: datetime = HISTORY_END
    ) -> None:
        self.seed = seed
        self._clock = clock or _now
        self._lock = threading.RLock()
        self._factory = NumberFactory(seed, history_end)
        self._accounts: dict[str, SimAccount] = {}
        self._ringyo_by_key: dict[str, SimAccount] = {}
        self._tryvox_by_id: dict[str, SimAccount] = {}
        self._listing: dict[str, list[SimNumber]] = {}
        self._by_key: dict[str, dict[str, SimNumber]] = {}
        self._views: dict[tuple[str, str | None, str | None], _View] = {}
        self._faults = no_faults()
        self.version = 0
        self.faults_version = 0

    @classmethod
    def generate(
        cls,
        numbers: int = 1000,
        seed: int = 1,
        accounts_per_provider: int = 2,
        *,
        clock: Clock | None = None,
        history_end: datetime | None = None,
        weights: Sequence[int] | None = None,
    ) -> World:
        """A world of `numbers` numbers split evenly over `accounts_per_provider` accounts of
        each provider (`ringyo-1`, ..., `tryvox-1`, ...). Same seed, same world; `clock` only
        dates numbers bought later (default: the wall clock, UTC). The generated numbers were
        bought in the three years before `history_end` (default: `HISTORY_END`).

        `weights`, one per account of a provider, splits each provider's half unevenly: with
        two accounts, `(4, 1)` gives `ringyo-1` and `tryvox-1` four times the numbers of
        `ringyo-2` and `tryvox-2` (the benchmark's 80k/20k world)."""
        if numbers < 0 or accounts_per_provider < 1:
            raise ValueError("need numbers >= 0 and accounts_per_provider >= 1")
        if weights is not None and (len(weights) != accounts_per_provider or min(weights) < 1):
            raise ValueError("need one positive weight per account of a provider")
        world = cls(seed, clock, history_end or HISTORY_END)
        for provider in PROVIDERS:
            for index in range(1, accounts_per_provider + 1):
                world._open_account(provider, f"{provider}-{index}")
        sizes = _split(numbers, [*(weights or [1] * accounts_per_provider)] * len(PROVIDERS))
        # Hundreds of thousands of new objects and no garbage: the cyclic collector would
        # only rescan them over and over.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for account, size in zip(world._accounts.values(), sizes, strict=True):
                world._generate_numbers(account, size)
        finally:
            if collecting:
                gc.enable()
        return world

    def _open_account(self, provider: str, name: str) -> None:
        factory = self._factory
        if provider == RINGYO:
            account = SimAccount(provider, name, f"rk_sim_{factory.hex(32)}", None, RINGYO_PATH)
        else:
            account_id = f"acc_{factory.hex(12)}"
            path = TRYVOX_PATH.format(account_id=account_id)
            account = SimAccount(provider, name, f"tvx_sk_sim_{factory.hex(32)}", account_id, path)
        self._accounts[name] = account
        if account.account_id is None:
            self._ringyo_by_key[account.api_key] = account
        else:
            self._tryvox_by_id[account.account_id] = account
        self._listing[name] = []
        self._by_key[name] = {}

    def _generate_numbers(self, account: SimAccount, count: int) -> None:
        numbers = [
            self._factory.make(account, self._factory.historic_created_ts()) for _ in range(count)
        ]
        sort_key = ringyo_sort_key if account.provider == RINGYO else _tryvox_sort_key
        numbers.sort(key=sort_key)
        self._listing[account.name] = numbers
        self._by_key[account.name] = {number.key: number for number in numbers}

    # -- accounts ---------------------------------------------------------------------------

    @property
    def accounts(self) -> list[SimAccount]:
        return list(self._accounts.values())

    def account(self, name: str) -> SimAccount:
        """The account called `name`; KeyError naming it when there is none."""
        try:
            return self._accounts[name]
        except KeyError:
            raise KeyError(f"no simulated account {name!r}") from None

    def ringyo_account(self, api_key: str) -> SimAccount | None:
        """The Ringyo account whose API key is `api_key` (Ringyo's key names the account)."""
        return self._ringyo_by_key.get(api_key)

    def tryvox_account(self, account_id: str) -> SimAccount | None:
        """The TryVox account with this `account_id` (the path parameter)."""
        return self._tryvox_by_id.get(account_id)

    # -- faults -----------------------------------------------------------------------------

    @property
    def faults(self) -> dict[str, Faults]:
        with self._lock:
            return dict(self._faults)

    def set_faults(self, faults: Mapping[str, Faults] | None = None) -> None:
        """Replace the faults of both providers (a provider left out gets none)."""
        unknown = set(faults or {}) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"unknown provider(s) {sorted(unknown)}; use {list(PROVIDERS)}")
        with self._lock:
            self._faults = {**no_faults(), **(faults or {})}
            self.faults_version += 1

    # -- listing ----------------------------------------------------------------------------

    def ringyo_page(
        self,
        account: str,
        status: str | None,
        country: str | None,
        after: SortKey | None,
        limit: int,
    ) -> RingyoPage:
        """Up to `limit` items listed after `after` (None: from the start), as served."""
        with self._lock:
            view = self._view(account, status, country)
            start = 0 if after is None else view.position_after(after)
            chunk = view.numbers[start : start + limit]
            items, malformed = self._serve(RINGYO, chunk)
            return RingyoPage(
                items=items,
                total=len(view.numbers),
                last=ringyo_sort_key(chunk[-1]) if chunk else None,
                has_more=start + limit < len(view.numbers),
                malformed=malformed,
            )

    def tryvox_page(
        self, account: str, status: str | None, country: str | None, page: int, per_page: int
    ) -> TryVoxPage:
        """Page `page` (from 1) of the account's listing; empty beyond the last page."""
        with self._lock:
            view = self._view(account, status, country)
            chunk = view.numbers[(page - 1) * per_page : page * per_page]
            items, malformed = self._serve(TRYVOX, chunk)
            return TryVoxPage(items, len(view.numbers), malformed)

    def _serve(self, provider: str, numbers: list[SimNumber]) -> tuple[list[dict[str, Any]], int]:
        """The items as served under the provider's `malformed_rate`, and how many are spoiled."""
        rate = self._faults[provider].malformed_rate
        if rate <= 0:
            return [item(number) for number in numbers], 0
        items, spoiled = [], 0
        for number in numbers:
            kind = malformation_of(number, rate)
            body = item(number)
            items.append(body if kind is None else malform(number, body, kind))
            spoiled += kind is not None
        return items, spoiled

    def _view(self, account: str, status: str | None, country: str | None) -> _View:
        cache_key = (account, status, country)
        view = self._views.get(cache_key)
        if view is None:
            numbers = self._listing[account]
            if status is not None or country is not None:
                numbers = [
                    number
                    for number in numbers
                    if (status is None or number.status == status)
                    and (country is None or number.country == country)
                ]
            if len(self._views) >= _MAX_CACHED_VIEWS:
                self._views.clear()
            view = self._views[cache_key] = _View(numbers)
        return view

    def inventory(self) -> dict[str, Any]:
        """The truth: every account's items as the API serves them when nothing is malformed
        (fees as Decimal strings, e.g. "1.15"), in listing order, plus
        `malformed: {account: {key: malformation}}` for the records served malformed."""
        with self._lock:
            truth: dict[str, Any] = {provider: {} for provider in PROVIDERS}
            malformed: dict[str, dict[str, str]] = {}
            for account in self._accounts.values():
                numbers = self._listing[account.name]
                truth[account.provider][account.name] = [item(n, text_money) for n in numbers]
                rate = self._faults[account.provider].malformed_rate
                malformed[account.name] = {
                    number.key: kind
                    for number in numbers
                    if rate > 0 and (kind := malformation_of(number, rate)) is not None
                }
            truth["malformed"] = malformed
            return truth

    def count(self, account: str | None = None) -> int:
        """How many numbers one account (or the whole world) holds."""
        with self._lock:
            names = [account] if account is not None else list(self._listing)
            return sum(len(self._listing[name]) for name in names)

    # -- mutations --------------------------------------------------------------------------

    def set_status(self, provider: str, account_name: str, key: str, status: str) -> None:
        """Give a number a new status from its provider's vocabulary (ValueError otherwise)."""
        with self._lock:
            if provider not in FACTS or status not in FACTS[provider].statuses:
                raise ValueError(f"{provider} has no status {status!r}")
            number = self._number(account_name, key)
            if number.provider != provider:
                raise ValueError(f"{account_name} is not a {provider} account")
            number.status = status
            self._touched(number)

    def set_monthly_fee(self, account_name: str, e164: str, fee: Decimal) -> None:
        """Change a TryVox number's monthly fee (Ringyo's API has no fees)."""
        with self._lock:
            number = self._number(account_name, e164)
            if number.provider != TRYVOX:
                raise ValueError(f"{account_name} is a Ringyo account; Ringyo serves no fees")
            number.monthly_fee = fee
            self._touched(number)

    def release(self, account_name: str, key: str) -> None:
        """The number leaves the account: it is no longer listed."""
        with self._lock:
            self._number(account_name, key)
            self._remove(account_name, {key})

    def add_numbers(self, account_name: str, n: int) -> list[str]:
        """Buy `n` new numbers, each newer than any before; returns their keys in purchase
        order (Ringyo lists them last, TryVox first, newest first)."""
        with self._lock:
            account = self.account(account_name)
            added = [
                self._factory.make(account, self._factory.next_created_ts(self._clock()))
                for _ in range(n)
            ]
            for number in added:
                self._by_key[account_name][number.key] = number
            if account.provider == RINGYO:
                self._listing[account_name].extend(added)
            else:
                self._listing[account_name][:0] = reversed(added)
            self._changed()
            return [number.key for number in added]

    def churn(self, fraction: float = 0.05, seed: int = 1) -> dict[str, Any]:
        """Change about `fraction` of all numbers, as months at a provider would; see
        `churn.churn` for the mix and the summary returned."""
        with self._lock:
            return churn(self, fraction, seed)

    def numbers_of(self, account_name: str) -> list[SimNumber]:
        """The account's numbers in listing order (a copy of the list, the live records)."""
        with self._lock:
            self.account(account_name)
            return list(self._listing[account_name])

    def remove_many(self, account_name: str, keys: Iterable[str]) -> None:
        """Release many numbers of one account in one O(account) pass."""
        with self._lock:
            self._remove(account_name, set(keys))

    def touch(self, number: SimNumber) -> None:
        """Note that `number` was changed in place (its `updated_at` moves to now)."""
        with self._lock:
            self._touched(number)

    def _number(self, account_name: str, key: str) -> SimNumber:
        self.account(account_name)
        try:
            return self._by_key[account_name][key]
        except KeyError:
            raise KeyError(f"{account_name} has no number {key!r}") from None

    def _remove(self, account_name: str, keys: set[str]) -> None:
        by_key = self._by_key[account_name]
        for key in keys:
            by_key.pop(key, None)
        self._listing[account_name] = [n for n in self._listing[account_name] if n.key not in keys]
        self._changed()

    def _touched(self, number: SimNumber) -> None:
        number.updated_ts = max(int(self._clock().timestamp()), number.updated_ts)
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._views.clear()
