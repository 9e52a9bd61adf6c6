"""The statement's HTML building blocks, and how it writes amounts, counts and times.

Every piece of text goes through `esc`. Amounts follow `syncer.reports.money` (`page_money`,
`signed_money`); a cell that holds a figure the tests read back from the page carries it in
`data-figure` (and `data-currency`). Times are shown to the minute in the statement's time
zone, named after them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from html import escape
from typing import Any

from syncer.reports.money import page_money, rounded, signed_money
from syncer.reports.periods import MICROSECOND, local_text, zone_name

Amount = Fraction | Decimal


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def section(anchor: str, title: str, parts: Iterable[str], *, new_page: bool = False) -> str:
    """A numbered section; on paper, `new_page` starts it on a page of its own."""
    page = ' class="new-page"' if new_page else ""
    return f'<section id="{anchor}"{page}>\n<h2>{esc(title)}</h2>\n{"".join(parts)}</section>\n'


def table(
    headers: Sequence[str], rows: list[list[str]], totals: list[list[str]], *, empty: str = ""
) -> str:
    """A table of cells (from the functions below); `totals` rows are set apart at its foot
    (in the body, not a `tfoot`, which paper would repeat on every page). No rows: `empty`."""
    if not rows:
        return f'<p class="empty">{esc(empty)}</p>\n'
    numeric = [cell.startswith('<td class="num') for cell in rows[0]]
    head = "".join(
        f'<th scope="col" class="num">{esc(h)}</th>' if is_num else f'<th scope="col">{esc(h)}</th>'
        for h, is_num in zip(headers, numeric, strict=True)
    )
    body = "".join(f"<tr>{''.join(cells)}</tr>\n" for cells in rows)
    body += "".join(f'<tr class="total">{"".join(cells)}</tr>\n' for cells in totals)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n"


def text_cell(value: str, kind: str = "") -> str:
    """A text cell; `kind` is a class: `mono` (a number, an id), `wrap` (long text)."""
    return f'<td class="{kind}">{esc(value)}</td>' if kind else f"<td>{esc(value)}</td>"


def count_cell(value: int, figure: str = "") -> str:
    data = f' data-figure="{esc(figure)}"' if figure else ""
    return f'<td class="num"{data}>{value:,}</td>'


def money_cell(
    amount: Amount | None, figure: str = "", currency: str | None = None, *, sign: bool = False
) -> str:
    """An amount, right-aligned in tabular figures; `sign` for a difference; None is `—`."""
    data = f' data-figure="{esc(figure)}"' if figure else ""
    if currency and figure:
        data += f' data-currency="{esc(currency)}"'
    if amount is None:
        return f'<td class="num"{data}>—</td>'
    return f'<td class="num"{data}>{signed_money(amount) if sign else page_money(amount)}</td>'


def percent(change: Amount, base: Amount) -> str:
    """`+10.8%`, `−0.7%`: `change` as a share of `base`."""
    return signed_money(Fraction(change) / Fraction(base) * 100, 1) + "%"


def join_names(names: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def month_name(year: int, month: int) -> str:
    return date(year, month, 1).strftime("%B %Y")


def when(at: datetime, zone: tzinfo) -> str:
    """`2026-10-07 09:00 UTC`: to the minute, in `zone`, named."""
    return f"{local_text(at, zone)[:16]} {zone_name(zone)}"


def day_of(at: datetime, zone: tzinfo, *, end: bool = False) -> str:
    """`7 October 2026`; with `end`, the day an exclusive end instant closes."""
    local = (at - MICROSECOND if end else at).astimezone(zone)
    return f"{local.day} {local:%B %Y}"


def day_ranges(days: Sequence[str]) -> str:
    """ISO dates of one month as `1–10, 12, 14–31 Oct` (consecutive days joined)."""
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


def same_cents(amount: Amount, *parts: Amount) -> bool:
    """Whether `parts`, each rounded to the cent, add up to `amount` rounded to the cent."""
    return sum(rounded(part, 2) for part in parts) == rounded(amount, 2)
