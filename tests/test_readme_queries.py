"""Every SQL block in the docs runs as written on SQLite and PostgreSQL.

The queries are read from the Markdown files themselves (README.md, docs/*.md), so the docs
stay true: five portable ones, and the accrual query marked `-- PostgreSQL only`, which
must agree with `report accrual`.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from syncer.reports.accrual import AccrualRequest, accrual_report
from syncer.reports.costs import CostsRequest, costs_report
from syncer.reports.money import rounded
from syncer.store.engine import make_engine
from tests.conftest import BACKENDS, prepared_server_url, truncate_all
from tests.history import History, ringyo, utc, vox

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ONLY = "-- PostgreSQL only"


def readme_queries() -> list[str]:
    """Every ```sql block of the README and docs/, in file order (docs/sql.md holds them)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [
        query
        for file in files
        for query in re.findall(r"```sql\n(.*?)```", file.read_text(encoding="utf-8"), re.DOTALL)
    ]


def october(backend: str, tmp_path: Path, sqlite_template: Path) -> Iterator[History]:
    """October 2026: three TryVox numbers (one in EUR) and a Ringyo one; on the 16th a fee
    changes, a number is suspended, one released and one added."""
    if backend == "sqlite":
        shutil.copy(sqlite_template, tmp_path / "readme.db")
        url = f"sqlite:///{tmp_path / 'readme.db'}"
    else:
        url = prepared_server_url(backend)
        truncate_all(url)
    engine = make_engine(url)
    history = History(engine)
    account = history.tryvox(
        items=[vox(1, fee="1.25"), vox(2, fee="2.50"), vox(3, fee="4.00", currency="EUR")]
    )
    new_numbers = history.ringyo(items=[])
    history.sync_at(utc(2026, 10, 1, 9))
    account.items[0]["monthly_fee"] = "1.75"
    account.items[1]["status"] = "suspended"
    del account.items[2]
    new_numbers.items.append(ringyo(1))
    history.sync_at(utc(2026, 10, 16, 9))
    yield history
    engine.dispose()


@pytest.fixture(params=[backend for backend in BACKENDS if backend != "mysql"])
def history(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[History]:
    yield from october(request.param, tmp_path, sqlite_template)


@pytest.fixture(params=[backend for backend in BACKENDS if backend == "postgresql"])
def postgres_history(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[History]:
    yield from october(request.param, tmp_path, sqlite_template)


def run(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql)]


def test_the_readme_has_five_portable_queries() -> None:
    queries = readme_queries()
    assert len([q for q in queries if not q.startswith(POSTGRES_ONLY)]) == 5
    assert len([q for q in queries if q.startswith(POSTGRES_ONLY)]) == 1


def test_readme_queries_run_as_written(history: History) -> None:
    engine = history.engine
    portable = [q for q in readme_queries() if not q.startswith(POSTGRES_ONLY)]
    run_rate, as_of, summary, price_changes, listings = (run(engine, q) for q in portable)

    assert [(r[0], r[1], int(r[2]), int(r[3])) for r in run_rate] == [
        ("ringyo-main", None, 1, 1),  # unpriced: no fee schedule
        ("vox-main", "USD", 2, 0),
    ]
    assert Decimal(str(run_rate[1][4])) == Decimal("4.25")  # 1.75 + 2.50
    # 15 October: the state of the first sync
    assert [(r[1], r[2], Decimal(str(r[3]))) for r in as_of] == [
        ("+442070000001", "active", Decimal("1.25")),
        ("+442070000002", "active", Decimal("2.50")),
        ("+442070000003", "active", Decimal("4.00")),
    ]
    assert sorted((r[0], r[1], int(r[2])) for r in summary) == [
        ("(new)", "active", 4),
        ("active", "released", 1),
        ("active", "suspended", 1),
    ]
    assert [(r[1], Decimal(str(r[2])), Decimal(str(r[3]))) for r in price_changes] == [
        ("+442070000001", Decimal("1.25"), Decimal("1.75"))
    ]
    assert [(r[0], int(r[3])) for r in listings] == [("ringyo-main", 2), ("vox-main", 2)]
    assert all(r[1] is not None and r[2] is None for r in listings)
    # after the release on the 16th: as `report costs --as-of` counts, the released number
    # is left out
    later = run(engine, portable[1].replace("2026-10-15", "2026-10-20"))
    assert [(r[1], r[2]) for r in later] == [
        ("+14155550001", "active"),
        ("+442070000001", "active"),
        ("+442070000002", "suspended"),
    ]
    report = costs_report(engine, CostsRequest.parse(as_of="2026-10-20", by="account"))
    assert sum(row.numbers for row in report.rows) == len(later)


def test_readme_accrual_query_agrees_with_the_report(postgres_history: History) -> None:
    history = postgres_history
    [query] = [q for q in readme_queries() if q.startswith(POSTGRES_ONLY)]
    from_sql = {currency: Decimal(fees) for currency, fees, _ in run(history.engine, query)}
    report = accrual_report(
        history.engine, AccrualRequest.parse(start="2026-10", end="2026-10"), now=utc(2026, 12, 1)
    )
    from_report = {
        row.currency: rounded(row.accrued - (row.setup_fees or 0), 2)
        for row in report.rows
        if row.accrued is not None
    }
    assert from_sql == from_report
