"""A prototype of `report accrual` read from a summary the sync would keep: rate spans.

    .venv/bin/python benchmarks/accrual_summary.py [--versions 1000000] [--runs 5]

It works on the PostgreSQL database that `report_accrual.py --versions N` fills
(`syncer_accrual_<N>`; run that first). It is a measurement, not a feature: syncer does not
keep this table.

**Rate spans.** Most new versions change nothing a fee depends on (a name, an assignment).
The accrual reads only status, monthly fee, currency, setup fee and provider creation time,
so a *span* joins the consecutive versions of a number in which these five do not change,
and it carries the five values of the span before it. A sync could keep such a table as it
writes versions: when a number's new version changes one of the five, close the open span
and open the next, knowing the one before; otherwise write nothing. Here it is built once
from the versions (`build`, timed and printed), as a migration would fill it.

The three queries of `syncer.reports.accrual_queries`, rewritten over the spans, give the
same answer:
- the numbers per month (bit masks): the spans in force in the window instead of the
  versions, and the same OR of months, as a number's spans cover exactly its versions;
- the rate changes: the span starts in the window, with the values before on the same row,
  so no join of the versions to the ones before them, and no join for the provider;
- the setup fees: the first span of each rental carries its first setup fee.

For each range (six and twelve months) it prints, medians of `--runs` after a warm-up,
alternating run by run:
- **process**: `syncer report accrual ... --format json`, and this script's `--once`, a
  process that does the same with the span queries (same imports, engine, schema check,
  arithmetic and JSON rendering), with the SHA-256 of each JSON: the same digest is the
  same report to the last digit;
- each query's time in process, syncer's and the prototype's (`EXPLAIN ANALYZE` of each is
  printed with `--explain`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    Numeric,
    String,
    Table,
    and_,
    case,
    func,
    literal,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.sql import Select

from syncer.records import RELEASED
from syncer.reports import accrual_queries as queries
from syncer.reports.accrual import AccrualReport, AccrualRequest, resolve_months
from syncer.reports.accrual_queries import (
    MASK_MONTHS,
    Change,
    Counted,
    Currency,
    Gathered,
    Level,
    Rate,
    Setup,
    held,
    levels_after,
    month_indexes,
    numbers,
)
from syncer.reports.attribution import assemble
from syncer.reports.periods import Period, months
from syncer.reports.sql import (
    bit_or,
    micros_sum,
    money_sum,
    period_end,
    period_index,
    period_start,
    read_int,
    read_money,
    room_to_aggregate,
)
from syncer.store.engine import reading

NOW = datetime(2026, 7, 15, 12, tzinfo=UTC)  # report_accrual.py's "now"
RANGES = {"6 months": ("2026-02", "2026-07"), "12 months": ("2025-08", "2026-07")}
RATE_KEY = ("status", "monthly_fee", "currency", "provider_created_at", "setup_fee")

spans = Table(
    "prototype_rate_spans",
    MetaData(),
    Column("number_id", BigInteger, nullable=False),
    Column("provider", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("monthly_fee", Numeric(18, 6)),
    Column("currency", String(3)),
    Column("provider_created_at", DateTime(timezone=True)),
    Column("setup_fee", Numeric(18, 6)),
    Column("valid_from", DateTime(timezone=True), nullable=False),
    Column("valid_to", DateTime(timezone=True)),
    Column("has_before", Boolean, nullable=False),
    Column("status_before", String(16)),
    Column("fee_before", Numeric(18, 6)),
    Column("currency_before", String(3)),
)

# Versions numbered into spans: a span starts where one of RATE_KEY differs from the
# version before (or there is none); its end is its last version's end.
BUILD = f"""
CREATE TABLE prototype_rate_spans AS
WITH keyed AS (
    SELECT v.*, lag(ROW({", ".join(f"v.{c}" for c in RATE_KEY)})) OVER w AS key_before,
           ROW({", ".join(f"v.{c}" for c in RATE_KEY)}) AS key,
           lag(v.status) OVER w AS status_before,
           lag(v.monthly_fee) OVER w AS fee_before,
           lag(v.currency) OVER w AS currency_before,
           lag(v.id) OVER w AS id_before
    FROM phone_number_versions v
    WINDOW w AS (PARTITION BY v.number_id ORDER BY v.valid_from)
), numbered AS (
    SELECT keyed.*,
           count(*) FILTER (WHERE key_before IS DISTINCT FROM key)
               OVER (PARTITION BY number_id ORDER BY valid_from) AS span
    FROM keyed
)
SELECT n.number_id, p.provider,
       {", ".join(f"(array_agg(n.{c} ORDER BY n.valid_from))[1] AS {c}" for c in RATE_KEY)},
       min(n.valid_from) AS valid_from,
       CASE WHEN bool_or(n.valid_to IS NULL) THEN NULL ELSE max(n.valid_to) END AS valid_to,
       (array_agg(n.id_before IS NOT NULL ORDER BY n.valid_from))[1] AS has_before,
       (array_agg(n.status_before ORDER BY n.valid_from))[1] AS status_before,
       (array_agg(n.fee_before ORDER BY n.valid_from))[1] AS fee_before,
       (array_agg(n.currency_before ORDER BY n.valid_from))[1] AS currency_before
