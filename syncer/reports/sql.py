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
- `period_start(column, periods)`, `period_end` and `period_index`: which of a list of
  contiguous periods a timestamp falls in, as a `CASE` over the bound boundaries: one pass
  over the rows puts each in its period, where a join with `periods_table` would compare
  every row with every period.
- `bit_or(value)`: the bitwise OR of the rows, an aggregate PostgreSQL and MariaDB have
  built in; every SQLite connection of `syncer.store.engine` has it too (a small Python
  aggregate).
- `to_the_second(column)`: a timestamp cut to the whole second, to order rows the way a
  table shows them (to the second), with ties broken by the next sort keys.
- `room_to_aggregate(connection)`: on PostgreSQL, settings for this transaction that suit
  a few large joins and aggregations (see `AGGREGATION_SETTINGS`).

Reports read through `syncer.store.engine.reading`, which takes no write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Subquery,
    case,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import NullType

from syncer.reports.periods import Period
from syncer.store.types import UTCDateTime

MICRO_UNITS = 1_000_000
# PostgreSQL settings for a report that joins and groups a whole history, set with SET LOCAL
# (they end with the report's transaction). Measured on 1,000,000 versions with
# benchmarks/report_accrual.py:
# - work_mem: at the default 4 MB, joining the ~600,000 versions that start in a year to the
#   ~600,000 that end in it spills the hash table to disk in 8 batches, and the planner
#   sorts on disk rather than hash a GROUP BY; 64 MB keeps both in memory;
# - parallel_tuple_cost: the planner cannot tell that such a GROUP BY yields a few thousand
#   groups (it assumes up to one per row), so it prices handing the rows over from parallel
#   workers too high and joins on one core; at 0.01 (default 0.1) it uses the others.
AGGREGATION_SETTINGS = {"work_mem": "64MB", "parallel_tuple_cost": "0.01"}


def room_to_aggregate(connection: Connection) -> None:
    """`AGGREGATION_SETTINGS` for the rest of this transaction, on PostgreSQL (a no-op on
    the others)."""
    if connection.dialect.name == "postgresql":
        for name, value in AGGREGATION_SETTINGS.items():
            connection.exec_driver_sql(f"SET LOCAL {name} = '{value}'")


def bit_or(value: ColumnElement[Any]) -> ColumnElement[int]:
    """The bitwise OR of `value` over the rows of a group (on SQLite the aggregate every
    connection of `syncer.store.engine` has)."""
    from sqlalchemy import func

    return func.bit_or(value, type_=BigInteger())


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


def period_start(column: ColumnElement[Any], periods: Sequence[Period]) -> ColumnElement[Any]:
    """The start of the period `column` falls in (`start <= column < end`), NULL when it is
    in none. `periods` must be contiguous and in order; they are tested from the last, as
    most rows of a history are recent."""
    whens = [
        (column >= period.start, _instant(literal(period.start, UTCDateTime())))
        for period in reversed(periods)
    ]
    return type_coerce(case((column >= periods[-1].end, None), *whens, else_=None), UTCDateTime())


def period_end(column: ColumnElement[Any], periods: Sequence[Period]) -> ColumnElement[Any]:
    """The end of the period `column` falls in (`start <= column < end`), NULL when it is in
    none (see `period_start`)."""
    whens = [
        (column >= period.start, _instant(literal(period.end, UTCDateTime())))
        for period in reversed(periods)
    ]
    return type_coerce(case((column >= periods[-1].end, None), *whens, else_=None), UTCDateTime())


def period_index(
    column: ColumnElement[Any], periods: Sequence[Period], *, last_covered: bool = False
) -> ColumnElement[int]:
    """The index in `periods` (contiguous, in order) of the period `column` falls in, clipped
    to the first and the last. With `last_covered`, `column` is the end of a span: the index
    of the last period that span reaches into (an end at exactly a period's start does not
    reach into it; a null end, an open span, reaches the last)."""
    last = len(periods) - 1
    if last_covered:
        whens = [(column > periods[i].start, i) for i in range(last, 0, -1)]
        return case((column.is_(None), last), *whens, else_=0)
    whens = [(column >= periods[i].start, i) for i in range(last, 0, -1)]
    return case(*whens, else_=0) if whens else literal(0, Integer())


class _instant(FunctionElement[Any]):
    """A bound instant as a value a `CASE` returns, cast to the dialect's timestamp type: a
    `CASE` whose results are all parameters takes their type from the driver, and MariaDB's
    binds datetimes as strings (so would PostgreSQL's literals, written into the SQL)."""

    type = UTCDateTime()
    name = "instant"
    inherit_cache = True


@compiles(_instant)
def _instant_default(element: _instant, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_instant, "postgresql")
def _instant_postgresql(element: _instant, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS TIMESTAMP WITH TIME ZONE)"


@compiles(_instant, "mysql")
@compiles(_instant, "mariadb")
def _instant_mysql(element: _instant, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATETIME(6))"


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
