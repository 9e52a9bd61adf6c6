"""What `syncer sync` shows on a terminal: a live line per account, then a summary table.

rich is imported only when there is a terminal to draw on; elsewhere (cron, CI) the summary
is one plain line per account.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import IO, Any

from syncer.sync import AccountResult, RunCounts, describe_result


class TerminalProgress:
    """A rich progress bar per account; safe to call from the account threads."""

    def __init__(self, accounts: Sequence[str], stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=Console(file=stream or sys.stderr),
            transient=False,
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        for name in accounts:
            self._tasks[name] = self._progress.add_task(name, total=None, note="waiting")

    def __enter__(self) -> TerminalProgress:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def started(self, account: str) -> None:
        with self._lock:
            self._progress.update(self._tasks[account], note="listing")

    def advanced(self, account: str, counts: RunCounts, expected: int | None) -> None:
        with self._lock:
            self._progress.update(
                self._tasks[account],
                completed=counts.seen,
                total=expected,
                note=f"{counts.pages} pages, {counts.created} new, {counts.updated} changed",
            )

    def finished(self, result: AccountResult) -> None:
        note = "done" if result.ok else (result.status if result.complete else "incomplete")
        with self._lock:
            task = self._tasks[result.account]
            total = self._progress.tasks[task].total
            self._progress.update(
                task,
                completed=total or result.counts.seen,
                total=total or result.counts.seen,
                note=note,
            )


def print_results(results: Sequence[AccountResult], stream: IO[str] | None = None) -> None:
    """One line per account (the log line's format), its outcome coloured on a terminal."""
    out = stream or sys.stdout
    if not out.isatty():
        for result in results:
            print(describe_result(result), file=out)
        return
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=out, highlight=False)
    for result in results:
        style = "green" if result.ok else ("red" if result.status == "failed" else "yellow")
        account, _, rest = describe_result(result).partition(": ")
        status, _, details = rest.partition(" ")
        console.print(f"[bold]{escape(account)}[/]: [{style}]{status}[/] {escape(details)}")
