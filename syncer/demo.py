"""`syncer demo`: the whole product on a laptop, with no config and no network.

It starts the provider simulator in-process, syncs two Ringyo and two TryVox accounts into a
local SQLite file, changes the simulated world (status changes, releases, new numbers, a fee
change), syncs again, and prints what changed and what the numbers cost.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.sync import AccountResult, describe_result, sync_accounts

Echo = Callable[[str], None]

# The demo's Ringyo fee schedules: Ringyo's API has no fees, so syncer takes them from config.
DEMO_FEES = {
    "ringyo-1": ({"default": Decimal("1.00"), "US": Decimal("1.15"), "GB": Decimal("1.40")}, "USD"),
    "ringyo-2": ({"default": Decimal("0.95"), "DE": Decimal("1.10")}, "EUR"),
}


def demo_config(
    database_url: str, base_url: str, accounts: list[tuple[str, str, str, str | None]]
) -> tuple[Config, list[ResolvedAccount]]:
    """A config for the simulated accounts: (provider, name, api_key, account_id) each."""
    configs = []
    for provider, name, api_key, account_id in accounts:
        fees, currency = DEMO_FEES.get(name, (None, None))
        configs.append(
            AccountConfig(
                name=name,
                provider=provider,
                api_key=SecretStr(api_key),
                base_url=base_url,
                account_id=account_id,
                fees=fees,
                currency=currency,
            )
        )
    config = Config(database_url=database_url, accounts=configs)
    resolved = [ResolvedAccount(a, a.api_key) for a in configs if a.api_key is not None]
    return config, resolved


def run_demo(database: str, numbers: int, echo: Echo) -> None:
    from syncer.simulator import SimulatorServer, World
    from syncer.store.engine import make_engine
    from syncer.store.migrate import upgrade

    path = Path(database).resolve()
    _remove_database(path)
    database_url = f"sqlite:///{path}"
    world = World.generate(numbers=numbers, seed=2026, accounts_per_provider=2)
    with SimulatorServer(world, port=0) as server:
        echo(f"Simulated Ringyo and TryVox APIs at {server.url} with {numbers} numbers")
        upgrade(database_url)
        echo(f"Created {path.name} (SQLite) at schema head\n")
        config, accounts = demo_config(
            database_url,
            server.url,
            [(a.provider, a.name, a.api_key, a.account_id) for a in world.accounts],
        )
        engine = make_engine(database_url)
        try:
            echo("1. First sync: every number is new")
            _print_results(sync_accounts(engine, config, accounts), echo)
            changes = world.churn(fraction=0.08, seed=7)
            echo(f"\n2. The providers' world changes: {_describe_churn(changes)}")
            echo("\n3. Second sync: only the differences are written")
            second_sync = datetime.now(UTC)
            _print_results(sync_accounts(engine, config, accounts), echo)
            echo("")
            from syncer.reports.overview import print_overview

            print_overview(engine, echo, changes_since=second_sync)
        finally:
            engine.dispose()
    echo(f"\nEverything is in {path.name}: try  sqlite3 {path.name} 'SELECT * FROM status_changes'")


def _print_results(results: list[AccountResult], echo: Echo) -> None:
    for result in results:
        echo("   " + describe_result(result))


def _describe_churn(summary: dict[str, object]) -> str:
    parts = [
        f"{value} {key.replace('_', ' ')}"
        for key, value in summary.items()
        if isinstance(value, int) and value
    ]
    return ", ".join(parts) or "nothing"


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()
    shutil.rmtree(path.with_name(path.name + ".locks"), ignore_errors=True)