FROM numbered n JOIN phone_numbers p ON p.id = n.number_id
GROUP BY n.number_id, p.provider, n.span
"""


def build(engine: Engine) -> tuple[float, int, int]:
    """(Re)build the spans from the versions: seconds, spans, versions."""
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL work_mem = '256MB'"))
        connection.execute(text("DROP TABLE IF EXISTS prototype_rate_spans"))
        connection.execute(text(BUILD))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE prototype_rate_spans"))
        count = connection.execute(text("SELECT count(*) FROM prototype_rate_spans")).scalar()
        total = connection.execute(text("SELECT count(*) FROM phone_number_versions")).scalar()
    return time.perf_counter() - started, int(count or 0), int(total or 0)


def gather(
    connection: Connection, periods: list[Period], billable: tuple[str, ...], now: datetime
) -> Gathered:
    """`accrual_queries.gather`, over the spans."""
    past = [Period(p.label, p.start, min(p.end, now)) for p in periods if p.start < now]
    if not past:
        return Gathered([], [], [], [], [])
    room_to_aggregate(connection)
    counted, before = numbers_by_month(connection, past, billable)
    found = changes(connection, past, billable)
    gathered = Gathered(
        held=held(before, found, past),
        counted=counted,
        changes=found,
        setups=setups(connection, past, now),
        rate_at_now=[],
    )
    if periods[0].start <= now < periods[-1].end:
        gathered.rate_at_now = levels_after(before, found)
    return gathered


def numbers_by_month(
    connection: Connection, periods: list[Period], billable: tuple[str, ...]
) -> tuple[list[Counted], list[Level]]:
    totals: dict[tuple[int, Currency], list[int]] = defaultdict(lambda: [0, 0])
    at_start: dict[Rate, int] = defaultdict(int)
    for offset in range(0, len(periods), MASK_MONTHS):
        chunk = periods[offset : offset + MASK_MONTHS]
        for row in connection.execute(_masks(chunk, billable)):
            count = int(row.numbers)
            for bit in queries._bits(int(row.mask)):
                totals[offset + bit, row.currency][0] += count
            for bit in queries._bits(int(row.unpriced_mask)):
                totals[offset + bit, row.currency][1] += count
            if offset == 0 and row.at_start:
                at_start[row.provider, row.currency, row.fee_at_start] += count
    counted = [
        Counted(month, currency, found, unpriced)
        for (month, currency), (found, unpriced) in totals.items()
    ]
    return counted, [Level(*rate, count) for rate, count in at_start.items()]


def _masks(periods: list[Period], billable: tuple[str, ...]) -> Select[Any]:
    """`accrual_queries._masks` over the spans, which carry the provider."""
    s = spans.c
    start, end = periods[0].start, periods[-1].end
    one = literal(1, BigInteger())
    first = period_index(s.valid_from, periods)
    last = period_index(s.valid_to, periods, last_covered=True)
    reaches_in = or_(s.valid_to.is_(None), s.valid_to > start)
    in_months = case((reaches_in, one.op("<<")(last + 1) - one.op("<<")(first)), else_=0)
    before_start = and_(s.valid_from < start, or_(s.valid_to.is_(None), s.valid_to >= start))
    per_number = (
        select(
            s.number_id,
            s.provider,
            s.currency,
            bit_or(in_months).label("mask"),
            bit_or(case((s.monthly_fee.is_(None), in_months), else_=0)).label("unpriced_mask"),
            func.max(case((before_start, 1), else_=0)).label("at_start"),
            func.max(case((before_start, s.monthly_fee))).label("fee_at_start"),
        )
        .where(
            s.status.in_(billable),
            s.valid_from < end,
            or_(s.valid_to.is_(None), s.valid_to >= start),
        )
        .group_by(s.number_id, s.provider, s.currency)
        .subquery("per_number")
    )
    p = per_number.c
    group = [p.provider, p.currency, p.mask, p.unpriced_mask, p.at_start, p.fee_at_start]
    return select(*group, func.count().label("numbers")).group_by(*group)


def changes(
    connection: Connection, periods: list[Period], billable: tuple[str, ...]
) -> list[Change]:
    """`accrual_queries.changes` over the span starts: the values before are on the row."""
    s = spans.c
    start, end = periods[0].start, periods[-1].end
    flags = (
        select(
            period_start(s.valid_from, periods).label("month_start"),
            s.provider,
            case((or_(not_(s.has_before), s.status_before == RELEASED), 1), else_=0).label(
                "appears"
            ),
            case((s.status == RELEASED, 1), else_=0).label("released"),
            case((s.status_before.in_(billable), 1), else_=0).label("billable_before"),
            s.fee_before,
            s.currency_before,
            case((s.status.in_(billable), 1), else_=0).label("billable_after"),
            s.monthly_fee.label("fee_after"),
            s.currency.label("currency_after"),
            s.valid_from.label("changed_at"),
        )
        .where(
            s.valid_from >= start,
            s.valid_from < end,
            or_(s.status.in_(billable), s.status_before.in_(billable)),
            not_(
                and_(
                    s.status.in_(billable),
                    s.status_before.in_(billable),
                    s.monthly_fee.is_not_distinct_from(s.fee_before),
                    s.currency.is_not_distinct_from(s.currency_before),
                )
            ),
        )
        .subquery("flags")
    )
    group = [c for c in flags.c if c.name != "changed_at"]
    query = select(
        *group,
        func.count().label("changes"),
        micros_sum(flags.c.month_start, flags.c.changed_at).label("elapsed"),
    ).group_by(*group)
    index = month_indexes(periods)
    return [
        Change(
            index[row.month_start],
            row.provider,
            bool(row.appears),
            bool(row.released),
            bool(row.billable_before),
            row.fee_before,
            row.currency_before,
            bool(row.billable_after),
            row.fee_after,
            row.currency_after,
            int(row.changes),
            read_int(row.elapsed),
        )
        for row in connection.execute(query)
    ]


def setups(connection: Connection, periods: list[Period], now: datetime) -> list[Setup]:
    """`accrual_queries.setups` over the spans: a rental's first span with a setup fee starts
    where its first such version does, with that version's fee."""
    s = spans.c
    start, end = periods[0].start, periods[-1].end
    rentals = (
        select(
            s.provider_created_at,
            s.number_id,
            s.provider,
            s.currency,
            s.setup_fee,
            func.row_number()
            .over(partition_by=[s.number_id, s.provider_created_at], order_by=s.valid_from)
            .label("sighting"),
        )
        .where(
            s.provider_created_at >= start,
            s.provider_created_at < end,
            s.valid_from < now,
            s.setup_fee.is_not(None),
        )
        .subquery("rentals")
    )
    mirrored = (
        select(
            numbers.c.provider,
            numbers.c.account,
            func.min(numbers.c.first_seen_at).label("since"),
        )
        .group_by(numbers.c.provider, numbers.c.account)
        .subquery("mirrored")
    )
    r = rentals.c
    first_sightings = (
        select(
            period_start(r.provider_created_at, periods).label("month_start"),
            r.provider,
            r.currency,
            r.setup_fee,
        )
        .select_from(
            rentals.join(numbers, numbers.c.id == r.number_id).join(
                mirrored,
                and_(
                    mirrored.c.provider == numbers.c.provider,
                    mirrored.c.account == numbers.c.account,
                ),
            )
        )
        .where(r.sighting == 1, period_end(r.provider_created_at, periods) > mirrored.c.since)
        .subquery("first_sightings")
    )
    f = first_sightings.c
    group = [f.month_start, f.provider, f.currency]
    query = select(*group, money_sum(f.setup_fee).label("amount")).group_by(*group)
    index = month_indexes(periods)
    found = []
    for row in connection.execute(query):
        amount = read_money(row.amount, connection.dialect.name)
        if amount is not None:
            found.append(Setup(index[row.month_start], row.provider, row.currency, amount))
    return found


