"""How long `syncer report accrual` takes on a large, realistic history.

    .venv/bin/python benchmarks/report_accrual.py [--versions 1000000] [--backends postgresql]

For each backend (postgresql, sqlite, mysql) the script makes a fresh database
(`syncer_accrual_<versions>` on the servers, a file in a temporary folder for SQLite), migrates
it, and fills it with a seeded history of about `--versions` version rows (`--sqlite-versions`,
`--mysql-versions` for those two; default the same). The shape, from 2025-01-01 to the
benchmark's "now", 2026-07-15 12:00 UTC:

- four accounts synced every hour (each at its own minute, with microseconds): `ringyo-main`
  (a fee schedule by country that changes twice, so every live US or GB number gets a
  version at one instant), `ringyo-eu` (no fee schedule: unpriced), `vox-us` and `vox-eu`
  (per-number fees and setup fees in USD, EUR and GBP);
- a third of the numbers there at the first sync, the rest bought over the 18 months
  (sometimes pending for a few hours first);
- per number, every two months or so: a change no rate depends on (name, assignment), a
  status change (active, suspended, inactive, pending), a fee change (TryVox), or a release,
  a third of the released numbers coming back later (a few re-rented, with a new setup fee).

Then it times the report as a user runs it, for six months (2026-02..2026-07) and twelve
months (2025-08..2026-07), each figure the median of `--runs` after one warm-up:

- **process**: `syncer report accrual --from .. --to .. --as-of <now> --format json` as a
  whole process (imports, engine, schema check, queries, arithmetic, rendering): wall
  seconds, and the CPU seconds of that process (the database server's are not in them);
- **in process**, on a warm engine: `accrual_report()`, which is the **queries**
  (`gather()`: everything the database does) plus the **arithmetic** (`assemble()`: the
  exact money and the attribution of each month's change).

Each report's JSON is hashed: the same digest is the same report to the last digit. With
`--baseline DIR` (a checkout of another syncer, e.g. `git worktree add /tmp/base main`),
that syncer's `report accrual` is timed too, alternating run by run with this one (so a
change in the machine's load weighs on both), and the digests are compared. A baseline at
an earlier schema revision refuses this syncer's database: give it a copy of the database
made before the upgrade with `--baseline-url` (on PostgreSQL, `CREATE DATABASE
syncer_accrual_base TEMPLATE syncer_accrual_1000000` while that one is at the old revision;
one backend per run then). `--reuse` keeps
the filled databases of an earlier run with the same `--versions`, which makes A/B runs
quick. The machine's load average is printed before and after: on a shared machine, read
the figures with it.

Nothing here needs the benchmark extra: only syncer and its database drivers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from syncer.reports.accrual import AccrualRequest, accrual_report
from syncer.reports.attribution import assemble
from syncer.reports.periods import months
from syncer.store.engine import make_engine
from syncer.store.migrate import upgrade
from syncer.store.models import PhoneNumber, PhoneNumberVersion

START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 7, 15, 12, tzinfo=UTC)
HOURS = int((NOW - START) / timedelta(hours=1))
DATABASE = "syncer_accrual_{versions}"  # per size, so --reuse can keep several
RANGES = {"6 months": ("2026-02", "2026-07"), "12 months": ("2025-08", "2026-07")}
SEED = 12


@dataclass(frozen=True)
class Account:
    name: str
    provider: str
    share: float  # of the numbers
    offset: timedelta  # when in each hour its sync writes

    def synced(self, hour: int) -> datetime:
        return START + timedelta(hours=hour) + self.offset


ACCOUNTS = [
    Account("ringyo-main", "ringyo", 0.35, timedelta(minutes=0, seconds=4, microseconds=250_113)),
    Account("ringyo-eu", "ringyo", 0.15, timedelta(minutes=15, seconds=9, microseconds=7)),
    Account("vox-us", "tryvox", 0.30, timedelta(minutes=30, seconds=2, microseconds=999_999)),
    Account("vox-eu", "tryvox", 0.20, timedelta(minutes=45, seconds=31, microseconds=500_000)),
]
COUNTRIES = {"ringyo-main": ["US", "US", "US", "GB", "CA"], "ringyo-eu": ["DE", "FR", "GB"]}
COUNTRIES |= {"vox-us": ["US", "US", "CA"], "vox-eu": ["GB", "DE", "FR", "NL"]}
CURRENCIES = {"vox-us": ["USD"], "vox-eu": ["EUR", "EUR", "GBP"]}
VOX_FEES = [Decimal(f) for f in ("0.50", "1.00", "1.15", "2.00", "3.10", "4.25", "9.30")]
SETUP_FEES = [Decimal(f) for f in ("0.00", "0.00", "1.00", "2.50", "5.00")]
# ringyo-main's fee schedule, by the hour it took effect
SCHEDULES = [
    (0, {"US": Decimal("1.15"), "GB": Decimal("1.40"), "default": Decimal("1.00")}),
    (6552, {"US": Decimal("1.25"), "GB": Decimal("1.40"), "default": Decimal("1.00")}),
    (10896, {"US": Decimal("1.25"), "GB": Decimal("1.50"), "default": Decimal("1.05")}),
]
OTHER_STATUS = {"ringyo": ["inactive", "pending"], "tryvox": ["suspended", "pending"]}
MEAN_HOURS_BETWEEN_CHANGES = 24 * 60


@dataclass
class Number:
    id: int
    account: Account
    country: str
    state: dict[str, Any]
    versions: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (hour, state)


def schedule_fee(hour: int, country: str) -> Decimal:
    fees = [fees for since, fees in SCHEDULES if since <= hour][-1]
    return fees.get(country, fees["default"])


def generate(target_versions: int, seed: int = SEED) -> Iterator[Number]:
    """Numbers with their versions until about `target_versions` versions (see the doc)."""
    rng = random.Random(seed)
    made, number_id = 0, 0
    while made < target_versions:
        number_id += 1
        number = make_number(rng, number_id)
        made += len(number.versions)
        yield number


def make_number(rng: random.Random, number_id: int) -> Number:
    account = rng.choices(ACCOUNTS, weights=[a.share for a in ACCOUNTS])[0]
    country = rng.choice(COUNTRIES[account.name])
    born = 0 if rng.random() < 0.33 else rng.randrange(1, HOURS - 2)
    created = START + timedelta(hours=born) - timedelta(seconds=rng.randrange(60, 86_400 * 2))
    if born == 0:
        created = START - timedelta(days=rng.randrange(1, 600), seconds=rng.randrange(86_400))
    state: dict[str, Any] = {
        "status": "active",
        "friendly_name": f"line {number_id}",
        "assigned_to": f"agent_{rng.randrange(50)}",
        "provider_created_at": created,
    }
    if account.provider == "tryvox":
        state |= {
            "monthly_fee": rng.choice(VOX_FEES),
            "setup_fee": rng.choice(SETUP_FEES),
            "currency": rng.choice(CURRENCIES[account.name]),
        }
    elif account.name == "ringyo-main":
        state |= {
            "monthly_fee": schedule_fee(born, country),
            "setup_fee": None,
            "currency": "USD",
        }
    else:
        state |= {"monthly_fee": None, "setup_fee": None, "currency": None}
    number = Number(number_id, account, country, state)
    hour = born
    if rng.random() < 0.1 and hour + 72 < HOURS:
        number.versions.append((hour, {**state, "status": "pending"}))
        hour += rng.randrange(1, 72)
    number.versions.append((hour, dict(state)))
    released = False
    while True:
        following = hour + 1 + int(rng.expovariate(1 / MEAN_HOURS_BETWEEN_CHANGES))
        hour = schedule_changes(number, hour, min(following, HOURS))
        if following >= HOURS:
            return number
        hour = following
        current = dict(number.versions[-1][1])
        if released:
            if rng.random() < 0.3:  # back again, a few re-rented at the provider
                current["status"] = "active"
                if rng.random() < 0.2:
                    current["provider_created_at"] = number.account.synced(hour) - timedelta(
                        hours=rng.randrange(1, 48)
                    )
                number.versions.append((hour, current))
                released = False
                continue
            return number
        roll = rng.random()
        if roll < 0.45:
            current["assigned_to"] = f"agent_{rng.randrange(50)}"
            if rng.random() < 0.3:
                current["friendly_name"] = f"line {number_id} v{hour}"
        elif roll < 0.75:
            if current["status"] == "active":
                current["status"] = rng.choice(OTHER_STATUS[account.provider])
            else:
                current["status"] = "active"
        elif roll < 0.90 and account.provider == "tryvox":
            current["monthly_fee"] = rng.choice(VOX_FEES)
        elif roll >= 0.90:
            current["status"] = "released"
            released = True
        else:
            current["assigned_to"] = None
        if current != number.versions[-1][1]:
            number.versions.append((hour, current))


def schedule_changes(number: Number, after: int, before: int) -> int:
    """ringyo-main's schedule changes between two hours give its live numbers a version."""
    last = after
    if number.account.name != "ringyo-main":
        return last
    for since, _ in SCHEDULES[1:]:
        if after < since < before and number.versions[-1][1]["status"] != "released":
            fee = schedule_fee(since, number.country)
            if fee != number.versions[-1][1]["monthly_fee"]:
                number.versions.append((since, {**number.versions[-1][1], "monthly_fee": fee}))
                last = since
    return last


