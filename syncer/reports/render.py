"""Writing a report out: `table` (rich), `csv` or `json`, to stdout or `--output FILE`.

Every report object offers the same three views, so this module knows nothing of costs or
accruals:

- `tables()`: one or more `TableView`s (columns with a kind, rows, totals rows, notes);
  money columns are right-aligned with two decimals (see `syncer.reports.money`);
- `csv_rows()`: a header and one row per group, money as decimal strings, no totals row;
- `to_json()`: the shapes PRODUCT.md documents, money as decimal strings.

rich is imported only for tables.
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


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = "text"


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


def render_text(report: Report, fmt: str) -> str:
    """The report as `fmt`, as a string (for the demo and tests)."""
    buffer = io.StringIO()
    _render(report, fmt, buffer, terminal=False)
    return buffer.getvalue()


def _render(report: Report, fmt: str, out: IO[str], *, terminal: bool) -> None:
    if fmt == "json":
        out.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        header, rows = report.csv_rows()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([_csv_cell(value) for value in row] for row in rows)
    else:
        print_tables(report.tables(), out, terminal=terminal)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def print_tables(tables: Sequence[TableView], out: IO[str], *, terminal: bool) -> None:
    """Tables with rich: colour on a terminal; plain, unwrapped and without trailing blanks
    elsewhere (files, pipes, cron mail)."""
    from rich.console import Console

    if terminal:
        console = Console(file=out)
        for position, view in enumerate(tables):
            if position:
                console.print()
            _print_table(console, view, terminal=True)
        return
    buffer = io.StringIO()
    console = Console(file=buffer, width=250, color_system=None, force_terminal=False)
    for position, view in enumerate(tables):
        if position:
            console.print()
        _print_table(console, view, terminal=False)
    out.write("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n")


def _print_table(console: Any, view: TableView, *, terminal: bool) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console.print(Text(view.title, style="bold" if terminal else ""))
    if not view.rows:
        console.print(Text(f"  {view.empty}"))
    else:
        table = Table(box=box.SIMPLE_HEAD, header_style="bold" if terminal else "")
        for column in view.columns:
            table.add_column(
                column.header,
                justify="left" if column.kind == "text" else "right",
                no_wrap=column.kind != "text",
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
    for note in view.notes:
        console.print(Text(note))


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