def report(engine: Engine, request: AccrualRequest, now: datetime) -> AccrualReport:
    """`accrual.accrual_report` with the span queries (an explicit `as_of`, as here)."""
    now = request.as_of or now
    with reading(engine) as connection:
        first, last = resolve_months(connection, request, now)
        window = [first.previous(), *months(first, last)]
        periods = [month.period(request.zone) for month in window]
        gathered = gather(connection, periods, request.billable, now)
    rows = assemble(window, periods, gathered, now)
    return AccrualReport(request, first, last, now, rows)


def once(database_url: str, first: str, last: str) -> None:
    """What `syncer report accrual --format json` does, with the span queries."""
    from syncer.reports import database, render

    request = AccrualRequest.parse(start=first, end=last, as_of=NOW.isoformat())
    with database(database_url) as engine:
        result = report(engine, request, NOW)
    render.write(result, "json", None)


def process(command: list[str], database_url: str) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and standard output of one process."""
    environment = {**os.environ, "SYNCER_DATABASE_URL": database_url}
    environment.pop("SYNCER_CONFIG", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=environment, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{command[:4]} failed: {err.read().decode().strip()}")
        return wall, usage.ru_utime + usage.ru_stime, out.read().decode()


def timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def query_times(engine: Engine, first: str, last: str, runs: int) -> dict[str, float]:
    """Each query alone, syncer's and the prototype's, alternating; medians."""
    request = AccrualRequest.parse(start=first, end=last, as_of=NOW.isoformat())
    with reading(engine) as connection:
        start, end = resolve_months(connection, request, NOW)
    window = [start.previous(), *months(start, end)]
    past = [
        Period(p.label, p.start, min(p.end, NOW))
        for p in (month.period(request.zone) for month in window)
        if p.start < NOW
    ]
    billable = request.billable
    jobs: dict[str, Callable[[Connection], Any]] = {
        "syncer masks": lambda c: queries.numbers_by_month(c, past, billable),
        "spans masks": lambda c: numbers_by_month(c, past, billable),
        "syncer changes": lambda c: queries.changes(c, past, billable),
        "spans changes": lambda c: changes(c, past, billable),
        "syncer setups": lambda c: queries.setups(c, past, NOW),
        "spans setups": lambda c: setups(c, past, NOW),
    }
    found: dict[str, list[float]] = defaultdict(list)
    for round_ in range(runs + 1):
        for name, job in jobs.items():
            with reading(engine) as connection:
                room_to_aggregate(connection)
                seconds = timed(lambda job=job, connection=connection: job(connection))
            if round_:  # the first round warms up
                found[name].append(seconds)
    return {name: statistics.median(times) for name, times in found.items()}


def explain(engine: Engine, first: str, last: str) -> None:
    """EXPLAIN ANALYZE of the prototype's three queries."""
    captured: list[Any] = []

    class Capture:
        dialect = engine.dialect

        def execute(self, statement: Any) -> list[Any]:
            captured.append(statement)
            return []

    request = AccrualRequest.parse(start=first, end=last, as_of=NOW.isoformat())
    with reading(engine) as connection:
        start, end = resolve_months(connection, request, NOW)
    window = [start.previous(), *months(start, end)]
    past = [m.period(request.zone) for m in window]
    past = [Period(p.label, p.start, min(p.end, NOW)) for p in past if p.start < NOW]
    fake: Any = Capture()
    numbers_by_month(fake, past, request.billable)
    changes(fake, past, request.billable)
    setups(fake, past, NOW)
    for statement in captured:
        sql = statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        with engine.connect() as connection:
            room_to_aggregate(connection)
            plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}").all()
        print("\n".join(f"    {line[0][:160]}" for line in plan))