def rows(number: Number) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `phone_numbers` row and the `phone_number_versions` rows of a number."""
    common = {
        "e164": f"+1555{number.id:07d}",
        "country": number.country,
        "region": None,
        "number_type": "local",
        "voice": True,
        "sms": True,
        "mms": False,
        "provider_updated_at": None,
    }
    versions = []
    for index, (hour, state) in enumerate(number.versions):
        following = number.versions[index + 1][0] if index + 1 < len(number.versions) else None
        versions.append(
            {
                "number_id": number.id,
                **common,
                **state,
                "valid_from": number.account.synced(hour),
                "valid_to": None if following is None else number.account.synced(following),
                "sync_run_id": None,
            }
        )
    last = versions[-1]
    released = last["status"] == "released"
    current = {
        "id": number.id,
        "provider": number.account.provider,
        "account": number.account.name,
        "external_id": f"pn_{number.id}" if number.account.provider == "ringyo" else last["e164"],
        **{k: v for k, v in last.items() if k not in ("number_id", "valid_from", "valid_to")},
        "first_seen_at": versions[0]["valid_from"],
        "last_seen_at": last["valid_from"] if released else number.account.synced(HOURS - 1),
        "released_at": last["valid_from"] if released else None,
        "content_hash": hashlib.blake2b(repr(last).encode(), digest_size=16).hexdigest(),
    }
    del current["sync_run_id"]
    return current, versions


def fill(engine: Engine, target: int) -> int:
    """Write the generated history; returns the number of version rows."""
    started = time.perf_counter()
    count = 0
    numbers_batch: list[dict[str, Any]] = []
    versions_batch: list[dict[str, Any]] = []

    def flush(connection: Any) -> None:
        if numbers_batch:
            write(connection, PhoneNumber.__table__, numbers_batch)
            write(connection, PhoneNumberVersion.__table__, versions_batch)
        numbers_batch.clear()
        versions_batch.clear()

    with engine.begin() as connection:
        for number in generate(target):
            current, versions = rows(number)
            numbers_batch.append(current)
            versions_batch.extend(versions)
            count += len(versions)
            if len(versions_batch) >= 50_000:
                flush(connection)
        flush(connection)
    print(f"  filled {count:,} versions in {time.perf_counter() - started:.0f} s", flush=True)
    derive_spans(engine)
    analyze(engine)
    return count


def derive_spans(engine: Engine) -> None:
    """The versions are written here directly, not by a sync, so their `rate_spans` are
    derived from them, as `syncer db upgrade --rebuild-spans` does."""
    from syncer.store.spans import rebuild

    started = time.perf_counter()
    with engine.begin() as connection:
        rebuild(connection)
    print(f"  derived rate spans in {time.perf_counter() - started:.0f} s", flush=True)


def write(connection: Any, table: Any, batch: list[dict[str, Any]]) -> None:
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), batch)
        return
    columns = list(batch[0])
    raw = connection.connection.driver_connection
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in batch:
            copy.write_row([row[c] for c in columns])


def analyze(engine: Engine) -> None:
    name = engine.dialect.name
    if name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(
                text("SELECT setval('phone_numbers_id_seq', max(id)) FROM phone_numbers")
            )
            connection.execute(text("VACUUM ANALYZE phone_numbers"))
            connection.execute(text("VACUUM ANALYZE phone_number_versions"))
            connection.execute(text("VACUUM ANALYZE rate_spans"))
    elif name == "sqlite":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    else:
        with engine.begin() as connection:
            connection.execute(
                text("ANALYZE TABLE phone_numbers, phone_number_versions, rate_spans")
            )


def server_database(base_url: str, name: str, reuse: bool) -> tuple[str, bool]:
    """Database `name` on the server of `base_url`; True if it must be filled."""
    url = make_url(base_url)
    postgres = url.get_backend_name() == "postgresql"
    quoted = f'"{name}"' if postgres else f"`{name}`"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if postgres:
            query = "SELECT 1 FROM pg_database WHERE datname = :n"
        else:
            query = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"
        exists = bool(connection.execute(text(query), {"n": name}).scalar())
        if exists and not reuse:
            connection.execute(
                text(f"DROP DATABASE {quoted}" + (" WITH (FORCE)" if postgres else ""))
            )
        if not exists or not reuse:
            connection.execute(text(f"CREATE DATABASE {quoted}"))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False), not (exists and reuse)


def prepare(backend: str, url: str | None, target: int, reuse: bool, folder: Path) -> str:
    if backend == "sqlite":
        path = folder / f"accrual-{target}.db"
        must_fill = not (reuse and path.exists())
        if must_fill and path.exists():
            path.unlink()
        database_url = f"sqlite:///{path}"
    else:
        assert url is not None
        database_url, must_fill = server_database(url, DATABASE.format(versions=target), reuse)
    started = time.perf_counter()
    upgrade(database_url)  # on a database of an earlier syncer, 0004 derives the rate spans
    print(f"  schema at head in {time.perf_counter() - started:.1f} s", flush=True)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                select(func.count()).select_from(PhoneNumberVersion)
            ).scalar()
        if must_fill or not stored:
            if stored:
                raise SystemExit(f"{backend}: the benchmark database is not empty; drop it")
            fill(engine, target)
        else:
            if abs(stored - target) > target // 100:
                raise SystemExit(
                    f"{backend}: the benchmark database holds {stored:,} versions, not about "
                    f"{target:,}; run without --reuse to fill it again"
                )
            print(f"  reusing {stored:,} versions", flush=True)
            analyze(engine)
    finally:
        engine.dispose()
    return database_url


def median_of(runs: int, work: Callable[[], object]) -> tuple[float, list[float]]:
    work()  # warm up: caches, plans
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


@dataclass
class ProcessRun:
    wall: float
    cpu: float  # user + system of the syncer process (the database server's is not in it)
    output: str


def process_run(
    database_url: str, first: str, last: str, folder: Path, checkout: Path | None = None
) -> ProcessRun:
    """`syncer report accrual` as a whole process (from `checkout` if given)."""
    environment = {**os.environ, "SYNCER_DATABASE_URL": database_url}
    environment.pop("SYNCER_CONFIG", None)
    if checkout is not None:
        environment["PYTHONPATH"] = str(checkout)
    command = [sys.executable, "-m", "syncer", "report", "accrual", "--from", first]
    command += ["--to", last, "--as-of", NOW.isoformat(), "--format", "json"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=folder, env=environment, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"syncer report accrual failed: {err.read().decode().strip()}")
        return ProcessRun(wall, usage.ru_utime + usage.ru_stime, out.read().decode())


@dataclass(frozen=True)
class Baseline:
    checkout: Path
    database_url: str | None = None  # None: the same database as this syncer's


def processes(
    database_url: str, first: str, last: str, folder: Path, runs: int, baseline: Baseline | None
) -> dict[str, list[ProcessRun]]:
    """Whole-process runs, one warm-up each, then `runs` rounds; with a baseline, the two
    alternate, so a change in the machine's load weighs on both alike."""
    checkouts: dict[str, tuple[str, Path | None]] = {"syncer": (database_url, None)}
    if baseline is not None:
        checkouts["baseline"] = (baseline.database_url or database_url, baseline.checkout)
    found: dict[str, list[ProcessRun]] = {name: [] for name in checkouts}
    for url, checkout in checkouts.values():
        process_run(url, first, last, folder, checkout)
    for _ in range(runs):
        for name, (url, checkout) in checkouts.items():
            found[name].append(process_run(url, first, last, folder, checkout))
    return found


