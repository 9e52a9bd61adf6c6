"""The statement in a real browser: Debian's `chromium`, headless.

On the demo's database and after two syncs against the simulator with churn in between, the
statement of the month is opened in Chromium: the figures the page shows equal the JSON's,
the rows of each attribution add up to its difference as shown, and printed to PDF (A4) no
table is cut off: every amount and number of every table is in the PDF's text (read back with
poppler's `pdftotext`), no word lies outside the page's margins, and every page carries the
running header and its page number. A copy of the page made too wide for A4 fails the same
check, so the check can fail. A screenshot of the first page is saved (set
`SYNCER_STATEMENT_SCREENSHOT=docs/statement.png` to refresh the one in the docs).

Chromium and pdftotext come from Debian (`apt-get install -y chromium poppler-utils`, as
`.ci/run` does). Without them these tests fail when `CI=true`, and are skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from syncer.demo import run_demo
from syncer.reports.money import rounded
from syncer.reports.statement import StatementRequest, statement_report
from syncer.reports.statement_html import render_html
from syncer.store.engine import make_engine
from tests.conftest import database_for
from tests.test_report_reconcile import NOW, tell_story

pytestmark = pytest.mark.slow

DEMO_NOW = datetime(2027, 1, 11, 10, tzinfo=UTC)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
A4 = (595.0, 842.0)  # points
MARGIN_X = 14 / 25.4 * 72  # the print style's left and right margins, 14 mm, in points
MINUS = "\N{MINUS SIGN}"
E164 = re.compile(r"^\+\d{8,15}$")


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: apt-get install -y {package}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Statement:
    name: str
    folder: Path
    html: Path
    doc: dict[str, Any]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Statement:
    """The statement of the demo's last complete month, December 2026."""
    folder = tmp_path_factory.mktemp("statement-demo")
    run_demo(str(folder / "demo.db"), 80, lambda _line: None, now=DEMO_NOW)
    return write(folder, "demo", f"sqlite:///{folder / 'demo.db'}", None, DEMO_NOW)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Statement:
    """The statement of November 2026 after `tests/test_report_reconcile.py`'s two syncs
    against the simulator with churn in between."""
    folder = tmp_path_factory.mktemp("statement-simulated")
    url = database_for("sqlite", folder, sqlite_template)
    engine = make_engine(url)
    try:
        tell_story(engine)
    finally:
        engine.dispose()
    return write(folder, "simulated", url, "2026-11", NOW)


@pytest.fixture(params=["demo", "simulated"])
def statement(request: pytest.FixtureRequest) -> Statement:
    found: Statement = request.getfixturevalue(request.param)
    return found


def write(folder: Path, name: str, url: str, month: str | None, now: datetime) -> Statement:
    engine = make_engine(url)
    try:
        report = statement_report(engine, StatementRequest.parse(month=month), now=now)
    finally:
        engine.dispose()
    html = folder / f"statement-{report.month}.html"
    html.write_text(render_html(report), encoding="utf-8")
    return Statement(name, folder, html, report.to_json())


