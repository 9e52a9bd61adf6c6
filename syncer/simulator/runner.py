"""`syncer simulate`: serve a generated world until stopped, and say how to sync it.

It prints the base URL, the accounts, `export` lines for their keys and a ready-to-paste
`syncer.toml`; `--write-config` and `--write-env` also write those two to files, once the
simulator is serving, so a script can use them at once. `--background` serves from a
detached process and returns when it is ready, so the next command of a pasted script
finds it serving. The keys are the simulator's own throwaway keys, printed on purpose:
they open nothing but this process.

It stops on Ctrl-C, SIGTERM, or `POST /_sim/stop`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from syncer.provider_facts import RINGYO
from syncer.simulator.faults import parse_faults, spec_of
from syncer.simulator.model import SimAccount
from syncer.simulator.server import SimulatorServer
from syncer.simulator.world import World

Echo = Callable[[str], None]

# A fee schedule for the Ringyo accounts in the printed config (Ringyo's API has no fees).
RINGYO_FEES = '{ default = "1.00", US = "1.15", CA = "1.15", GB = "1.50", DE = "2.00" }'


@dataclass(frozen=True)
class Plan:
    """What `syncer simulate` was asked for."""

    host: str = "127.0.0.1"
    port: int = 8765
    numbers: int = 1000
    seed: int = 1
    accounts_per_provider: int = 2
    faults_spec: str | None = None
    write_config: str | None = None
    write_env: str | None = None


def run(plan: Plan, echo: Echo, *, stop: threading.Event | None = None) -> None:
    """Serve until KeyboardInterrupt, SIGTERM or `POST /_sim/stop` (or until `stop` is set,
    for tests), then shut down.

    Raises ValueError for a bad `faults_spec` and OSError when the address cannot be served,
    before anything is written.
    """
    with serving(plan) as server:
        for line in banner(server, plan, "Press Ctrl-C to stop."):
            echo(line)
        wait_for_stop(server, stop)
        echo("Simulator stopped.")


@contextlib.contextmanager
def serving(plan: Plan) -> Iterator[SimulatorServer]:
    """The simulator of `plan`, serving, with the files it asks for written."""
    faults = parse_faults(plan.faults_spec) if plan.faults_spec else None
    world = World.generate(
        numbers=plan.numbers, seed=plan.seed, accounts_per_provider=plan.accounts_per_provider
    )
    with SimulatorServer(world, host=plan.host, port=plan.port, faults=faults) as server:
        write_files(server, plan)
        yield server


def wait_for_stop(server: SimulatorServer, stop: threading.Event | None = None) -> None:
    """Block until Ctrl-C, SIGTERM, `POST /_sim/stop`, or `stop`."""
    requested = server.app.stop_requested

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        requested.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    with contextlib.suppress(KeyboardInterrupt):
        while not requested.wait(0.2):
            if stop is not None and stop.is_set():
                break


def run_in_background(plan: Plan, echo: Echo) -> int:
    """Serve from a detached child process; return once it serves (0), or with the child's
    exit code when it could not (its error lines are echoed).

    The child prints the banner through a pipe and closes it when it is serving and the
    files are written, so the caller's next command finds everything ready.
    """
    if not hasattr(os, "fork"):
        echo("error: --background needs a system with fork(); run it in a second terminal")
        return 2
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child; the tests see it through the parent
        os.close(read_end)
        os._exit(_serve_detached(plan, write_end))
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as report:
        for line in report:
            echo(line.rstrip("\n"))
    finished, status = os.waitpid(pid, os.WNOHANG)
    if finished:
        return os.waitstatus_to_exitcode(status) or 2
    return 0


def _serve_detached(plan: Plan, report_fd: int) -> int:  # pragma: no cover - child process
    os.setsid()  # no terminal: Ctrl-C in the shell that started it does not reach it
    context = serving(plan)
    with os.fdopen(report_fd, "w", encoding="utf-8") as report:
        try:
            server = context.__enter__()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            report.write(f"error: cannot serve on {plan.host}:{plan.port}: {reason}\n")
            return 2
        hint = (
            f"Serving in the background as process {os.getpid()}.\n"
            f"Stop it with: kill {os.getpid()}  (or: curl -XPOST {server.url}/_sim/stop)"
        )
        for line in banner(server, plan, hint):
            report.write(line + "\n")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        wait_for_stop(server)
    finally:
        context.__exit__(None, None, None)
    return 0


def write_files(server: SimulatorServer, plan: Plan) -> None:
    """The config and the keys' `export` lines, to the files asked for (keys: mode 600)."""
    accounts = server.world.accounts
    if plan.write_config:
        Path(plan.write_config).write_text("\n".join(config_toml(server.url, accounts)) + "\n")
    if plan.write_env:
        path = Path(plan.write_env)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("\n".join(export_lines(accounts)) + "\n")


def env_var(account: SimAccount) -> str:
    """The environment variable the printed config reads the account's key from."""
    return account.name.upper().replace("-", "_") + "_API_KEY"


def export_lines(accounts: list[SimAccount]) -> list[str]:
    return [f"export {env_var(account)}={account.api_key}" for account in accounts]


def banner(server: SimulatorServer, plan: Plan, stop_hint: str) -> list[str]:
    """What `syncer simulate` prints once it is serving."""
    world = server.world
    lines = [
        f"Simulated Ringyo and TryVox APIs at {server.url} "
        f"({plan.numbers} numbers, seed {plan.seed})",
    ]
    spec = spec_of(world.faults)
    lines.append(f"Faults: {spec}" if spec else "Faults: none")
    lines += ["", "Accounts:"]
    for account in world.accounts:
        lines.append(f"  {account.name:<10} {account.provider:<7} {account.path}")
    if plan.write_env:
        lines += ["", f"Keys: in {plan.write_env} (load them with: . ./{plan.write_env})"]
    else:
        lines += ["", "Keys (paste into your shell):", *export_lines(world.accounts)]
    if plan.write_config:
        lines += ["", f"Config: written to {plan.write_config}"]
    else:
        lines += ["", "syncer.toml:", "", *config_toml(server.url, world.accounts)]
    lines += [
        "",
        f"Admin API at {server.url}/_sim/:",
        "  GET inventory (the truth), stats, accounts, faults",
        '  POST churn {"fraction": 0.05, "seed": 1, "details": false},',
        '       faults {"spec": "..."}, reset-stats, stop',
        stop_hint,
    ]
    return lines


def config_toml(base_url: str, accounts: list[SimAccount]) -> list[str]:
    """A `syncer.toml` syncing every simulated account into `syncer.db` beside it. The
    simulator speaks plain http: served on another address than loopback (`--host 0.0.0.0`),
    its accounts say so (`allow_insecure_http`), or syncer would refuse to send keys to it."""
    from urllib.parse import urlsplit

    from syncer.config import is_loopback

    plain_elsewhere = not is_loopback(urlsplit(base_url).hostname or "")
    lines = ['database_url = "sqlite:///syncer.db"']
    for account in accounts:
        lines += ["", "[[accounts]]", f'name = "{account.name}"']
        lines.append(f'provider = "{account.provider}"')
        if account.account_id is not None:
            lines.append(f'account_id = "{account.account_id}"')
        lines.append(f'api_key_env = "{env_var(account)}"')
        lines.append(f'base_url = "{base_url}"')
        if plain_elsewhere:
            lines.append("allow_insecure_http = true")
        if account.provider == RINGYO:
            lines += [f"fees = {RINGYO_FEES}", 'currency = "USD"']
    return lines
