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
the difference. The figures are the `StatementReport`'s (see `syncer.reports.statement`).

Here: the page, its top (banners for what the reader must know first) and sections 1 to 4;
sections 5 and 6 are `statement_trust`'s, the cells `statement_cells`', the chart
`statement_chart`'s and the style sheet `statement_style`'s.
"""

from __future__ import annotations

from fractions import Fraction

from syncer.reports.accrual import DEFAULT_BILLABLE
from syncer.reports.attribution import PARTS
from syncer.reports.money import footed, page_money, rounded, signed_money
from syncer.reports.periods import zone_name
from syncer.reports.statement import (
    BREAKDOWN_KEYS,
    LISTED,
    CurrencyFigures,
    Listed,
    StatementReport,
)
from syncer.reports.statement_cells import (
    count_cell,
    day_of,
    esc,
    join_names,
    money_cell,
    month_name,
    percent,
    same_cents,
    section,
    table,
    text_cell,
    when,
)
from syncer.reports.statement_chart import attribution_svg, charts_available
from syncer.reports.statement_style import STYLE, page_rules
from syncer.reports.statement_trust import cannot_vouch_for, rests_on

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
    month = month_name(report.month.year, report.month.month)
    zone = report.request.zone
    body = [
        _masthead(report, month),
        *_banners(report, month),
        _bottom_line(report, month),
        _why(report, draw),
        _where(report, month),
        _what_changed(report, month),
        cannot_vouch_for(report, month),
        rests_on(report),
    ]
    title = f"Phone-number statement, {month}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="syncer {esc(report.version)}">\n'
        f"<title>{esc(title)}</title>\n"
        f"<style>\n{STYLE}{page_rules(title, when(report.generated_at, zone))}</style>\n"
        f'</head>\n<body>\n<main class="sheet">\n{"".join(body)}</main>\n</body>\n</html>\n'
    )


# -- the parts of the page ------------------------------------------------------------------


def _masthead(report: StatementReport, month: str) -> str:
    zone = report.request.zone
    first, last = day_of(report.period.start, zone), day_of(report.period.end, zone, end=True)
    return (
        '<header class="masthead">\n'
        '<p class="kicker">Rented phone numbers · monthly statement</p>\n'
        f"<h1>{esc(month)}</h1>\n"
        f'<p class="meta">{esc(first)} to {esc(last)} ({esc(zone_name(zone))})'
        f" · generated {esc(when(report.generated_at, zone))}</p>\n</header>\n"
    )


def _banners(report: StatementReport, month: str) -> list[str]:
    banners = []
    if not report.complete:
        until = when(report.accrued_until, report.request.zone)
        banners.append(
            f'<div class="banner" data-banner="open"><strong>{esc(month)} is not over.</strong> '
            f"The figures run up to {esc(until)}: the rest of the month is not in them, and the "
            "run-rate is the one in force then.</div>\n"
        )
    coverage = report.coverage
    if not coverage.complete:
        accounts = [a.account for a in coverage.accounts if a.uncovered_days]
        banners.append(
            '<div class="banner" data-banner="coverage"><strong>Not fully covered.</strong> '
            f"On {len(coverage.uncovered_days)} of {coverage.days_in_month} days of {esc(month)}, "
            f"{esc(join_names(accounts))} went without a successful sync for longer than "
            f"{'its schedule allows' if len(accounts) == 1 else 'their schedules allow'}. "
            "Changes in that time are dated when they were seen, so these figures may be late or "
            'incomplete for those days: see <a href="#vouch">5. What it cannot vouch for</a>.'
            "</div>\n"
        )
    if report.unpriced_in_month:
        banners.append(
            '<div class="banner" data-banner="unpriced"><strong>Not all priced.</strong> '
            f"{report.unpriced_in_month} numbers held in {esc(month)} have no known fee; they are "
            'in no amount below (see <a href="#vouch">section 5</a>).</div>\n'
        )
    return banners


def _bottom_line(report: StatementReport, month: str) -> str:
    previous = month_name(report.previous_month.year, report.previous_month.month)
    end = when(report.run_rate_as_of, report.request.zone)
    cards = [_card(report, figures, month, previous) for figures in report.currencies]
    notes = [
        f'<p class="note">Accrued: each number\'s monthly fee for the time it was held in a '
        f"billable status ({esc(', '.join(DEFAULT_BILLABLE))}), pro rata to the microsecond, "
        "plus the setup fees of the numbers bought in the month. Run-rate: the monthly fees of "
        f"every number held at {esc(end)}, whatever its status; of them, the billable ones are "
        "what the next month accrues if nothing changes. Currencies are never added together."
        "</p>\n"
    ]
    for figures in report.currencies:
        if not same_cents(figures.accrued, figures.previous, figures.difference):
            shown = rounded(figures.previous, 2) + rounded(figures.difference, 2)
            notes.append(
                f'<p class="note">{esc(figures.currency)}: every amount is rounded to the cent on '
                f"its own, so {page_money(figures.previous)} and "
                f"{signed_money(figures.difference)} make {page_money(shown)}, a cent from "
                f"{page_money(figures.accrued)}; the unrounded amounts (in the JSON) agree "
                "exactly.</p>\n"
            )
    if not cards:
        cards = ['<p class="empty">Nothing was priced in this month or the one before.</p>\n']
    return section(
        "bottom-line", "1. The bottom line", ['<div class="cards">\n', *cards, "</div>\n", *notes]
    )


def _card(report: StatementReport, figures: CurrencyFigures, month: str, previous: str) -> str:
    currency = figures.currency
    change = ""
    if figures.previous:
        change = f' <span class="pct">({percent(figures.difference, figures.previous)})</span>'
    rows = [
        (f"{previous}", money_cell(figures.previous, "previous", currency), ""),
        ("Difference", money_cell(figures.difference, "difference", currency, sign=True), change),
        ("Setup fees included", money_cell(figures.setup_fees, "setup_fees", currency), ""),
        ("Billable numbers", count_cell(figures.numbers), ""),
        ("Run-rate at month end", money_cell(figures.run_rate, "run_rate", currency), " / month"),
        (
            "of which billable",
            money_cell(figures.billable_run_rate, "billable_run_rate", currency),
            "",
        ),
        ("Numbers held at month end", count_cell(figures.numbers_at_end), ""),
    ]
    lines = "".join(
        f'<tr><th scope="row">{esc(label)}</th>{cell}<td class="unit">{extra}</td></tr>\n'
        for label, cell, extra in rows
    )
    return (
        f'<article class="card" data-currency="{esc(currency)}">\n'
        f'<p class="card-label">Accrued in {esc(month)}</p>\n'
        f'<p class="card-main"><span class="cur">{esc(currency)}</span> '
        f'<span data-figure="accrued" data-currency="{esc(currency)}">'
        f"{page_money(figures.accrued)}</span></p>\n"
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
            f'<tr><th scope="row">{esc(PART_LABELS[p][0])}<small>{esc(PART_LABELS[p][1])}</small>'
            f"</th>{money_cell(a, f'part:{p}', figures.currency, sign=True)}</tr>\n"
            for p, a in zip(parts, amounts, strict=True)
        )
        total = money_cell(figures.difference, "part-total", figures.currency, sign=True)
        attribution = (
            f'<table class="attribution">\n<thead><tr><th scope="col">Why it changed</th>'
            f'<th scope="col" class="num">{esc(figures.currency)}</th></tr></thead>\n'
            f'<tbody>\n{rows}<tr class="total"><th scope="row">Difference</th>{total}</tr>\n'
            "</tbody>\n</table>\n"
        )
        blocks.append(
            f'<div class="bridge{" with-chart" if chart else ""}">\n{chart}{attribution}</div>\n'
        )
    note = (
        '<p class="note">Each change is valued for the part of the month it was in force; '
        "a change late in the month before adds its remainder here. Rows are rounded to the "
        "cent so that they add up to the difference as printed (no row moves by more than a "
        "cent); the JSON has them unrounded.</p>\n"
    )
    if not charts:
        note += f'<p class="note" data-note="no-charts">{esc(NO_CHARTS)}</p>\n'
    if not blocks:
        blocks = ['<p class="empty">No priced change to explain.</p>\n']
    return section("why", "2. Why it changed", [*blocks, note], new_page=True)


def _where(report: StatementReport, month: str) -> str:
    as_of = when(report.run_rate_as_of, report.request.zone)
    accrued = {
        (provider, figures.currency): amount
        for figures in report.currencies
        for provider, amount in figures.accrued_by_provider.items()
    }
    parts = [
        f'<p class="lead">The run-rate at {esc(as_of)}: monthly fees of the numbers held, with how '
        f"many; by provider also what each accrued in {esc(month)}.</p>\n"
    ]
    for key in BREAKDOWN_KEYS:
        costs = report.breakdown[key]
        extra = key == "provider"
        headers = [KEY_LABELS[key].capitalize(), "Currency", "Numbers", "Unpriced", "Monthly fees"]
        if extra:
            headers.append(f"Accrued in {month}")
        body = []
        for row in costs.rows:
            cells = [text_cell(_key_text(key, row.keys[0])), text_cell(row.currency or "no fee")]
            cells += [
                count_cell(row.numbers),
                count_cell(row.unpriced_numbers),
                money_cell(row.monthly_fee_total),
            ]
            if extra:
                cells.append(money_cell(accrued.get((str(row.keys[0]), row.currency or ""))))
            body.append(cells)
        totals = []
        for row in costs.totals:
            cells = [text_cell("Total"), text_cell(row.currency or "no fee")]
            cells += [count_cell(row.numbers), count_cell(row.unpriced_numbers)]
            cells.append(money_cell(row.monthly_fee_total, f"fees-total:{key}", row.currency))
            if extra:
                total = sum((a for (_, c), a in accrued.items() if c == row.currency), Fraction(0))
                cells.append(money_cell(total if row.currency else None))
            totals.append(cells)
        parts.append(f"<h3>By {esc(KEY_LABELS[key])}</h3>\n")
        parts.append(table(headers, body, totals, empty="No numbers held."))
    return section("where", "3. Where it goes", parts, new_page=True)


def _what_changed(report: StatementReport, month: str) -> str:
    summary = [
        [
            text_cell(line.from_status or "(new)"),
            text_cell(line.to_status),
            count_cell(line.count, "transition"),
        ]
        for line in report.changes.summary
    ]
    totals = (
        [[text_cell("Total"), text_cell(""), count_cell(report.changes.total)]] if summary else []
    )
    parts = [
        f'<p class="lead">Status changes seen in {esc(month)}, by what a number was and became; '
        '"(new)" is a first sighting.</p>\n',
        table(["From", "To", "Numbers"], summary, totals, empty="No status changed."),
    ]
    titles = {
        "added": "Numbers added",
        "released": "Numbers released",
        "suspended": "Numbers suspended",
    }
    for name, listed in report.listed().items():
        parts.append(f"<h3>{titles[name]}: {listed.count}</h3>\n")
        parts.append(_changestable(report, listed))
    return section("changed", "4. What changed", parts, new_page=True)


def _changestable(report: StatementReport, listed: Listed) -> str:
    rows = [
        [
            text_cell(when(change.changed_at, report.request.zone)),
            text_cell(change.account),
            text_cell(change.e164, "mono"),
            text_cell(change.from_status or "(new)"),
            text_cell(change.to_status),
        ]
        for change in listed.changes
    ]
    html = table(["Seen", "Account", "Number", "From", "To"], rows, [], empty="None.")
    if listed.shortened:
        html += (
            f'<p class="note">The first {LISTED} of {listed.count}, oldest first; '
            f"<code>{esc(report.commands()['changes'])}</code> lists them all.</p>\n"
        )
    return html


def _key_text(key: str, value: str | None) -> str:
    if value is None:
        return "not given" if key == "type" else "none"
    if key == "status" and value in DEFAULT_BILLABLE:
        return f"{value} (billable)"
    return value
