"""A short overview of the mirror: numbers by status and fees by currency, aggregated in SQL.

Used by `syncer demo` to show what a sync produced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Engine, func, select

from syncer.store.models import PhoneNumber, StatusChange

Echo = Callable[[str], None]


def print_overview(engine: Engine, echo: Echo, changes_since: datetime) -> None:
    """Numbers by provider and status, monthly fees by currency, changes since a time (UTC)."""
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
        by_status = connection.execute(
            select(PhoneNumber.provider, PhoneNumber.status, func.count())
            .group_by(PhoneNumber.provider, PhoneNumber.status)
            .order_by(PhoneNumber.provider, PhoneNumber.status)
        ).all()
        live = PhoneNumber.status != "released"
        fees = connection.execute(
            select(
                PhoneNumber.currency,
                func.count(),
                func.sum(PhoneNumber.monthly_fee),
            )
            .where(live)
            .group_by(PhoneNumber.currency)
            .order_by(PhoneNumber.currency)
        ).all()
        transitions = connection.execute(
            select(StatusChange.from_status, StatusChange.to_status, func.count())
            .where(StatusChange.changed_at >= changes_since)
            .group_by(StatusChange.from_status, StatusChange.to_status)
            .order_by(func.count().desc())
        ).all()
    echo("Numbers by provider and status:")
    for provider, status, count in by_status:
        echo(f"   {provider:<8} {status:<10} {count:>6}")
    echo("Monthly fees of the numbers held (not released):")
    for currency, count, total in fees:
        if currency is None:
            echo(f"   unpriced {count:>6} numbers (no fee schedule in the config)")
        else:
            echo(f"   {currency:<8} {count:>6} numbers  {_money(total):>12}")
    echo("Status changes found by the second sync:")
    for before, after, count in transitions:
        echo(f"   {before or '(new)':<10} -> {after:<10} {count:>6}")


def _money(amount: Decimal | None) -> str:
    """Two decimals, rounded half-up (rendering only; stored values stay exact)."""
    return f"{(amount or Decimal(0)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"
