"""What `syncer sync` shows on a terminal: a live bar per account, then one line per account.

While the bars are drawn, log records (retry warnings, ...) are printed through the same
rich console, above the bars, in the same format as off a terminal, so they are neither
cut nor drawn over, and the bars are not repeated in the scrollback. rich is imported only
when there is a terminal to draw on; elsewhere (cron, CI) the summary is one plain line per
account.
"""

from __future__ import annotations

import contextlib
import logging
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
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=Console(file=stream or sys.stderr),
            transient=False,
            expand=True,
        )
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()
        for name in accounts:
            self._tasks[name] = self._progress.add_task(name, total=None, note="waiting")

    def __enter__(self) -> TerminalProgress:
        self._echo = _QuietKeyboard()
        self._progress.start()
        self._logs = LogsAboveLive(self._progress.console, self._progress.live)
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self._progress.stop()
        finally:
            self._logs.restore()
            self._echo.restore()

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
        """A complete listing fills its bar; any other end leaves it where the run stopped."""
        if result.ok:
            note = "done"
        elif result.error and "interrupted" in result.error:
            note = "interrupted"
        else:
            note = result.status if result.complete else "incomplete"
        with self._lock:
            task = self._tasks[result.account]
            total = self._progress.tasks[task].total
            done = result.counts.seen
            if total is None:  # the provider never said how many (the first page failed)
                total = max(done, 1)
            if result.ok:
                done = total
            self._progress.update(task, completed=done, total=total, note=note)


class _QuietKeyboard:
    """Keeps the terminal from echoing keys (`^C` above all) into the live display, which
    would push its lines down and leave a stale copy of the bars in the scrollback."""

    def __init__(self) -> None:
        self.saved: list[Any] | None = None
        try:
            import termios

            if sys.stdin.isatty():
                fd = sys.stdin.fileno()
                self.saved = termios.tcgetattr(fd)
                quiet = termios.tcgetattr(fd)
                quiet[3] &= ~(termios.ECHO | termios.ECHOCTL)
                termios.tcsetattr(fd, termios.TCSANOW, quiet)
        except (ImportError, OSError, ValueError, AttributeError):
            self.saved = None  # not a POSIX terminal: nothing to quieten

    def restore(self) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, self.saved)
            self.saved = None


class LogsAboveLive:
    """Routes the root logger's stream handlers through `console` until `restore()`.

    Each record keeps its handler's formatter (the text or JSON line of `syncer.logs`) and
    level; it is printed with `console.print`, which rich draws above a live display. Text
    lines wrap at word boundaries to the terminal's width; JSON lines are never broken.
    """

    def __init__(self, console: Any, live: Any) -> None:
        self.root = logging.getLogger()
        self.replaced: list[tuple[logging.Handler, logging.Handler]] = []
        for handler in list(self.root.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                handler, logging.FileHandler
            ):
                routed = _ConsoleHandler(console, live)
                routed.setLevel(handler.level)
                routed.setFormatter(handler.formatter)
                for log_filter in handler.filters:
                    routed.addFilter(log_filter)
                self.root.removeHandler(handler)
                self.root.addHandler(routed)
                self.replaced.append((handler, routed))

    def restore(self) -> None:
        for original, routed in self.replaced:
            self.root.removeHandler(routed)
            self.root.addHandler(original)
        self.replaced = []


class _ConsoleHandler(logging.Handler):
    def __init__(self, console: Any, live: Any) -> None:
        super().__init__()
        self.console = console
        # rich's live display redraws from a thread of its own; a record printed from an
        # account's thread at the same moment could be written between a redraw's cursor
        # moves and leave a stale bar behind, so printing takes the display's own lock.
        self.live_lock = getattr(live, "_lock", None) or contextlib.nullcontext()

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            line = self.format(record)
            style = "red" if record.levelno >= logging.ERROR else ""
            if not style and record.levelno >= logging.WARNING:
                style = "yellow"
            with self.live_lock:
                self.console.print(
                    Text(line, style=style), soft_wrap=line.startswith("{"), overflow="fold"
                )
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)


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