def digest(output: str) -> str:
    json.loads(output)  # a whole JSON document
    return hashlib.sha256(output.encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--server",
        default=os.environ.get("SYNCER_TEST_POSTGRES_URL")
        or "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        help="any database URL on the PostgreSQL server (the database name is replaced)",
    )
    parser.add_argument("--explain", action="store_true", help="print the prototype's plans")
    parser.add_argument("--once", nargs=2, metavar=("FROM", "TO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    from sqlalchemy.engine import make_url

    url = make_url(args.server).set(database=f"syncer_accrual_{args.versions}")
    database_url = url.render_as_string(hide_password=False)
    if args.once:
        once(database_url, *args.once)
        return

    from syncer.store.engine import make_engine

    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    engine = make_engine(database_url, pool_size=1)
    seconds, count, total = build(engine)
    print(f"spans: {count:,} for {total:,} versions, built in {seconds:.1f} s", flush=True)
    for label, (first, last) in RANGES.items():
        syncer_command = [sys.executable, "-m", "syncer", "report", "accrual", "--from", first]
        syncer_command += ["--to", last, "--as-of", NOW.isoformat(), "--format", "json"]
        spans_command = [sys.executable, __file__, "--versions", str(args.versions)]
        spans_command += ["--server", args.server, "--once", first, last]
        commands = {"syncer": syncer_command, "spans": spans_command}
        runs: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
        for round_ in range(args.runs + 1):
            for name, command in commands.items():
                run = process(command, database_url)
                if round_:
                    runs[name].append(run)
        digests = {name: {digest(run[2]) for run in found} for name, found in runs.items()}
        for name, found in runs.items():
            wall = statistics.median(run[0] for run in found)
            cpu = statistics.median(run[1] for run in found)
            every = " ".join(f"{run[0]:.2f}" for run in found)
            shown = ",".join(sorted(digests[name]))
            print(
                f"  {label:<9} {name:<6} process {wall:5.2f} s (cpu {cpu:.2f})  [{every}]"
                f"  json {shown}"
            )
        same = digests["syncer"] == digests["spans"] and len(digests["syncer"]) == 1
        print(f"  {label:<9} same JSON: {'yes' if same else 'NO'}")
        for name, seconds in query_times(engine, first, last, args.runs).items():
            print(f"  {label:<9}   {name:<15} {seconds:5.2f} s")
        if args.explain:
            explain(engine, first, last)
    engine.dispose()
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