def chromium(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = tool("chromium", "chromium")
    profile = folder / f"profile-{len(list(folder.glob('profile-*')))}"
    done = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


class Figures(HTMLParser):
    """The text of every element marked `data-figure`, by (figure, currency)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[tuple[str, str | None], list[str]] = {}
        self._open: list[tuple[str, str | None] | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        marks = dict(attrs)
        figure = marks.get("data-figure")
        self._open.append((figure, marks.get("data-currency")) if figure else None)

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] is not None and data.strip():
            self.found.setdefault(self._open[-1], []).append(data.strip())


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace(MINUS, "-").removeprefix("+"))


def shown(value: str | None) -> Decimal:
    """A JSON amount as the page must show it: rounded half away from zero to the cent."""
    assert value is not None
    return rounded(Decimal(value), 2)


def test_the_page_shows_the_json_figures(statement: Statement) -> None:
    dom = chromium(statement.folder, "--dump-dom", statement.html.as_uri()).stdout
    assert "<main" in dom
    parser = Figures()
    parser.feed(dom)
    figures = parser.found

    def one(figure: str, currency: str | None) -> Decimal:
        (text,) = figures[figure, currency]
        return amount(text)

    assert statement.doc["currencies"]
    for row in statement.doc["currencies"]:
        currency = row["currency"]
        assert one("accrued", currency) == shown(row["accrued"])
        assert one("previous", currency) == shown(row["previous_month"]["accrued"])
        assert one("difference", currency) == shown(row["difference"])
        assert one("setup_fees", currency) == shown(row["setup_fees"])
        assert one("run_rate", currency) == shown(row["run_rate"]["monthly_fee_total"])
        assert one("billable_run_rate", currency) == shown(
            row["run_rate"]["billable_monthly_fee_total"]
        )
        parts = {
            name: one(f"part:{name}", currency)
            for name in row["difference_parts"]
            if (f"part:{name}", currency) in figures
        }
        assert sum(parts.values()) == one("part-total", currency) == shown(row["difference"])
        for name, value in parts.items():
            assert abs(value - Decimal(row["difference_parts"][name])) <= Decimal("0.01"), name
    for total in statement.doc["where_it_goes"]["totals"]:
        if total["currency"] is not None:
            for key in statement.doc["where_it_goes"]["by"]:
                assert one(f"fees-total:{key}", total["currency"]) == shown(
                    total["monthly_fee_total"]
                )
    print(f"\n{statement.doc['month']} ({statement.name}), as Chromium shows it:")
    for row in statement.doc["currencies"]:
        currency = row["currency"]
        print(
            f"  {currency}: accrued {one('accrued', currency)} (JSON {row['accrued']}), "
            f"previous {one('previous', currency)}, difference {one('difference', currency)}, "
            f"run-rate {one('run_rate', currency)}"
        )


def test_the_first_page_as_a_screenshot(demo: Statement) -> None:
    picture = demo.folder / "statement.png"
    chromium(
        demo.folder,
        f"--screenshot={picture}",
        "--window-size=900,1270",  # about A4's proportions
        "--hide-scrollbars",
        demo.html.as_uri(),
    )
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (900, 1270)
    assert len(data) > 40_000, "a page with text and a chart, not a blank one"
    target = os.environ.get("SYNCER_STATEMENT_SCREENSHOT")
    if target:
        shutil.copyfile(picture, target)


def test_it_prints_on_a4_without_clipped_tables(statement: Statement) -> None:
    pdf = print_to_pdf(statement.folder, statement.html)
    problems = clipping_problems(pdf, statement)
    assert not problems, problems[:10]
    too_wide = statement.folder / "too-wide.html"
    too_wide.write_text(
        statement.html.read_text(encoding="utf-8").replace(
            "</style>", "table { width: 1400px !important; } td { white-space: nowrap; }</style>"
        ),
        encoding="utf-8",
    )
    assert clipping_problems(print_to_pdf(statement.folder, too_wide), statement), (
        "a table too wide for A4 must fail the check"
    )


def print_to_pdf(folder: Path, html: Path) -> Path:
    pdf = folder / html.with_suffix(".pdf").name
    chromium(folder, f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html.as_uri())
    return pdf


def clipping_problems(pdf: Path, statement: Statement) -> list[str]:
    """What is wrong with the printed statement: pages not A4, words outside the margins,
    pages without the running header or page number, amounts or numbers of the tables that
    are not in the text."""
    text = subprocess.run(
        [tool("pdftotext", "poppler-utils"), "-bbox", str(pdf), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    problems = []
    pages = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', text, re.DOTALL)
    words: Counter[str] = Counter()
    for number, (width, height, body) in enumerate(pages, start=1):
        if abs(float(width) - A4[0]) > 1 or abs(float(height) - A4[1]) > 1:
            problems.append(f"page {number} is {width} x {height} points, not A4")
        boxes = re.findall(
            r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<', body
        )
        page_words = [word for _, _, word in boxes]
        words.update(page_words)
        for left, right, word in boxes:
            if float(left) < MARGIN_X - 1 or float(right) > float(width) - MARGIN_X + 1:
                problems.append(f"page {number}: {word!r} lies outside the margins")
        if "Phone-number" not in page_words[:8]:
            problems.append(f"page {number} has no running header")
        if str(len(pages)) not in page_words[-4:]:
            problems.append(f"page {number} has no 'page {number} of {len(pages)}'")
        listed = [i for i, word in enumerate(page_words) if E164.match(word)]
        if listed and "Seen" not in page_words[: listed[0]]:
            problems.append(f"page {number}: a list of numbers goes on without its header row")
    expected: Counter[str] = Counter()
    for rows in statement.doc["where_it_goes"]["by"].values():
        for row in rows:
            if row["monthly_fee_total"] is not None:
                expected[printed(row["monthly_fee_total"])] += 1
    changed = statement.doc["what_changed"]
    for name in ("added", "released", "suspended"):
        expected.update(change["e164"] for change in changed[name]["listed"])
    for row in statement.doc["currencies"]:
        expected[printed(row["accrued"])] += 1
    missing = [word for word, count in expected.items() if words[word] < count]
    problems += [f"{word!r} is not in the printed text" for word in missing]
    if len(pages) < 6:
        problems.append(f"only {len(pages)} pages: every section starts a page")
    return problems


def printed(value: str) -> str:
    amount = rounded(Decimal(value), 2)
    return f"{MINUS}{-amount:,.2f}" if amount < 0 else f"{amount:,.2f}"
