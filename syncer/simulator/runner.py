"""`syncer simulate`: serve a generated world until Ctrl-C, and say how to sync it.

It prints the base URL, the accounts, `export` lines for their keys and a ready-to-paste
`syncer.toml`. The keys are the simulator's own throwaway keys, printed on purpose: they
open nothing but this process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

from syncer.simulator.faults import parse_faults, spec_of
from syncer.simulator.model import RINGYO, SimAccount
from syncer.simulator.server import SimulatorServer
from syncer.simulator.world import World

Echo = Callable[[str], None]

# A fee schedule for the Ringyo accounts in the printed config (Ringyo's API has no fees).
RINGYO_FEES = '{ default = "1.00", US = "1.15", CA = "1.15", GB = "1.50", DE = "2.00" }'


def run(
    host: str,
    port: int,
    numbers: int,
    seed: int,
    accounts_per_provider: int,
    faults_spec: str | None,
    echo: Echo,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Serve until KeyboardInterrupt (or until `stop` is set, for tests), then shut down.

    Raises ValueError for a bad `faults_spec`, before anything is served.
    """
    faults = parse_faults(faults_spec) if faults_spec else None
    world = World.generate(numbers=numbers, seed=seed, accounts_per_provider=accounts_per_provider)
    with SimulatorServer(world, host=host, port=port, faults=faults) as server:
        for line in banner(server, numbers, seed):
            echo(line)
        with contextlib.suppress(KeyboardInterrupt):
            (stop or threading.Event()).wait()
        echo("Simulator stopped.")


def env_var(account: SimAccount) -> str:
    """The environment variable the printed config reads the account's key from."""
    return account.name.upper().replace("-", "_") + "_API_KEY"


def banner(server: SimulatorServer, numbers: int, seed: int) -> list[str]:
    """What `syncer simulate` prints once it is serving."""
    world = server.world
    lines = [
        f"Simulated Ringyo and TryVox APIs at {server.url} ({numbers} numbers, seed {seed})",
    ]
    spec = spec_of(world.faults)
    lines.append(f"Faults: {spec}" if spec else "Faults: none")
    lines += ["", "Accounts:"]
    for account in world.accounts:
        where = f"account_id {account.account_id}" if account.account_id else "key names it"
        lines.append(f"  {account.name:<10} {account.provider:<7} {account.path}  ({where})")
    lines += ["", "Keys (paste into your shell):"]
    lines += [f"export {env_var(account)}={account.api_key}" for account in world.accounts]
    lines += ["", "syncer.toml:", "", *config_toml(server.url, world.accounts)]
    lines += [
        "",
        f"Admin: GET {server.url}/_sim/inventory | /_sim/stats | /_sim/accounts | /_sim/faults;",
        f'       POST {server.url}/_sim/churn {{"fraction": 0.05, "seed": 1}},',
        f'       POST {server.url}/_sim/faults {{"spec": "..."}},',
        f"       POST {server.url}/_sim/reset-stats",
        "Press Ctrl-C to stop.",
    ]
    return lines


def config_toml(base_url: str, accounts: list[SimAccount]) -> list[str]:
    """A `syncer.toml` syncing every simulated account into `./syncer.db`. The simulator
    speaks plain http: served on another address than loopback (`--host 0.0.0.0`), its
    accounts say so (`allow_insecure_http`), or syncer would refuse to send keys to it."""
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
