"""Writing a report out: `table` (rich), `csv` or `json`, to stdout or `--output FILE`.

Every report object offers the same three views, so this module knows nothing of costs or
accruals:

- `tables()`: one or more `TableView`s (columns with a kind, rows, totals rows, notes);
  money columns are right-aligned with two decimals (see `syncer.reports.money`);
- `csv_rows()`: a header and one row per group, money as decimal strings, no totals row;
- `to_json()`: the shapes the docs describe, money as decimal strings.

**Tables never lose a column.** rich, left to itself, fits a table to the terminal by
squeezing, ellipsizing and dropping columns; here the layout is decided first (`layout`), in
this order, and rich only draws it:

1. every cell on one line, when the table fits the width (always, off a terminal: files,
   pipes and cron mail get the whole table, however wide);
2. else the free-text columns (`Column(wrap=True)`: errors, lists) wrap at word boundaries,
   and column headers wrap between their words; identifying values (names, numbers, dates,
   months) and figures are never broken;
3. else, when even that does not fit, each record is folded into a block of
   `header  value` pairs, as many side by side as the width allows.

A word longer than its whole column (a long URL in an error) is the only thing ever broken
mid-word. rich is imported only for tables.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from syncer.errors import UsageError
from syncer.reports.money import table_money

FORMATS = ("table", "csv", "json")
Kind = Literal["text", "count", "money"]
GAP = 2  # spaces between two columns
PAIR_GAP = 4  # spaces between two header-value pairs of a folded record


@dataclass(frozen=True)
class Column:
    """A column: `kind` sets alignment and formatting (money: two decimals, right-aligned);
    `wrap` marks free text (an error, a list) that may wrap at word boundaries. Every other
    value is shown whole on one line."""

    header: str
    kind: Kind = "text"
    wrap: bool = False


@dataclass
class TableView:
    """A table for people: `totals` rows are set apart below the body."""

    title: str
    columns: list[Column]
    rows: list[list[Any]]
    totals: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    empty: str = "(nothing in this period)"


class Report(Protocol):
    def tables(self) -> list[TableView]: ...
    def csv_rows(self) -> tuple[list[str], list[list[Any]]]: ...
    def to_json(self) -> dict[str, Any]: ...


def write(report: Report, fmt: str, output: str | None = None) -> None:
    """Render `report` as `fmt` to `output` (a path) or stdout."""
    if fmt not in FORMATS:
        raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    if output is None:
        _render(report, fmt, sys.stdout, terminal=sys.stdout.isatty())
        return
    path = Path(output)
    try:
        with path.open("w", encoding="utf-8", newline="") as handle:
            _render(report, fmt, handle, terminal=False)
    except OSError as exc:
        raise UsageError(f"--output: cannot write {output!r}: {exc.strerror}") from None


def render_text(report: Report, fmt: str, *, width: int | None = None) -> str:
    """The report as `fmt`, as a string (for the demo and tests): plain text, laid out for
    `width` columns (None: as wide as the tables need)."""
    buffer = io.StringIO()
    _render(report, fmt, buffer, terminal=False, width=width)
    return buffer.getvalue()


def _render(
    report: Report, fmt: str, out: IO[str], *, terminal: bool, width: int | None = None
) -> None:
    if fmt == "json":
        out.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        header, rows = report.csv_rows()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_csv_cell(value) for value in row] for row in rows)
    else:
        print_tables(report.tables(), out, terminal=terminal, width=width)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def print_tables(
    tables: Sequence[TableView], out: IO[str], *, terminal: bool, width: int | None = None
) -> None:
    """Tables with rich. On a terminal: bold headers, laid out for its width (`COLUMNS`, or
    the terminal's size). Elsewhere: plain text, every row on one line unless `width` is
    given, without trailing blanks."""
    from rich.console import Console

    if terminal:
        console = Console(file=out, width=width, highlight=False)
        _print_all(console, tables, console.width, terminal=True)
        return
    buffer = io.StringIO()
    needed = width or max((_plain_width(view) for view in tables), default=80)
    console = Console(
        file=buffer, width=needed, color_system=None, force_terminal=False, highlight=False
    )
    _print_all(console, tables, width, terminal=False)
    out.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")


def _print_all(
    console: Any, tables: Sequence[TableView], width: int | None, *, terminal: bool
) -> None:
    for position, view in enumerate(tables):
        if position:
            console.print()
        _print_table(console, view, width, terminal=terminal)


# -- layout --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How a table is drawn: column widths, or `None` for one block per record."""

    widths: list[int] | None

    @property
    def folded(self) -> bool:
        return self.widths is None


def layout(view: TableView, width: int | None) -> Layout:
    """Column widths for `view` within `width` characters (None: unlimited), or folded."""
    cells = [_cells(view.columns, row) for row in (*view.rows, *view.totals)]
    natural = [
        max([len(column.header), *(len(row[i]) for row in cells)])
        for i, column in enumerate(view.columns)
    ]
    gaps = GAP * (len(view.columns) - 1)
    if width is None or sum(natural) + gaps <= width:
        return Layout(natural)
    least = [
        max(
            [
                _longest_word(column.header),
                *(_longest_word(row[i]) if column.wrap else len(row[i]) for row in cells),
            ]
        )
        for i, column in enumerate(view.columns)
    ]
    room = width - gaps
    if sum(least) > room:
        return Layout(None)
    widths = list(least)
    spare = room - sum(widths)
    while spare > 0:
        # one character at a time to the column furthest from its natural width
        shortfall = [natural[i] - widths[i] for i in range(len(widths))]
        widest = max(range(len(widths)), key=lambda i: shortfall[i])
        if shortfall[widest] <= 0:
            break
        widths[widest] += 1
        spare -= 1
    return Layout(widths)


def _plain_width(view: TableView) -> int:
    widths = layout(view, None).widths or []
    return max(
        80,
        sum(widths) + GAP * max(0, len(widths) - 1),
        len(view.title),
        *(len(note) for note in view.notes),
    )


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


# -- drawing -------------------------------------------------------------------------------


def _print_table(console: Any, view: TableView, width: int | None, *, terminal: bool) -> None:
    from rich.text import Text

    wrap = width is not None
    console.print(Text(view.title, style="bold" if terminal else ""), soft_wrap=not wrap)
    if not view.rows:
        console.print(Text(f"  {view.empty}"), soft_wrap=not wrap)
    else:
        console.print()
        plan = layout(view, width)
        if plan.widths is None:
            _print_folded(console, view, width or console.width, terminal=terminal)
        else:
            _print_columns(console, view, plan.widths, terminal=terminal)
    if view.rows and view.notes:
        console.print()
    for note in view.notes:
        console.print(Text(note), soft_wrap=not wrap)


def _print_columns(console: Any, view: TableView, widths: list[int], *, terminal: bool) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0, 0, GAP - 1),  # with the column divider: GAP spaces between columns
        header_style="bold" if terminal else "",
    )
    for column, column_width in zip(view.columns, widths, strict=True):
        table.add_column(
            column.header,
            justify="left" if column.kind == "text" else "right",
            width=column_width,
            overflow="fold",
        )
    for index, row in enumerate(view.rows):
        table.add_row(
            *(Text(cell) for cell in _cells(view.columns, row)),
            end_section=index == len(view.rows) - 1 and bool(view.totals),
        )
    for row in view.totals:
        table.add_row(
            *(Text(cell) for cell in _cells(view.columns, row)),
            style="bold" if terminal else "",
        )
    console.print(table)


