"""Run a command in a real pseudo-terminal of a given width and read what it drew.

The child gets the pty as stdin, stdout and stderr, the window size set on it (so
`os.get_terminal_size` answers as a real terminal would) and `COLUMNS`/`TERM` to match.
`screen_text` strips escape sequences; `scrollback` plays the output through a terminal
emulator, for what a person would see after scrolling back (live redraws included).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]")


def run_in_pty(
    argv: Sequence[str],
    *,
    columns: int,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 60.0,
    interrupt_when: str | None = None,
) -> tuple[int, str]:
    """Run `argv` at `columns` columns; returns its exit code and everything it wrote to the
    terminal, raw. `interrupt_when`: type Ctrl-C once the output shows this text."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    child_env = {**os.environ, **(env or {}), "COLUMNS": str(columns), "TERM": "xterm-256color"}
    child_env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        list(argv),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=child_env,
        cwd=cwd,
        close_fds=True,
        preexec_fn=_controlling_terminal,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError as exc:  # EIO: the child closed the terminal
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not data:
                    break
                chunks.append(data)
                if interrupt_when and interrupt_when in screen_text(b"".join(chunks).decode()):
                    os.write(master, b"\x03")  # the terminal turns it into SIGINT
                    interrupt_when = None
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise TimeoutError(f"{argv} did not finish within {timeout}s")
        code = process.wait(timeout=10)
    finally:
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def _controlling_terminal() -> None:
    """In the child: a session of its own whose controlling terminal is the pty, so that
    Ctrl-C typed into it is a SIGINT, as in a shell."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def screen_text(raw: str) -> str:
    """The output without escape sequences, carriage returns as line ends."""
    return ANSI.sub("", raw).replace("\r\n", "\n").replace("\r", "\n")


def scrollback(raw: str, columns: int, rows: int = 24) -> list[str]:
    """What a person sees after the command, scrolling back to its start: the output played
    through a terminal emulator (pyte) of `columns` x `rows`, history first, trailing blank
    lines dropped."""
    import pyte

    screen = pyte.HistoryScreen(columns, rows, history=10_000)
    screen.set_mode(pyte.modes.LNM)  # a tty turns \n into \r\n on output (onlcr)
    pyte.Stream(screen).feed(raw)
    history = [
        "".join(line[x].data for x in range(columns)).rstrip() for line in screen.history.top
    ]
    lines = history + [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def python_cli(*calls: Sequence[str]) -> list[str]:
    """A child that runs several `syncer` command lines in one process (one start-up for
    all), printing `=== <exit code>` after each."""
    program = (
        "import sys\n"
        "from syncer.cli import main\n"
        f"for args in {[list(call) for call in calls]!r}:\n"
        "    code = main(args, standalone_mode=False)\n"
        "    sys.stdout.flush()\n"
        "    print(f'=== {code or 0}', flush=True)\n"
    )
    return [sys.executable, "-c", program]
