"""The exact arithmetic of `report accrual`: accrued amounts, and the attribution of each
month's change (definitions in `syncer.reports.accrual`).

The queries give microseconds held per fee and counts of rate changes per kind
(`syncer.reports.accrual_queries`); here they become money as exact fractions:

- accrued(M) = sum of fee x held / length(M), plus setup fees;
- a rate change of size j at t in month K adds j x (end(K) - t) / length(K) to the change of
  K and j x (t - start(K)) / length(K) to the change of K+1.

The change of a month is accrued(M) - accrued(M-1); its parts come from the rate changes.
`assemble` checks that they agree to the last digit (the time held is itself summed from
the same rate changes, as a number's versions are contiguous: the check guards this
arithmetic); if not, it logs a warning.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from syncer.reports.accrual_queries import Change, Currency, Gathered
from syncer.reports.periods import Month, Period, micros_between

log = logging.getLogger(__name__)

ZERO = Fraction(0)
PARTS = (
    "numbers_added",
    "numbers_released",
    "price_changes",
    "status_changes",
    "setup_fees",
    "not_yet_accrued",
)


@dataclass
class Delta:
    """The change from the month before, and its parts (they add up to `total` exactly)."""

    total: Fraction
    parts: dict[str, Fraction]


@dataclass
class MonthRow:
    """One month in one currency. Money is None for unpriced numbers (currency unknown)."""

    month: Month
    currency: Currency
    accrued: Fraction | None
    setup_fees: Fraction | None
    numbers: int
    unpriced_numbers: int
    complete: bool
    delta: Delta | None
    by_provider: dict[str, Fraction] = field(default_factory=dict)


class _Ledger:
    """Exact amounts by (month index, currency), with a per-provider split for the chart."""

    def __init__(self) -> None:
        self.amounts: dict[tuple[int, Currency], Fraction] = defaultdict(Fraction)
        self.by_provider: dict[tuple[int, Currency], dict[str, Fraction]] = defaultdict(
            lambda: defaultdict(Fraction)
        )

    def add(self, index: int, currency: Currency, amount: Fraction, provider: str = "") -> None:
        self.amounts[index, currency] += amount
        if provider:
            self.by_provider[index, currency][provider] += amount

    def get(self, index: int, currency: Currency) -> Fraction:
        return self.amounts.get((index, currency), ZERO)


def _rate(billable: bool, fee: Decimal | None) -> Fraction:
    return Fraction(fee) if billable and fee is not None else ZERO


def assemble(
    window: list[Month], periods: list[Period], gathered: Gathered, now: datetime
) -> list[MonthRow]:
    lengths = [period.micros for period in periods]
    fees, setups = _Ledger(), _Ledger()
    priced: set[Currency] = set()
    for held in gathered.held:
        if held.fee is not None:
            priced.add(held.currency)
            fees.add(
                held.month,
                held.currency,
                Fraction(held.fee) * held.micros / lengths[held.month],
                held.provider,
            )
    for setup in gathered.setups:
        priced.add(setup.currency)
        setups.add(setup.month, setup.currency, Fraction(setup.amount), setup.provider)
    parts = _attribute(gathered, periods, now)
    counted = {(c.month, c.currency): c for c in gathered.counted}
    currencies: set[Currency] = {currency for _, currency in (*fees.amounts, *setups.amounts)}
    currencies.update(currency for _, currency in counted)
    currencies.update(currency for _, currency, _ in parts)
    rows = []
    for currency in sorted(currencies, key=lambda c: (c is None, c or "")):
        money = currency in priced or currency is not None
        for index in range(1, len(window)):
            count = counted.get((index, currency))
            accrued = fees.get(index, currency) + setups.get(index, currency)
            before = fees.get(index - 1, currency) + setups.get(index - 1, currency)
            delta = None
            if money:
                delta_parts = {name: parts.get((index, currency, name), ZERO) for name in PARTS}
                delta_parts["setup_fees"] = setups.get(index, currency) - setups.get(
                    index - 1, currency
                )
                delta = Delta(accrued - before, delta_parts)
                _check(window[index], currency, delta)
            providers = {**fees.by_provider.get((index, currency), {})}
            for provider, amount in setups.by_provider.get((index, currency), {}).items():
                providers[provider] = providers.get(provider, ZERO) + amount
            rows.append(
                MonthRow(
                    month=window[index],
                    currency=currency,
                    accrued=accrued if money else None,
                    setup_fees=setups.get(index, currency) if money else None,
                    numbers=count.numbers if count else 0,
                    unpriced_numbers=count.unpriced if count else 0,
                    complete=periods[index].end <= now,
                    delta=delta,
                    by_provider=providers,
                )
            )
    rows.sort(key=lambda row: (row.month, row.currency is None, row.currency or ""))
    return rows


def _attribute(
    gathered: Gathered, periods: list[Period], now: datetime
) -> dict[tuple[int, Currency, str], Fraction]:
    """Each rate change's share of the deltas of its month and the next (module doc)."""
    parts: dict[tuple[int, Currency, str], Fraction] = defaultdict(Fraction)

    def spread(
        index: int, currency: Currency, part: str, size: Fraction, count: int, elapsed: int
    ) -> None:
        length = periods[index].micros
        parts[index, currency, part] += size * (count * length - elapsed) / length
        if index + 1 < len(periods):
            parts[index + 1, currency, part] += size * elapsed / length

    for change in gathered.changes:
        for currency, part, size in _change_sizes(change):
            if size:
                spread(change.month, currency, part, size, change.changes, change.elapsed)
    if gathered.rate_at_now:
        index = next(i for i, period in enumerate(periods) if period.start <= now < period.end)
        elapsed = micros_between(periods[index].start, now)
        for level in gathered.rate_at_now:
            size = -_rate(True, level.fee)
            if size:
                spread(
                    index,
                    level.currency,
                    "not_yet_accrued",
                    size,
                    level.numbers,
                    elapsed * level.numbers,
                )
    return parts


def _change_sizes(change: Change) -> list[tuple[Currency, str, Fraction]]:
    """The rate change(s) one version start makes, by currency and kind (module doc)."""
    rate_before = _rate(change.billable_before, change.fee_before)
    rate_after = _rate(change.billable_after, change.fee_after)
    if change.appears:
        return [(change.currency_after, "numbers_added", rate_after)]
    if change.released:
        return [(change.currency_before, "numbers_released", -rate_before)]
    fee_before = _rate(True, change.fee_before)
    status = (int(change.billable_after) - int(change.billable_before)) * fee_before
    sizes = [(change.currency_before, "status_changes", status)]
    if change.billable_after:
        sizes.append((change.currency_before, "price_changes", -fee_before))
        sizes.append((change.currency_after, "price_changes", _rate(True, change.fee_after)))
    return sizes


def _check(month: Month, currency: Currency, delta: Delta) -> None:
    """The parts add up to the delta whenever the history is contiguous, as sync writes it."""
    explained = sum(delta.parts.values(), ZERO)
    if explained != delta.total:
        log.warning(
            "accrual %s %s: the attributed parts differ from the change by %s "
            "(the history has gaps between versions?)",
            month,
            currency,
            float(delta.total - explained),
        )
