"""Run a command in a real pseudo-terminal of a given width and read what it drew.

The child gets the pty as stdin, stdout and stderr, the window size set on it (so
`os.get_terminal_size` answers as a real terminal would) and `COLUMNS`/`TERM` to match.
ANSI escape sequences are stripped from what is returned.
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
) -> tuple[int, str]:
    """Run `argv` at `columns` columns; returns its exit code and its screen output as text
    (carriage returns and escape sequences removed)."""
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
        start_new_session=True,
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
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise TimeoutError(f"{argv} did not finish within {timeout}s")
        code = process.wait(timeout=10)
    finally:
        os.close(master)
    return code, screen_text(b"".join(chunks).decode("utf-8", "replace"))


def screen_text(raw: str) -> str:
    return ANSI.sub("", raw).replace("\r\n", "\n").replace("\r", "\n")


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
