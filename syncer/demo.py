"""`syncer demo`: the whole product on a laptop, with no config and no network.

It starts the provider simulator in-process and tells a short story on a clock of its own,
so that the reports have months to show (the world is generated from a fixed seed, and the
dates follow from today, so a run on the same day always prints the same story):

1. The 2nd of the month before last: the first sync of two Ringyo and two TryVox accounts;
   every number is new.
2. The providers' world changes (status changes, releases, fee changes, new numbers), and
   on the 7th of last month a second sync writes only the differences.
3. It changes again, and an hour ago a third sync.

Then it prints the costs table, the summary of the status changes since the first sync, and
the accrual of the three months (this one accrued up to now), with the attribution of each
month's change.
"""

from __future__ import annotations

import shutil
import textwrap
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
# The churn (fraction, seed) before each sync after the first.
CHURNS = ((0.08, 7), (0.05, 11))
WORLD_SEED = 2026


def demo_calendar(now: datetime) -> tuple[tuple[datetime, datetime, datetime], datetime]:
    """The demo's three syncs and the instant of its reports (`now`, to the minute).

    The syncs are on the 2nd of the month before last and the 7th of last month at 09:00
    UTC, and an hour before the reports: three months for the reports to show, none of
    them in the future.
    """
    reports_at = now.astimezone(UTC).replace(second=0, microsecond=0)
    this_month = reports_at.replace(day=1, hour=0, minute=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    month_before = (last_month - timedelta(days=1)).replace(day=1)
    syncs = (
        month_before.replace(day=2, hour=9),
        last_month.replace(day=7, hour=9),
        reports_at - timedelta(hours=1),
    )
    return syncs, reports_at


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


def run_demo(
    database: str,
    numbers: int,
    echo: Echo,
    now: datetime | None = None,
    *,
    width: int | None = None,
) -> None:
    """Run the demo into the SQLite file `database`; `now` dates it (default: the real now).
    The report tables are laid out for `width` columns (None: as wide as they need)."""
    from syncer.simulator import SimulatorServer, World
    from syncer.store.engine import make_engine
    from syncer.store.migrate import upgrade

    echo = _wrapping(echo, width)
    path = Path(database).resolve()
    _remove_database(path)
    database_url = f"sqlite:///{path}"
    syncs, reports_at = demo_calendar(now or datetime.now(UTC))
    clock = ShiftedClock(syncs[0])
    world = World.generate(
        numbers=numbers,
        seed=WORLD_SEED,
        accounts_per_provider=2,
        clock=clock.now,
        history_end=syncs[0] - timedelta(days=1),  # every number was bought before it is seen
    )
    with SimulatorServer(world, port=0) as server:
        echo(f"Simulated Ringyo and TryVox APIs at {server.url} with {numbers} numbers")
        upgrade(database_url)
        echo(f"Created {path.name} (SQLite) at schema head")
        echo(
            "The demo runs on a clock of its own: its syncs are dated "
            + ", ".join(_day(at) for at in syncs)
            + ", so the reports have three months to show.\n"
        )
        config, accounts = demo_config(
            database_url,
            server.url,
            [(a.provider, a.name, a.api_key, a.account_id) for a in world.accounts],
        )
        engine = make_engine(database_url)
        try:
            echo(f"1. {_when(syncs[0])}: first sync, every number is new")
            _print_results(sync_accounts(engine, config, accounts, clock=clock), echo)
            for step, (at, (fraction, seed)) in enumerate(zip(syncs[1:], CHURNS, strict=True)):
                clock.set(at - timedelta(days=1))  # numbers bought now are dated the day before
                changes = world.churn(fraction=fraction, seed=seed)
                echo(f"\n{step + 2}. The providers' world changes: {_describe_churn(changes)}")
                clock.set(at)
                echo(f"   {_when(at)}: sync again; only the differences are written")
                _print_results(sync_accounts(engine, config, accounts, clock=clock), echo)
            _print_reports(engine, echo, syncs[0], reports_at, width)
        finally:
            engine.dispose()
    from syncer.reports.charts import charts_installed

    charts = charts_installed()
    echo(
        f"\nEverything is in {path.name}. Try the reports yourself:\n"
        f"  export SYNCER_DATABASE_URL=sqlite:///{path.name}\n"
        f"  syncer report costs --as-of {syncs[1]:%Y-%m-01} --by provider,status\n"
        f"  syncer report accrual --from {syncs[0]:%Y-%m}"
        + (" --chart accrual.png\n" if charts else "\n")
        + f"  syncer report changes --since {_first_day_after(syncs[0])}"
        + (" --chart changes.png\n" if charts else " --summary\n")
        + "  syncer report runs\n"
        + f"  sqlite3 {path.name} 'SELECT * FROM current_costs'"
        + (
            ""
            if charts
            else "\nCharts (--chart FILE.png) need the extra: pip install 'syncer[charts]'"
        )
    )


def _print_reports(
    engine: Engine, echo: Echo, first_sync: datetime, at: datetime, width: int | None
) -> None:
    """The costs table, the changes summary and the accrual of the demo's months."""
    from syncer.reports import accrual, changes, costs, render

    echo("")
    report = costs.costs_report(engine, costs.CostsRequest(), now=at)
    echo(render.render_text(report, "table", width=width).rstrip())
    echo("")
    since = changes.ChangesRequest.parse(since=_first_day_after(first_sync), until=_iso(at))
    summary = changes.changes_report(engine, since, listing=False)
    echo(render.render_text(summary, "table", width=width).rstrip())
    echo("")
    months = accrual.AccrualRequest.parse(
        start=f"{first_sync:%Y-%m}", end=f"{at:%Y-%m}", as_of=_iso(at)
    )
    echo(
        render.render_text(
            accrual.accrual_report(engine, months, now=at), "table", width=width
        ).rstrip()
    )


def _wrapping(echo: Echo, width: int | None) -> Echo:
    """`echo`, with lines longer than `width` wrapped at words (continuation lines indented
    two more); tables are laid out for the width already and pass as they are."""
    if width is None:
        return echo

    def say(text: str) -> None:
        for line in text.split("\n"):
            if len(line) <= width:
                echo(line)
                continue
            indent = " " * (len(line) - len(line.lstrip()) + 2)
            echo(
                textwrap.fill(
                    line,
                    width,
                    subsequent_indent=indent,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )

    return say


def _first_day_after(at: datetime) -> str:
    """The day after `at`: the changes after the first sync, whose every number is new."""
    return f"{at + timedelta(days=1):%Y-%m-%d}"


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