def measure(
    backend: str, database_url: str, runs: int, folder: Path, baseline: Baseline | None
) -> list[dict[str, Any]]:
    from syncer.reports.accrual_queries import gather

    figures = []
    engine = make_engine(database_url, pool_size=3)
    try:
        for label, (first, last) in RANGES.items():
            request = AccrualRequest.parse(start=first, end=last, as_of=NOW.isoformat())
            result = accrual_report(engine, request)
            window = [result.first.previous(), *months(result.first, result.last)]
            periods = [month.period(request.zone) for month in window]

            def queries(periods: list[Any] = periods, request: AccrualRequest = request) -> Any:
                return gather(engine, periods, request.billable, NOW)

            gathered = queries()
            figure: dict[str, Any] = {"backend": backend, "range": label, "first": first}
            figure["last"] = last
            runs_by_checkout = processes(database_url, first, last, folder, runs, baseline)
            for name, found in runs_by_checkout.items():
                digests = {hashlib.sha256(run.output.encode()).hexdigest()[:16] for run in found}
                figure[name] = {
                    "process_s": round(statistics.median(run.wall for run in found), 3),
                    "process_cpu_s": round(statistics.median(run.cpu for run in found), 3),
                    "process_runs": [round(run.wall, 3) for run in found],
                    "json_sha256": sorted(digests),
                }
            report_s, report_runs = median_of(runs, partial(accrual_report, engine, request))
            queries_s, _ = median_of(runs, queries)
            arithmetic = partial(assemble, window, periods, gathered, NOW)
            arithmetic_s, _ = median_of(runs, arithmetic)
            figure["syncer"] |= {
                "report_s": round(report_s, 3),
                "report_runs": [round(t, 3) for t in report_runs],
                "queries_s": round(queries_s, 3),
                "arithmetic_s": round(arithmetic_s, 4),
                "rows": len(result.rows),
            }
            print(describe(figure), flush=True)
            figures.append(figure)
    finally:
        engine.dispose()
    return figures


