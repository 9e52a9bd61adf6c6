"""`syncer demo`: the whole product on a laptop, with no config and no network.

It starts the provider simulator in-process and tells a short story on a clock of its own,
so that the reports have months to show. The dates are fixed (and the world is generated
from a fixed seed), so every run prints the same story:

1. 2 November 2026: the first sync of two Ringyo and two TryVox accounts; every number is new.
2. The providers' world changes (status changes, releases, fee changes, new numbers), and
   on 7 December a second sync writes only the differences.
3. It changes again, and on 11 January 2027 a third sync.

Then it prints the costs table, the summary of the status changes since the first sync, and
the accrual for November to January (January accrued up to the demo's "now", an hour after
the last sync), with the attribution of each month's change.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine

from syncer.clock import ShiftedClock
from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.sync import AccountResult, describe_result, sync_accounts

Echo = Callable[[str], None]

# The demo's Ringyo fee schedules: Ringyo's API has no fees, so syncer takes them from config.
DEMO_FEES = {
    "ringyo-1": ({"default": Decimal("1.00"), "US": Decimal("1.15"), "GB": Decimal("1.40")}, "USD"),
    "ringyo-2": ({"default": Decimal("0.95"), "DE": Decimal("1.10")}, "EUR"),
}
# The demo's calendar: its syncs, the churn (fraction, seed) before each later one, and the
# instant the reports are made at.
SYNCS = (
    datetime(2026, 11, 2, 9, tzinfo=UTC),
    datetime(2026, 12, 7, 9, tzinfo=UTC),
    datetime(2027, 1, 11, 9, tzinfo=UTC),
)
CHURNS = ((0.08, 7), (0.05, 11))
REPORTS_AT = SYNCS[-1] + timedelta(hours=1)
WORLD_SEED = 2026


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
    clock = ShiftedClock(SYNCS[0])
    world = World.generate(
        numbers=numbers, seed=WORLD_SEED, accounts_per_provider=2, clock=clock.now
    )
    with SimulatorServer(world, port=0) as server:
        echo(f"Simulated Ringyo and TryVox APIs at {server.url} with {numbers} numbers")
        upgrade(database_url)
        echo(f"Created {path.name} (SQLite) at schema head")
        echo(
            "The demo runs on a clock of its own: its syncs are dated "
            + ", ".join(_day(at) for at in SYNCS)
            + ", so the reports have three months to show.\n"
        )
        config, accounts = demo_config(
            database_url,
            server.url,
            [(a.provider, a.name, a.api_key, a.account_id) for a in world.accounts],
        )
        engine = make_engine(database_url)
        try:
            echo(f"1. {_when(SYNCS[0])}: first sync, every number is new")
            _print_results(sync_accounts(engine, config, accounts, clock=clock), echo)
            for step, (at, (fraction, seed)) in enumerate(zip(SYNCS[1:], CHURNS, strict=True)):
                clock.set(at - timedelta(days=1))  # numbers bought now are dated the day before
                changes = world.churn(fraction=fraction, seed=seed)
                echo(f"\n{step + 2}. The providers' world changes: {_describe_churn(changes)}")
                clock.set(at)
                echo(f"   {_when(at)}: sync again; only the differences are written")
                _print_results(sync_accounts(engine, config, accounts, clock=clock), echo)
            _print_reports(engine, echo)
        finally:
            engine.dispose()
    echo(
        f"\nEverything is in {path.name}. Try the reports yourself (the dates are the demo's):\n"
        f"  export SYNCER_DATABASE_URL=sqlite:///{path.name}\n"
        "  syncer report costs --as-of 2026-12-01 --by provider,status\n"
        f"  syncer report accrual --from 2026-11 --to 2027-01 --as-of {_iso(REPORTS_AT)}"
        " --chart accrual.png\n"
        f"  syncer report changes --since 2026-11-03 --until {_iso(REPORTS_AT)}"
        " --chart changes.png\n"
        "  syncer report runs\n"
        f"  sqlite3 {path.name} 'SELECT * FROM current_costs'"
    )


def _print_reports(engine: Engine, echo: Echo) -> None:
    """The costs table, the changes summary and the accrual of the demo's months."""
    from syncer.reports import accrual, changes, costs, render

    echo("")
    report = costs.costs_report(engine, costs.CostsRequest(), now=REPORTS_AT)
    echo(render.render_text(report, "table").rstrip())
    echo("")
    since = changes.ChangesRequest.parse(since="2026-11-03", until=_iso(REPORTS_AT))
    summary = changes.changes_report(engine, since, listing=False)
    echo(render.render_text(summary, "table").rstrip())
    echo("")
    months = accrual.AccrualRequest.parse(start="2026-11", end="2027-01", as_of=_iso(REPORTS_AT))
    echo(render.render_text(accrual.accrual_report(engine, months), "table").rstrip())


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _day(at: datetime) -> str:
    return f"{at.day} {at:%B %Y}"


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%MZ")


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