def _print_folded(console: Any, view: TableView, width: int, *, terminal: bool) -> None:
    """One block per record: `header  value` pairs side by side in column order, free text
    on lines of its own, a blank line between records."""

    label = max(len(column.header) for column in view.columns)
    short = [
        len(cell)
        for row in (*view.rows, *view.totals)
        for column, cell in zip(view.columns, _cells(view.columns, row), strict=True)
        if not column.wrap
    ]
    pair = label + GAP + max(short, default=0)
    per_line = max(1, (width + PAIR_GAP) // (pair + PAIR_GAP))
    records = [(row, False) for row in view.rows] + [(row, True) for row in view.totals]
    for position, (row, total) in enumerate(records):
        if position:
            console.print()
        style = "bold" if terminal and total else ""
        pairs: list[str] = []
        for column, cell in zip(view.columns, _cells(view.columns, row), strict=True):
            if column.wrap or label + GAP + len(cell) > width:
                if cell:  # free text on lines of its own, in its place
                    _print_pairs(console, pairs, per_line, pair, style)
                    pairs = []
                    lead = f"{column.header:<{label}}{' ' * GAP}"
                    _print_hanging(console, lead, cell, width, style)
            elif cell or not total:
                pairs.append(f"{column.header:<{label}}{' ' * GAP}{cell}")
        _print_pairs(console, pairs, per_line, pair, style)


def _print_pairs(console: Any, pairs: list[str], per_line: int, pair: int, style: str) -> None:
    """`header  value` pairs, `per_line` to a line, each padded to `pair` characters."""
    from rich.text import Text

    for start in range(0, len(pairs), per_line):
        line = (" " * PAIR_GAP).join(f"{p:<{pair}}" for p in pairs[start : start + per_line])
        console.print(Text(line.rstrip(), style=style), overflow="fold")


def _print_hanging(console: Any, lead: str, text: str, width: int, style: str) -> None:
    """`lead` then `text` wrapped at words to `width`, continuation lines indented under it."""
    from rich.text import Text

    lines = Text(text, style=style).wrap(console, max(10, width - len(lead)), overflow="fold")
    for index, line in enumerate(lines):
        console.print(Text(lead if index == 0 else " " * len(lead)) + line, soft_wrap=True)


def _cells(columns: Sequence[Column], row: Sequence[Any]) -> list[str]:
    cells = []
    for column, value in zip(columns, row, strict=True):
        if column.kind == "money":
            cells.append(table_money(value) if value != "" else "")
        elif value is None:
            cells.append("—")
        else:
            cells.append(str(value))
    return cells