def describe(figure: dict[str, Any]) -> str:
    mine = figure["syncer"]
    line = (
        f"  {figure['range']:<9}  process {mine['process_s']:6.2f} s"
        f" (cpu {mine['process_cpu_s']:.2f})"
        f"  in process {mine['report_s']:6.2f} s = queries {mine['queries_s']:.2f}"
        f" + arithmetic {mine['arithmetic_s']:.2f}  rows {mine['rows']}"
        f"  json {','.join(mine['json_sha256'])}"
    )
    if "baseline" in figure:
        base = figure["baseline"]
        same = "same json" if base["json_sha256"] == mine["json_sha256"] else "JSON DIFFERS"
        line += (
            f"\n  {'':<9}  baseline process {base['process_s']:6.2f} s"
            f" (cpu {base['process_cpu_s']:.2f}): {base['process_s'] / mine['process_s']:.1f}x"
            f" the time; {same}"
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="postgresql", help="postgresql,sqlite,mysql")
    parser.add_argument("--versions", type=int, default=1_000_000)
    parser.add_argument("--sqlite-versions", type=int, help="default: --versions")
    parser.add_argument("--mysql-versions", type=int, help="default: --versions")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="keep a filled database")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SYNCER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("SYNCER_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=Path(tempfile.gettempdir()) / "syncer-accrual-bench",
        help="where the SQLite file is kept",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another syncer (e.g. `git worktree add /tmp/base main`): its "
        "`syncer report accrual` is timed too, alternating with this one's",
    )
    parser.add_argument(
        "--baseline-url",
        help="the baseline's database, when it is at an earlier schema revision: a copy "
        "made before this syncer upgraded it (one backend per run)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    baseline = None
    if args.baseline is not None:
        baseline = Baseline(args.baseline, args.baseline_url)
    elif args.baseline_url:
        parser.error("--baseline-url needs --baseline")
    args.folder.mkdir(parents=True, exist_ok=True)
    sizes = {
        "postgresql": args.versions,
        "sqlite": args.sqlite_versions or args.versions,
        "mysql": args.mysql_versions or args.versions,
    }
    urls = {"postgresql": args.postgres_url, "mysql": args.mysql_url, "sqlite": None}
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    figures = []
    for backend in args.backends.split(","):
        print(f"{backend}, about {sizes[backend]:,} versions", flush=True)
        url = prepare(backend, urls[backend], sizes[backend], args.reuse, args.folder)
        figures += measure(backend, url, args.runs, args.folder, baseline)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
