"""The statement as one self-contained HTML file: to mail, archive, open anywhere and print.

Self-contained means: the style sheet is inline, the charts are inline SVG, and there is no
script and no reference to anything outside the file (no font, image, link or style sheet
to fetch), so it looks the same from a mail attachment, a file share or an archive in ten
years. It prints on A4: each section after the first starts a new page, a running header
and page numbers repeat on every page (CSS page margin boxes), table headers repeat on the
pages a table continues on, and rows never split or get cut off at the page's edge.

Amounts follow `syncer.reports.money`: two decimals, half away from zero, tabular figures,
right-aligned. A difference carries its sign (+ or a real minus sign) so it reads without
colour. The rows of an attribution table are `footed` so that they add up, as printed, to
the difference. The figures are the `StatementReport`'s; see `syncer.reports.statement`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction
from html import escape
from typing import Any

from syncer.reports.attribution import PARTS
from syncer.reports.coverage import BEFORE_FIRST_SYNC, SYNC_GAP, AccountCoverage, Gap
from syncer.reports.money import footed, rounded
from syncer.reports.periods import local_text, zone_name
from syncer.reports.statement import (
    BREAKDOWN_KEYS,
    LISTED,
    CurrencyFigures,
    Listed,
    StatementReport,
)
from syncer.reports.statement_chart import attribution_svg, charts_available, signed
from syncer.reports.statement_style import STYLE, page_rules
from syncer.status import format_age

PART_LABELS = {
    "numbers_added": ("Numbers added", "new to the mirror, or back after a release"),
    "numbers_released": ("Numbers released", "gone from a complete listing"),
    "price_changes": ("Fee changes", "a number's monthly fee went up or down"),
    "status_changes": ("Status changes", "into or out of a billable status"),
    "setup_fees": ("Setup fees", "this month's minus last month's"),
    "not_yet_accrued": ("Not yet accrued", "the rest of the month, still to come"),
}
KEY_LABELS = {
    "provider": "provider",
    "account": "account",
    "country": "country",
    "type": "number type",
    "status": "status",
}
NO_CHARTS = (
    "Charts are left out: matplotlib is not installed (pip install 'syncer[charts]'). "
    "The tables hold every figure."
)


def render_html(report: StatementReport, *, charts: bool | None = None) -> str:
    """The statement as HTML; `charts` None draws them when matplotlib is installed."""
    draw = charts_available() if charts is None else charts
    month = _month_name(report.month.year, report.month.month)
    body = [
        _masthead(report, month),
        *_banners(report, month),
        _bottom_line(report, month),
        _why(report, draw),
        _where(report, month),
        _what_changed(report, month),
        _vouch(report, month),
        _rests_on(report),
    ]
    title = f"Phone-number statement, {month}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="syncer {_e(report.version)}">\n'
        f"<title>{_e(title)}</title>\n"
        f"<style>\n{STYLE}{page_rules(title, _generated(report))}</style>\n"
        f'</head>\n<body>\n<main class="sheet">\n{"".join(body)}</main>\n</body>\n</html>\n'
    )


# -- the parts of the page ------------------------------------------------------------------


def _masthead(report: StatementReport, month: str) -> str:
    zone = zone_name(report.request.zone)
    last_day = _day(report.period.end, report, inclusive_end=True)
    return (
        '<header class="masthead">\n'
        '<p class="kicker">Rented phone numbers · monthly statement</p>\n'
        f"<h1>{_e(month)}</h1>\n"
        f'<p class="meta">{_e(_day(report.period.start, report))} to {_e(last_day)} ({_e(zone)})'
        f" · generated {_e(_generated(report))}</p>\n</header>\n"
    )


def _banners(report: StatementReport, month: str) -> list[str]:
    banners = []
    if not report.complete:
        until = _time(report.accrued_until, report)
        banners.append(
            f'<div class="banner" data-banner="open"><strong>{_e(month)} is not over.</strong> '
            f"The figures run up to {_e(until)}: the rest of the month is not in them, and the "
            "run-rate is the one in force then.</div>\n"
        )
    coverage = report.coverage
    if not coverage.complete:
        accounts = [a.account for a in coverage.accounts if a.uncovered_days]
        banners.append(
            '<div class="banner" data-banner="coverage"><strong>Not fully covered.</strong> '
            f"On {len(coverage.uncovered_days)} of {coverage.days_in_month} days of {_e(month)} "
            f"the mirror did not see {_e(_join(accounts))} as often as "
            f"{'its schedule asks' if len(accounts) == 1 else 'their schedules ask'}. "
            "Changes in that time are dated when they were seen, so these figures may be late or "
            'incomplete for those days: see <a href="#vouch">5. What it cannot vouch for</a>.'
            "</div>\n"
        )
    if report.unpriced_in_month:
        banners.append(
            '<div class="banner" data-banner="unpriced"><strong>Not all priced.</strong> '
            f"{report.unpriced_in_month} numbers held in {_e(month)} have no known fee; they are "
            'in no amount below (see <a href="#vouch">section 5</a>).</div>\n'
        )
    return banners


def _bottom_line(report: StatementReport, month: str) -> str:
    previous = _month_name(report.previous_month.year, report.previous_month.month)
    end = _time(report.run_rate_as_of, report)
    cards = [_card(report, figures, month, previous) for figures in report.currencies]
    notes = [
        f'<p class="note">Accrued: each number\'s monthly fee for the time it was held in a '
        f"billable status ({_e(', '.join(report_billable()))}), pro rata to the microsecond, "
        "plus the setup fees of the numbers bought in the month. Run-rate: the monthly fees of "
        f"every number held at {_e(end)}, whatever its status; of them, the billable ones are "
        "what the next month accrues if nothing changes. Currencies are never added together."
        "</p>\n"
    ]
    for figures in report.currencies:
        shown = rounded(figures.previous, 2) + rounded(figures.difference, 2)
        if shown != rounded(figures.accrued, 2):
            notes.append(
                f'<p class="note">{_e(figures.currency)}: every amount is rounded to the cent on '
                f"its own, so {_plain(figures.previous)} and "
                f"{signed(rounded(figures.difference, 2))} make {_plain(shown)}, a cent from "
                f"{_plain(figures.accrued)}; the unrounded "
                "amounts (in the JSON) agree exactly.</p>\n"
            )
    if not cards:
        cards = ['<p class="empty">Nothing was priced in this month or the one before.</p>\n']
    return _section(
        "bottom-line", "1. The bottom line", ['<div class="cards">\n', *cards, "</div>\n", *notes]
    )


def _card(report: StatementReport, figures: CurrencyFigures, month: str, previous: str) -> str:
    currency = figures.currency
    change = ""
    if figures.previous:
        change = f' <span class="pct">({_percent(figures.difference, figures.previous)})</span>'
    rows = [
        (f"{previous}", _num(figures.previous, "previous", currency), ""),
        ("Difference", _num(figures.difference, "difference", currency, sign=True), change),
        ("Setup fees included", _num(figures.setup_fees, "setup_fees", currency), ""),
        ("Numbers billed", _count(figures.numbers), ""),
        ("Run-rate at month end", _num(figures.run_rate, "run_rate", currency), " / month"),
        ("of which billable", _num(figures.billable_run_rate, "billable_run_rate", currency), ""),
        ("Numbers held at month end", _count(figures.numbers_at_end), ""),
    ]
    lines = "".join(
        f'<tr><th scope="row">{_e(label)}</th>{cell}<td class="unit">{extra}</td></tr>\n'
        for label, cell, extra in rows
    )
    return (
        f'<article class="card" data-currency="{_e(currency)}">\n'
        f'<p class="card-label">Accrued in {_e(month)}</p>\n'
        f'<p class="card-main"><span class="cur">{_e(currency)}</span> '
        f'<span data-figure="accrued" data-currency="{_e(currency)}">'
        f"{_plain(figures.accrued)}</span></p>\n"
        f'<table class="figures">\n<tbody>\n{lines}</tbody>\n</table>\n</article>\n'
    )


def _why(report: StatementReport, charts: bool) -> str:
    parts = [p for p in PARTS if report.complete is False or p != "not_yet_accrued"]
    blocks = []
    for index, figures in enumerate(report.currencies):
        amounts = footed([figures.parts[p] for p in parts], figures.difference)
        chart = ""
        if charts:
            shown = [(p, a) for p, a in zip(parts, amounts, strict=True) if figures.parts[p]]
            svg = attribution_svg(
                [PART_LABELS[p][0] for p, _ in shown],
                [a for _, a in shown],
                rounded(figures.difference, 2),
                figures.currency,
                f"chart{index}",
            )
            chart = f'<figure class="chart">{svg}</figure>\n'
        rows = "".join(
            f'<tr><th scope="row">{_e(PART_LABELS[p][0])}<small>{_e(PART_LABELS[p][1])}</small>'
            f"</th>{_num(a, f'part:{p}', figures.currency, sign=True)}</tr>\n"
            for p, a in zip(parts, amounts, strict=True)
        )
        total = _num(figures.difference, "part-total", figures.currency, sign=True)
        table = (
            f'<table class="attribution">\n<thead><tr><th scope="col">Why it changed</th>'
            f'<th scope="col" class="num">{_e(figures.currency)}</th></tr></thead>\n'
            f'<tbody>\n{rows}<tr class="total"><th scope="row">Difference</th>{total}</tr>\n'
            "</tbody>\n</table>\n"
        )
        blocks.append(
            f'<div class="bridge{" with-chart" if chart else ""}">\n{chart}{table}</div>\n'
        )
    note = (
        '<p class="note">Each change is valued for the part of the month it was in force; '
        "a change late in the month before adds its remainder here. Rows are rounded to the "
        "cent so that they add up to the difference as printed (no row moves by more than a "
        "cent); the JSON has them unrounded.</p>\n"
    )
    if not charts:
        note += f'<p class="note" data-note="no-charts">{_e(NO_CHARTS)}</p>\n'
    if not blocks:
        blocks = ['<p class="empty">No priced change to explain.</p>\n']
    return _section("why", "2. Why it changed", [*blocks, note], new_page=True)


def _where(report: StatementReport, month: str) -> str:
    as_of = _time(report.run_rate_as_of, report)
    accrued = {
        (provider, figures.currency): amount
        for figures in report.currencies
        for provider, amount in figures.accrued_by_provider.items()
    }
    parts = [
        f'<p class="lead">The run-rate at {_e(as_of)}: monthly fees of the numbers held, with how '
        f"many; by provider also what each accrued in {_e(month)}.</p>\n"
    ]
    for key in BREAKDOWN_KEYS:
        costs = report.breakdown[key]
        extra = key == "provider"
        headers = [KEY_LABELS[key].capitalize(), "Currency", "Numbers", "Unpriced", "Monthly fees"]
        if extra:
            headers.append(f"Accrued in {month}")
        body = []
        for row in costs.rows:
            cells = [_text(_key_text(key, row.keys[0])), _text(row.currency or "none")]
            cells += [
                _count(row.numbers),
                _count(row.unpriced_numbers),
                _num(row.monthly_fee_total),
            ]
            if extra:
                cells.append(_num(accrued.get((str(row.keys[0]), row.currency or ""))))
            body.append(cells)
        totals = []
        for row in costs.totals:
            cells = [_text("Total"), _text(row.currency or "none")]
            cells += [_count(row.numbers), _count(row.unpriced_numbers)]
            cells.append(_num(row.monthly_fee_total, f"fees-total:{key}", row.currency))
            if extra:
                total = sum((a for (_, c), a in accrued.items() if c == row.currency), Fraction(0))
                cells.append(_num(total if row.currency else None))
            totals.append(cells)
        parts.append(f"<h3>By {_e(KEY_LABELS[key])}</h3>\n")
        parts.append(_table(headers, body, totals, empty="No numbers held."))
    return _section("where", "3. Where it goes", parts, new_page=True)


def _what_changed(report: StatementReport, month: str) -> str:
    summary = [
        [
            _text(line.from_status or "(new)"),
            _text(line.to_status),
            _count(line.count, "transition"),
        ]
        for line in report.changes.summary
    ]
    totals = [[_text("Total"), _text(""), _count(report.changes.total)]] if summary else []
    parts = [
        f'<p class="lead">Status changes seen in {_e(month)}, by what a number was and became; '
        '"(new)" is a first sighting.</p>\n',
        _table(["From", "To", "Numbers"], summary, totals, empty="No status changed."),
    ]
    titles = {
        "added": "Numbers added",
        "released": "Numbers released",
        "suspended": "Numbers suspended",
    }
    for name, listed in report.listed().items():
        parts.append(f"<h3>{titles[name]}: {listed.count}</h3>\n")
        parts.append(_changes_table(report, listed))
    return _section("changed", "4. What changed", parts, new_page=True)


def _changes_table(report: StatementReport, listed: Listed) -> str:
    rows = [
        [
            _text(_time(change.changed_at, report)),
            _text(change.account),
            _text(change.e164, "mono"),
            _text(change.from_status or "(new)"),
            _text(change.to_status),
        ]
        for change in listed.changes
    ]
    html = _table(["Seen", "Account", "Number", "From", "To"], rows, [], empty="None.")
    if listed.shortened:
        html += (
            f'<p class="note">The first {LISTED} of {listed.count}, oldest first; '
            f"<code>{_e(_changes_command(report))}</code> lists them all.</p>\n"
        )
    return html


def _vouch(report: StatementReport, month: str) -> str:
    coverage = report.coverage
    unpriced = [row for row in report.breakdown["account"].rows if row.unpriced_numbers]
    parts = ["<h3>Numbers without a known fee</h3>\n"]
    if report.unpriced_in_month or unpriced:
        parts.append(
            f'<p class="lead">{report.unpriced_in_month} numbers held in a billable status in '
            f"{_e(month)} have no known fee (a Ringyo account without a fee schedule in the "
            "config): they are counted, never priced as zero, and are in no amount above. "
            "At the month's end, by account:</p>\n"
        )
        rows = [[_text(str(row.keys[0])), _count(row.unpriced_numbers)] for row in unpriced]
        parts.append(_table(["Account", "Unpriced numbers"], rows, []))
    else:
        parts.append(f'<p class="lead">Every number held in {_e(month)} had a known fee.</p>\n')
    parts.append("<h3>Time the mirror did not cover</h3>\n")
    parts.append(
        '<p class="lead">The mirror knows an account from its successful syncs (a complete '
        "listing). Not covered: the time before an account's first one, and gaps between two "
        "longer than three times its schedule's period (when <code>syncer status</code> "
        "calls it unhealthy); an account with no schedule in the config is held to the "
        "default, every hour. A day counts when any part of it is not covered.</p>\n"
    )
    rows = [_coverage_row(account, report) for account in coverage.accounts]
    parts.append(
        _table(
            ["Account", "Schedule", "Allowed gap", "Days not covered", "Why"],
            rows,
            [],
            empty="No account has been synced yet.",
        )
    )
    parts.append("<h3>Rejected records</h3>\n")
    if coverage.rejected_records:
        parts.append(
            f'<p class="lead">{coverage.rejected_records} records the providers sent in '
            f"{_e(month)} failed validation ({coverage.rejections_total} rejections over all "
            "runs). They are not in the figures; each such number kept its last good state.</p>\n"
        )
        rows = [
            [
                _text(r.account),
                _text(r.external_id or "(none)", "mono"),
                _text(r.reason, "wrap"),
                _count(r.times),
                _text(_time(r.last_at, report)),
            ]
            for r in coverage.rejections
        ]
        parts.append(_table(["Account", "Record", "Reason", "Times", "Last"], rows, []))
        if coverage.rejected_records > len(coverage.rejections):
            parts.append(
                f'<p class="note">The {len(coverage.rejections)} most frequent of '
                f"{coverage.rejected_records}; the table rejected_records holds them all.</p>\n"
            )
    else:
        parts.append(f'<p class="lead">No record was rejected in {_e(month)}.</p>\n')
    return _section("vouch", "5. What it cannot vouch for", parts, new_page=True)


def _coverage_row(account: AccountCoverage, report: StatementReport) -> list[str]:
    schedule = account.schedule + ("" if account.schedule_source == "config" else " (default)")
    days = _day_ranges(account.uncovered_days) or "none"
    why = "; ".join(_gap_text(gap, report) for gap in account.gaps) or "synced within schedule"
    return [
        _text(account.account),
        _text(schedule),
        _text(format_age(account.allowed_gap)),
        _text(days, "days"),
        _text(why, "wrap"),
    ]


def _gap_text(gap: Gap, report: StatementReport) -> str:
    if gap.kind == BEFORE_FIRST_SYNC:
        if gap.next_success is None:
            return "no successful sync yet"
        return f"before its first successful sync, {_time(gap.next_success, report)}"
    assert gap.last_success is not None
    since = _time(gap.last_success, report)
    if gap.kind == SYNC_GAP and gap.next_success is not None:
        length = format_age(gap.next_success - gap.last_success)
        return f"none from {since} to {_time(gap.next_success, report)} ({length})"
    return f"none since {since}"


def _rests_on(report: StatementReport) -> str:
    rows = []
    for account in report.coverage.accounts:
        runs = account.runs
        ids = "" if runs.first_id is None else f"first #{runs.first_id}"
        if runs.last_id != runs.first_id:
            ids += f", last #{runs.last_id}"
        before = ""
        if runs.previous_success_id is not None and runs.previous_success_at is not None:
            before = f"#{runs.previous_success_id}, {_time(runs.previous_success_at, report)}"
        rows.append(
            [
                _text(account.account),
                _count(runs.total),
                _count(runs.complete),
                _count(runs.incomplete),
                _count(runs.failed + runs.running),
                _text(ids),
                _text(before or "none"),
            ]
        )
    headers = [
        "Account",
        "Runs",
        "Complete",
        "Incomplete",
        "Failed",
        "Run ids",
        "Last success before",
    ]
    facts = [
        ("Generated", _generated(report)),
        ("Database", report.database),
        ("Made by", f"syncer {report.version}"),
        ("Time zone", zone_name(report.request.zone)),
        ("Billable statuses", ", ".join(report_billable())),
    ]
    listing = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>\n" for k, v in facts)
    commands = "".join(f"<li><code>{_e(c)}</code></li>\n" for c in _commands(report))
    parts = [
        f'<dl class="facts">\n{listing}</dl>\n',
        "<h3>Sync runs of the month</h3>\n",
        _table(headers, rows, [], empty="No sync runs."),
        '<p class="note">"Incomplete": the run stored what it saw but could not prove its '
        "listing complete, so it released nothing.</p>\n",
        "<h3>The same figures from the command line</h3>\n",
        f'<ul class="commands">\n{commands}</ul>\n',
    ]
    return _section("sources", "6. What it rests on", parts, new_page=True)


# -- building blocks --------------------------------------------------------------------------


def _section(anchor: str, title: str, parts: Iterable[str], *, new_page: bool = False) -> str:
    page = ' class="new-page"' if new_page else ""
    return f'<section id="{anchor}"{page}>\n<h2>{_e(title)}</h2>\n{"".join(parts)}</section>\n'


def _table(
    headers: Sequence[str], rows: list[list[str]], totals: list[list[str]], *, empty: str = ""
) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>\n'
    numeric = [cell.startswith('<td class="num') for cell in rows[0]]
    head = "".join(
        f'<th scope="col" class="num">{_e(h)}</th>' if is_num else f'<th scope="col">{_e(h)}</th>'
        for h, is_num in zip(headers, numeric, strict=True)
    )
    body = "".join(f"<tr>{''.join(cells)}</tr>\n" for cells in rows)
    body += "".join(f'<tr class="total">{"".join(cells)}</tr>\n' for cells in totals)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def _text(value: str, kind: str = "") -> str:
    return f'<td class="{kind}">{_e(value)}</td>' if kind else f"<td>{_e(value)}</td>"


def _count(value: int, figure: str = "") -> str:
    data = f' data-figure="{figure}"' if figure else ""
    return f'<td class="num"{data}>{value:,}</td>'


def _num(
    amount: Fraction | Decimal | None,
    figure: str = "",
    currency: str | None = None,
    *,
    sign: bool = False,
) -> str:
    data = f' data-figure="{_e(figure)}"' if figure else ""
    if currency and figure:
        data += f' data-currency="{_e(currency)}"'
    if amount is None:
        return f'<td class="num"{data}>—</td>'
    text = signed(rounded(amount, 2)) if sign else _plain(amount)
    return f'<td class="num"{data}>{text}</td>'


def _plain(amount: Fraction | Decimal) -> str:
    """`1,234.50`; a negative amount with a real minus sign."""
    value = rounded(amount, 2)
    return f"\N{MINUS SIGN}{-value:,.2f}" if value < 0 else f"{value:,.2f}"


def _percent(change: Fraction, base: Fraction) -> str:
    return signed(rounded(change / base * 100, 1)).removesuffix("0").removesuffix(".") + "%"


def _key_text(key: str, value: str | None) -> str:
    if value is None:
        return "not given" if key == "type" else "none"
    if key == "status" and value in report_billable():
        return f"{value} (billable)"
    return value


def report_billable() -> tuple[str, ...]:
    from syncer.reports.accrual import DEFAULT_BILLABLE

    return DEFAULT_BILLABLE


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _month_name(year: int, month: int) -> str:
    return date(year, month, 1).strftime("%B %Y")


def _time(at: datetime, report: StatementReport) -> str:
    return f"{local_text(at, report.request.zone)[:16]} {zone_name(report.request.zone)}"


def _generated(report: StatementReport) -> str:
    return _time(report.generated_at, report)


def _day(at: datetime, report: StatementReport, *, inclusive_end: bool = False) -> str:
    from datetime import timedelta

    local = at.astimezone(report.request.zone)
    if inclusive_end:
        local -= timedelta(microseconds=1)
    return f"{local.day} {local:%B %Y}"


def _day_ranges(days: Sequence[str]) -> str:
    """ISO dates as `1–10, 12, 14–31 Oct` (consecutive days joined)."""
    if not days:
        return ""
    parsed = [date.fromisoformat(day) for day in days]
    ranges: list[list[date]] = []
    for day in parsed:
        if ranges and (day - ranges[-1][-1]).days == 1:
            ranges[-1].append(day)
        else:
            ranges.append([day])
    text = ", ".join(
        f"{r[0].day}" if len(r) == 1 else f"{r[0].day}\N{EN DASH}{r[-1].day}" for r in ranges
    )
    return f"{text} {parsed[-1]:%b}"


def _changes_command(report: StatementReport) -> str:
    start = report.period.start.astimezone(report.request.zone)
    return (
        f"syncer report changes --since {start:%Y-%m-%d} --until {_last_day(report)}"
        f"{_zone_option(report)}"
    )


def _commands(report: StatementReport) -> list[str]:
    zone = _zone_option(report)
    end = report.accrued_until.astimezone(report.request.zone)
    as_of = f"{end:%Y-%m-%d}" if report.complete else f"{end:%Y-%m-%dT%H:%M:%S}"
    return [
        f"syncer report accrual --from {report.previous_month} --to {report.month}{zone}",
        f"syncer report costs --as-of {as_of} --by provider{zone}",
        _changes_command(report),
    ]


def _last_day(report: StatementReport) -> str:
    from datetime import timedelta

    end = report.period.end.astimezone(report.request.zone) - timedelta(microseconds=1)
    return f"{end:%Y-%m-%d}"


def _zone_option(report: StatementReport) -> str:
    name = zone_name(report.request.zone)
    return "" if name == "UTC" else f" --timezone {name}"
