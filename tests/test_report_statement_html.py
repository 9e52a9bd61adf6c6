"""The statement as a file: self-contained HTML (no script, nothing fetched), tables only
without matplotlib, negative amounts readable without colour, and the command line."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from syncer.cli import main
from syncer.reports.statement import (
    StatementReport,
    StatementRequest,
    statement_report,
    write_statement,
)
from syncer.reports.statement_html import NO_CHARTS, render_html
from syncer.store.engine import make_engine
from tests import report_shapes
from tests.history import History, ringyo, utc, vox

NOW = datetime(2026, 11, 2, tzinfo=UTC)


def september_and_october(engine: Engine) -> None:
    """USD and EUR numbers from 1 September; in October one is released, one suspended and
    one added, so October costs less than September would have in full."""
    history = History(engine)
    account = history.tryvox(
        items=[
            vox(1, fee="4.00"),
            vox(2, fee="2.50", currency="EUR"),
            vox(3, fee="1.75"),
            vox(4, fee="9.00"),
        ]
    )
    history.ringyo(items=[ringyo(1)])  # no fee schedule: unpriced
    history.sync_at(utc(2026, 9, 1))
    history.sync_at(utc(2026, 10, 1, 9))
    account.items = [item for item in account.items if not item["e164"].endswith("04")]
    account.items[0]["status"] = "suspended"
    account.items.append(vox(5, fee="0.50", setup="3.00", created="2026-10-05T00:00:00Z"))
    history.sync_at(utc(2026, 10, 5, 9))
    history.sync_at(utc(2026, 10, 31, 23))


@pytest.fixture
def october(sqlite_url: str) -> StatementReport:
    engine = make_engine(sqlite_url)
    try:
        september_and_october(engine)
        return statement_report(engine, StatementRequest.parse(month="2026-10"), now=NOW)
    finally:
        engine.dispose()


def test_the_html_is_self_contained(october: StatementReport) -> None:
    page = render_html(october, charts=True)
    lowered = page.lower()
    for forbidden in ("<script", "<link", "<iframe", "<object", "<embed", "<img", "@import"):
        assert forbidden not in lowered, forbidden
    assert "http:" not in lowered
    assert "https:" not in lowered
    assert not re.search(r"\bsrc\s*=", lowered)
    assert "//" not in "".join(re.findall(r"url\(([^)]*)\)", page))
    for target in re.findall(r'\bhref="([^"]*)"', page):
        assert target.startswith("#"), target
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "ids are unique across the charts"
    referenced = re.findall(r'href="#([^"]+)"', page) + re.findall(r"url\(#([^)]+)\)", page)
    assert set(referenced) <= set(ids), "every reference points inside the page"
    assert page.count("<svg ") == len(october.currencies) == 2
    assert "<?xml" not in page
    assert "<!doctype svg" not in lowered
    assert "@page" in page
    assert "counter(pages)" in page
    assert "@media print" in page


def test_without_matplotlib_the_statement_has_tables_only(
    october: StatementReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    page = render_html(october)
    assert "<svg" not in page
    assert escape(NO_CHARTS) in page
    assert 'data-figure="part-total"' in page  # the attribution is still there, as a table


def test_the_top_says_what_is_not_covered_or_priced(october: StatementReport) -> None:
    page = render_html(october, charts=False)
    top = page[: page.index('id="bottom-line"')]
    assert 'data-banner="coverage"' in top
    assert 'data-banner="unpriced"' in top
    assert 'data-banner="open"' not in top  # October is over
    assert "Not fully covered" in top


def test_negative_amounts_read_without_colour(october: StatementReport) -> None:
    page = render_html(october, charts=True)
    usd = next(figures for figures in october.currencies if figures.currency == "USD")
    assert usd.difference < 0
    cell = re.search(r'data-figure="difference" data-currency="USD">([^<]+)<', page)
    assert cell is not None
    assert cell.group(1).startswith("\N{MINUS SIGN}")
    released = re.search(r'data-figure="part:numbers_released" data-currency="USD">([^<]+)<', page)
    assert released is not None
    assert released.group(1).startswith("\N{MINUS SIGN}")
    added = re.search(r'data-figure="part:numbers_added" data-currency="USD">([^<]+)<', page)
    assert added is not None
    assert added.group(1).startswith("+")
    assert "<pattern" in page  # the chart hatches its decreases, so they read without colour


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["report", "statement", *args], env={"SYNCER_DATABASE_URL": url}
    )


@pytest.fixture
def url(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    september_and_october(engine)
    engine.dispose()
    return sqlite_url


def test_json_html_and_output_on_the_command_line(url: str, tmp_path: Path) -> None:
    as_json = run(url, "--month", "2026-10", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    report_shapes.check_statement(doc)
    assert doc["month"] == "2026-10"
    assert doc["complete"] is True
    assert [row["currency"] for row in doc["currencies"]] == ["EUR", "USD"]
    assert "@" not in doc["database"]  # no password to hide here, but never one shown
    target = tmp_path / "october.html"
    written = run(url, "--month", "2026-10", "--output", str(target))
    assert (written.exit_code, written.stdout, written.stderr) == (0, "", "")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    piped = run(url, "--month", "2026-10")  # stdout is not a terminal: the HTML goes there
    assert piped.exit_code == 0
    assert piped.stdout.startswith("<!DOCTYPE html>")


def test_html_on_a_terminal_goes_to_a_file_named_for_the_month(
    october: StatementReport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    written = write_statement(october, "html", None, terminal=True)
    assert written == Path("statement-2026-10.html")
    assert (tmp_path / "statement-2026-10.html").read_text(encoding="utf-8").startswith("<!DOCTYPE")
    assert capsys.readouterr().out == ""
    assert write_statement(october, "json", None, terminal=True) is None  # JSON: stdout
    assert json.loads(capsys.readouterr().out)["month"] == "2026-10"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "--month: '2026-13' is not a month such as 2026-10"),
        (["--month", "October"], "--month: 'October' is not a month"),
        (["--month", "2999-01"], "--month 2999-01 has not begun"),
        (["--timezone", "Mars/Olympus"], "--timezone: unknown time zone"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(url: str, args: list[str], message: str) -> None:
    result = run(url, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_lists_the_statement() -> None:
    assert "report statement" in CliRunner().invoke(main, ["--help"]).stdout
    assert "statement" in CliRunner().invoke(main, ["report", "--help"]).stdout
    help_text = CliRunner().invoke(main, ["report", "statement", "--help"]).stdout
    for option in ("--month", "--format", "--output", "--timezone", "--config"):
        assert option in help_text
    assert "statement-YYYY-MM.html" in help_text
