"""How long `report costs` takes on 1,000,000 version rows in PostgreSQL.

    .venv/bin/python benchmarks/report_costs.py [POSTGRES_URL] [--numbers 200000]

POSTGRES_URL names a server database to create the benchmark database `syncer_bench` in
(default: $SYNCER_TEST_POSTGRES_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/test).
The script migrates it, fills it with `--numbers` numbers of 5 versions each (200,000 x 5 =
1,000,000 version rows) with bulk `INSERT ... SELECT generate_series`, runs ANALYZE, and
times the reports as users call them (the engine's connection set up, the query, the rows
read, Decimal totals): the current run-rate (from `phone_numbers`), the run-rate as of a
past instant (from `phone_number_versions`), and a 12-month accrual. Each is run once to
warm up, then 5 times; the median is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from syncer.reports.accrual import AccrualRequest, accrual_report
from syncer.reports.costs import CostsRequest, costs_report
from syncer.store.engine import make_engine
from syncer.store.migrate import upgrade

VERSIONS_PER_NUMBER = 5
NOW = datetime(2026, 7, 1, tzinfo=UTC)


def status(i: str, k: str) -> str:
    """The status of version k of number i; the last version of every 10th is the release."""
    return (
        f"CASE WHEN {k} = 4 AND {i} % 10 = 0 THEN 'released' "
        f"ELSE (ARRAY['active','active','suspended','pending'])[1 + ({i} + {k}) % 4] END"
    )


def fee(i: str, k: str) -> str:
    """Fees from 1.00 to 2.50 by quarters, with a price change at some versions."""
    return f"(1.00 + (({i} + {k} / 2) % 7) * 0.25)::numeric(18, 6)"


def valid_from(i: str, k: str) -> str:
    return (
        f"(timestamptz '2026-01-01 00:00:00+00' + ({k}) * interval '30 days' "
        f"+ ({i} % 86400) * interval '1 second')"
    )


def fill(url: str, numbers: int) -> None:
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            text(
                f"""
                INSERT INTO phone_numbers (id, provider, account, external_id, e164, country,
                    number_type, status, voice, sms, mms, monthly_fee, setup_fee, currency,
                    provider_created_at, first_seen_at, last_seen_at, released_at, content_hash)
                SELECT i,
                    CASE WHEN i % 2 = 0 THEN 'ringyo' ELSE 'tryvox' END,
                    'account-' || (i % 4),
                    'n' || i,
                    '+1' || lpad(i::text, 10, '0'),
                    (ARRAY['US','GB','DE','FR','CA'])[1 + i % 5],
                    'local',
                    {status("i", "4")},
                    true, true, false,
                    {fee("i", "4")},
                    0,
                    CASE WHEN i % 4 = 3 THEN 'EUR' ELSE 'USD' END,
                    timestamptz '2025-12-01 00:00:00+00',
                    {valid_from("i", "0")},
                    {valid_from("i", "4")},
                    CASE WHEN i % 10 = 0 THEN {valid_from("i", "4")} END,
                    md5(i::text)
                FROM generate_series(1, :numbers) AS i
                """
            ),
            {"numbers": numbers},
        )
        connection.execute(
            text(
                f"""
                INSERT INTO phone_number_versions (number_id, e164, country, number_type, status,
                    voice, sms, mms, monthly_fee, setup_fee, currency, provider_created_at,
                    valid_from, valid_to)
                SELECT n.id, n.e164, n.country, n.number_type, {status("n.id", "k")},
                    true, true, false, {fee("n.id", "k")}, 0, n.currency,
                    n.provider_created_at,
                    {valid_from("n.id", "k")},
                    CASE WHEN k < 4 THEN {valid_from("n.id", "k + 1")} END
                FROM phone_numbers n CROSS JOIN generate_series(0, {VERSIONS_PER_NUMBER - 1}) AS k
                """
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE phone_numbers"))
        connection.execute(text("VACUUM ANALYZE phone_number_versions"))
        versions = connection.execute(text("SELECT count(*) FROM phone_number_versions")).scalar()
    engine.dispose()
    print(
        f"filled {numbers:,} numbers, {versions:,} version rows "
        f"in {time.perf_counter() - started:.1f}s"
    )


def timed(name: str, work: Callable[[], object], repeat: int = 5) -> None:
    work()  # warm up: connection, plans, caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    print(
        f"{name:<58} median {statistics.median(times) * 1000:8.1f} ms"
        f"  (min {min(times) * 1000:.1f})"
    )


def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database `name` on the server of `server_url`; returns its URL."""
    url = make_url(server_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get(
            "SYNCER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--numbers", type=int, default=200_000)
    args = parser.parse_args()
    url = fresh_database(args.url, "syncer_bench")
    upgrade(url)
    fill(url, args.numbers)
    engine = make_engine(url)
    try:
        for label, request in [
            ("costs, current state, by provider,account", CostsRequest()),
            (
                "costs, current state, by all five keys",
                CostsRequest.parse(by="provider,account,country,type,status"),
            ),
            (
                "costs --as-of 2026-03-15 (versions), by provider,account",
                CostsRequest.parse(as_of="2026-03-15"),
            ),
            (
                "costs --as-of 2026-03-15 (versions), by all five keys",
                CostsRequest.parse(as_of="2026-03-15", by="provider,account,country,type,status"),
            ),
        ]:
            timed(label, lambda request=request: costs_report(engine, request, now=NOW))
        accrual = AccrualRequest.parse(start="2026-01", end="2026-06")
        timed(
            "accrual 2026-01..2026-06 with attribution",
            lambda: accrual_report(engine, accrual, now=NOW),
            repeat=3,
        )
        report = costs_report(engine, CostsRequest.parse(as_of="2026-03-15", by=""), now=NOW)
        print(
            "as of 2026-03-15:",
            [(t.currency, t.numbers, str(t.monthly_fee_total)) for t in report.totals],
        )
    finally:
        engine.dispose()


if __name__ == "__main__":
    main()
