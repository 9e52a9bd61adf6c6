"""Report tables on a real terminal: never a column dropped or a value cut.

Each report is drawn in a pseudo-terminal at 80 and at 200 columns. At 80 a table either
fits, wraps its free text at word boundaries, or folds to one block per record; at 200 the
same reports are plain tables. In every case each identifying value (account, run, start,
month, currency, number, provider) appears whole on one line, and no line is wider than the
terminal.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert

from syncer.store.engine import make_engine
from syncer.store.models import SyncRun
from tests.history import History, utc, vox
from tests.terminal import python_cli, run_in_pty, screen_text

LONG_ERROR = (
    "kept failing: HTTP 503 on 6 attempts at https://api.tryvox.example/v1/account/"
    "acc_vox-backup/numbers?page=3&per_page=100 (the provider said: service unavailable, "
    "try again later)"
)
REPORTS = [
    ["report", "runs"],
    ["report", "accrual", "--from", "2026-09", "--to", "2026-10"],
    ["report", "changes", "--since", "2026-09-01", "--until", "2026-11-01"],
    ["report", "costs", "--by", "provider,account,country,type,status"],
]


@pytest.fixture
def url(sqlite_url: str) -> str:
    engine: Engine = make_engine(sqlite_url)
    history = History(engine)
    main = history.tryvox("vox-main-production", items=[vox(1), vox(2, currency="EUR")])
    history.tryvox("vox-backup", items=[vox(3, fee="12.50")])
    history.sync_at(utc(2026, 9, 20, 9))
    main.items[0]["status"] = "suspended"
    history.sync_at(utc(2026, 10, 3, 9))
    with engine.begin() as connection:
        connection.execute(
            insert(SyncRun).values(
                provider="tryvox",
                account="vox-backup",
                started_at=datetime(2026, 10, 4, 9, tzinfo=UTC),
                finished_at=datetime(2026, 10, 4, 9, 1, tzinfo=UTC),
                status="failed",
                error=LONG_ERROR,
            )
        )
    engine.dispose()
    return sqlite_url


def identifying_values() -> list[str]:
    return [
        "vox-main-production",
        "vox-backup",
        "2026-09-20 09:00:00",
        "2026-10-03 09:00:00",
        "2026-10-04 09:00:00",
        "2026-09",
        "2026-10",
        "EUR",
        "USD",
        "+442070000001",
        "+442070000002",
        "+442070000003",
        "tryvox",
    ]


def draw(url: str, columns: int) -> list[str]:
    code, raw = run_in_pty(python_cli(*REPORTS), columns=columns, env={"SYNCER_DATABASE_URL": url})
    screen = screen_text(raw)
    assert code == 0, screen
    outputs = screen.split("\n=== ")
    assert [part.split("\n", 1)[0] for part in outputs[1:]] == ["0"] * len(REPORTS), screen
    return [part.split("\n", 1)[-1] if i else part for i, part in enumerate(outputs[:-1])]


def whole_on_a_line(value: str, screen: str) -> bool:
    return any(value in line for line in screen.splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 200])
def test_reports_keep_every_column_whole(url: str, columns: int) -> None:
    runs, accrual, changes, costs = draw(url, columns)
    everything = "\n".join((runs, accrual, changes, costs))
    assert max(len(line) for line in everything.splitlines()) <= columns
    for value in ("vox-main-production", "vox-backup", "2026-09-20 09:00:00", "failed"):
        assert whole_on_a_line(value, runs), runs
    for value in ("2026-09", "2026-10", "EUR", "USD", "not yet"):
        assert whole_on_a_line(value, accrual), accrual
    for value in ("+442070000001", "+442070000002", "2026-10-03 09:00:00", "vox-main-production"):
        assert whole_on_a_line(value, changes), changes
    for value in ("vox-main-production", "vox-backup", "tryvox", "suspended", "12.50"):
        assert whole_on_a_line(value, costs), costs
    # the long error wraps at words: each of its words that fits a line is there, whole
    words = [word for word in LONG_ERROR.split() if len(word) < columns - 20]
    assert all(whole_on_a_line(word, runs) for word in words), runs
    if columns == 200:
        # a plain table: one header line naming every column, one line per run
        assert any(
            line.split()
            == [
                "run",
                "account",
                "started",
                "took",
                "pages",
                "seen",
                "created",
                "updated",
                "released",
                "rejected",
                "status",
                "error",
            ]
            for line in runs.splitlines()
        ), runs
        assert len(re.findall(r"^ +\d+  vox-", runs, re.MULTILINE)) == 5, runs
