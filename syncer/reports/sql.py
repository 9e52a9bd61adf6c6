"""The few SQL pieces that differ between SQLite, PostgreSQL and MariaDB, behind one name each.

- `money_sum(column)`: an exact sum of a money column. PostgreSQL and MariaDB add `NUMERIC`
  values exactly; SQLite keeps them as floating point (exact for every accepted amount:
  below 10^9 with six decimals, 15 digits), so there the whole units and the micro-units
  of the fraction are added as two separate integer sums, returned as the text
  `"whole:micros"`. Neither can overflow SQLite's 64-bit integers (the whole units of
  9 billion numbers at the largest accepted fee still fit), which one sum of micro-units
  would past 9,223 such numbers. `read_money` turns the result back into a `Decimal` with
  no float in between.
- `micros_sum(start, end)`: the sum of `end - start` over the rows, in exact integer
  microseconds, so durations are exact on every dialect.
- `periods_table(periods)`: a derived table of calendar periods (index and bounds) built
  from bound parameters, to GROUP BY month or day in the database without any dialect's
  date functions.
- `to_the_second(column)`: a timestamp cut to the whole second, to order rows the way a
  table shows them (to the second), with ties broken by the next sort keys.

Reports read through `syncer.store.engine.reading`, which takes no write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Integer,
    Subquery,
    literal,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

from syncer.reports.periods import Period
from syncer.store.types import UTCDateTime

MICRO_UNITS = 1_000_000


class money_sum(FunctionElement[Any]):
    """SUM of a money column, exact on every dialect; read the value with `read_money`."""

    type = NullType()
    name = "money_sum"
    inherit_cache = True


@compiles(money_sum)
def _money_sum(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    whole = f"CAST({column} AS INTEGER)"
    micros = f"CAST(ROUND(({column} - {whole}) * {MICRO_UNITS}) AS INTEGER)"
    return f"(SUM({whole}) || ':' || SUM({micros}))"


def read_money(value: Any, dialect: str) -> Decimal | None:
    """The `money_sum` a driver returned, as an exact `Decimal` (None when nothing was summed)."""
    if value is None:
        return None
    if dialect == "sqlite":
        whole, _, micros = str(value).partition(":")
        return Decimal(int(whole)) + Decimal(int(micros)).scaleb(-6)
    if isinstance(value, float):  # pragma: no cover - no supported driver does this
        raise TypeError("the database returned a float for a money sum")
    return Decimal(value)


def read_int(value: Any) -> int:
    """An integer aggregate (PostgreSQL and MariaDB return big sums as exact decimals)."""
    if value is None:
        return 0
    if isinstance(value, float):  # pragma: no cover - no supported driver does this
        raise TypeError("the database returned a float for an integer sum")
    return int(value)


class micros_sum(FunctionElement[Any]):
    """SUM over rows of `end - start` (two timestamps), in exact integer microseconds.

    Read the value with `read_int`. PostgreSQL adds the intervals (exact) and converts the
    sum once per group; MariaDB adds TIMESTAMPDIFF in microseconds (DATETIME(6) holds UTC
    without a zone, and TIMESTAMPDIFF applies no session zone); SQLite adds the differences
    of the stored 'YYYY-MM-DD HH:MM:SS.ffffff' texts turned into integer microseconds (whole
    seconds from strftime, then the six digits of the fraction, no floating point).
    """

    type = NullType()
    name = "micros_sum"
    inherit_cache = True


def _pair(element: micros_sum, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return start, end


@compiles(micros_sum, "postgresql")
def _micros_sum_postgresql(element: micros_sum, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _pair(element, compiler, **kw)
    return f"(EXTRACT(EPOCH FROM SUM(({end}) - ({start}))) * {MICRO_UNITS})"


@compiles(micros_sum, "mysql")
@compiles(micros_sum, "mariadb")
def _micros_sum_mysql(element: micros_sum, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _pair(element, compiler, **kw)
    return f"SUM(TIMESTAMPDIFF(MICROSECOND, {start}, {end}))"


@compiles(micros_sum, "sqlite")
def _micros_sum_sqlite(element: micros_sum, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = _pair(element, compiler, **kw)
    return f"SUM({_sqlite_micros(end)} - {_sqlite_micros(start)})"


def _sqlite_micros(text: str) -> str:
    return (
        f"(CAST(strftime('%s', substr({text}, 1, 19)) AS INTEGER) * {MICRO_UNITS}"
        f" + CAST(substr({text}, 21, 6) AS INTEGER))"
    )


class to_the_second(FunctionElement[Any]):
    """A timestamp truncated to the second, as something that sorts like it: the times a
    report shows are to the second, so rows that look simultaneous are ordered by the
    report's next keys (account, number, id), not by invisible microseconds."""

    type = NullType()
    name = "to_the_second"
    inherit_cache = True


@compiles(to_the_second, "postgresql")
def _to_the_second_postgresql(element: to_the_second, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date_trunc('second', {compiler.process(element.clauses, **kw)})"


@compiles(to_the_second, "mysql")
@compiles(to_the_second, "mariadb")
def _to_the_second_mysql(element: to_the_second, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"({column} - INTERVAL MICROSECOND({column}) MICROSECOND)"


@compiles(to_the_second, "sqlite")
def _to_the_second_sqlite(element: to_the_second, compiler: SQLCompiler, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 19)"


def periods_table(periods: Sequence[Period], name: str = "periods") -> Subquery:
    """`(idx, start_at, end_at)` for each period, as a derived table.

    Built as a UNION ALL of one-row SELECTs of bound parameters, which every dialect accepts
    (SQLite allows up to 500 of them; callers pass fewer).
    """
    if not periods:
        raise ValueError("periods_table needs at least one period")
    rows = [
        select(
            literal(index, Integer()).label("idx"),
            literal(period.start, UTCDateTime()).label("start_at"),
            literal(period.end, UTCDateTime()).label("end_at"),
        )
        for index, period in enumerate(periods)
    ]
    query = rows[0] if len(rows) == 1 else union_all(*rows)
    return query.subquery(name)
