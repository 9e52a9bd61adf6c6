"""`syncer report ...` on the command line: formats, --output, charts, and bad input (exit 2).

The reports' figures are tested on every database elsewhere; this checks the thin CLI layer
on SQLite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from syncer.cli import main
from syncer.store.engine import make_engine
from tests import report_shapes
from tests.history import History, ringyo, utc, vox


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["report", *args], env={"SYNCER_DATABASE_URL": url})


@pytest.fixture
def url(sqlite_url: str) -> str:
    engine: Engine = make_engine(sqlite_url)
    history = History(engine)
    account = history.tryvox(items=[vox(1, fee="1.25"), vox(2, fee="2.50", currency="EUR")])
    history.ringyo(items=[ringyo(1)])
    history.sync_at(utc(2026, 9, 20, 9))
    account.items[0]["status"] = "suspended"
    history.sync_at(utc(2026, 10, 3, 9))
    engine.dispose()
    return sqlite_url


def test_every_report_as_json(url: str) -> None:
    checks = {
        "costs": report_shapes.check_costs,
        "accrual": report_shapes.check_accrual,
        "changes": report_shapes.check_changes,
        "runs": report_shapes.check_runs,
    }
    extra = {"changes": ["--since", "2026-09-01"], "accrual": ["--from", "2026-09"]}
    for name, check in checks.items():
        result = run(url, name, "--format", "json", *extra.get(name, []))
        assert result.exit_code == 0, result.output
        check(json.loads(result.stdout))
    costs = json.loads(run(url, "costs", "--format", "json", "--as-of", "2026-10-01").stdout)
    assert costs["as_of"] == "2026-10-01T00:00:00Z"
    assert costs["totals"] == [
        {"currency": "EUR", "numbers": 1, "monthly_fee_total": "2.50", "unpriced_numbers": 0},
        {"currency": "USD", "numbers": 1, "monthly_fee_total": "1.25", "unpriced_numbers": 0},
        {"currency": None, "numbers": 1, "monthly_fee_total": None, "unpriced_numbers": 1},
    ]


def test_table_csv_and_output_file(url: str, tmp_path: Path) -> None:
    table = run(url, "costs")
    assert table.exit_code == 0
    assert "Monthly-fee run-rate as of" in table.stdout
    assert "total" in table.stdout
    csv = run(url, "costs", "--format", "csv", "--by", "account")
    assert csv.stdout.splitlines() == [
        "account,currency,numbers,monthly_fee_total,unpriced_numbers",
        "ringyo-main,,1,,1",
        "vox-main,EUR,1,2.50,0",
        "vox-main,USD,1,1.25,0",
    ]
    target = tmp_path / "runs.csv"
    written = run(url, "runs", "--format", "csv", "--output", str(target))
    assert (written.exit_code, written.stdout) == (0, "")
    assert target.read_text().startswith("id,provider,account,started_at")


def test_charts_are_drawn_and_say_where(url: str, tmp_path: Path) -> None:
    png, svg = tmp_path / "accrual.png", tmp_path / "changes.svg"
    accrual = run(url, "accrual", "--from", "2026-09", "--to", "2026-10", "--chart", str(png))
    assert accrual.exit_code == 0, accrual.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert accrual.stderr == f"chart written to {png.resolve()}\n"
    changes = run(url, "changes", "--since", "2026-09-15", "--chart", str(svg))
    assert changes.exit_code == 0, changes.output
    assert "<svg" in svg.read_text()
    assert changes.stderr == f"chart written to {svg.resolve()}\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["costs", "--as-of", "yesterday"], "--as-of: 'yesterday' is not a date"),
        (["costs", "--by", "planet"], "--by: unknown key 'planet'"),
        (["costs", "--status", "gone"], "--status: unknown status 'gone'"),
        (["costs", "--timezone", "Mars/Olympus"], "--timezone: unknown time zone"),
        (["accrual", "--from", "2026-10", "--to", "2026-09"], "--from 2026-10 is after --to"),
        (["accrual", "--from", "2026-13"], "--from: '2026-13' is not a month"),
        (["accrual", "--chart", "out.gif"], "--chart: 'out.gif' must end in .png or .svg"),
        (["changes", "--since", "2026-10-05", "--until", "2026-10-01"], "is not before"),
        (["changes", "--to-status", "lost"], "--to-status: unknown status 'lost'"),
        (["runs", "--limit", "0"], "--limit: give a positive number"),
        (["costs", "--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(url: str, args: list[str], message: str) -> None:
    result = run(url, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    if args[-1] != "xml":  # click's own usage errors print the usage too
        assert len(result.stderr.strip().splitlines()) == 1
        assert result.stderr.startswith("error: ")


def test_database_without_tables_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "new.db").touch()
    result = run(f"sqlite:///{tmp_path / 'new.db'}", "costs")
    assert result.exit_code == 2
    assert "run `syncer db upgrade` first" in result.stderr


def test_charts_without_matplotlib_exit_2_saying_what_to_install(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    for report in (["accrual"], ["changes"]):
        result = run(url, *report, "--chart", str(tmp_path / "chart.png"))
        assert result.exit_code == 2
        assert result.stderr == (
            "error: --chart needs matplotlib, which the core install leaves out: "
            "pip install 'syncer[charts]'\n"
        )
        assert result.stdout == ""  # refused before the report ran
    assert not (tmp_path / "chart.png").exists()


def test_a_future_as_of_is_refused(url: str) -> None:
    for report in ("costs", "accrual"):
        result = run(url, report, "--as-of", "2999-01-01")
        assert result.exit_code == 2
        assert "--as-of: 2999-01-01 00:00:00 UTC is in the future" in result.stderr


def test_failed_and_read_only_commands_leave_no_database_file_behind(tmp_path: Path) -> None:
    data, config = tmp_path / "data", tmp_path / "syncer.toml"
    data.mkdir()
    missing = data / "typo.db"
    config.write_text(
        f'database_url = "sqlite:///{missing}"\n[[accounts]]\nname = "r"\n'
        'provider = "ringyo"\napi_key_env = "R_KEY"\n'
    )
    for args in (["costs"], ["runs"], ["accrual"], ["changes"]):
        result = run(f"sqlite:///{missing}", *args)
        assert result.exit_code == 2
        assert f"the SQLite database '{missing}' does not exist" in result.stderr
    for args in (["status"], ["sync"]):
        result = CliRunner().invoke(main, ["--config", str(config), *args], env={"R_KEY": "k1"})
        assert result.exit_code == 2, result.output
        assert "does not exist: run `syncer db upgrade` to create it" in result.stderr
    assert list(data.iterdir()) == []
