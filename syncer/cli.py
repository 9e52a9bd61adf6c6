"""The `syncer` command line: parse, load the config, call one function, render.

Errors are turned into one line and an exit code here, and only here: 0 when every account
was listed completely, 1 when some account failed (the others still committed), 2 for a usage
or config error. `--debug` shows the traceback too.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from syncer.errors import EXIT_ACCOUNT_FAILED, EXIT_OK, SyncerError, UsageError

if TYPE_CHECKING:
    from syncer.config import Config, ResolvedAccount

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = (
    "Config file. Default: $SYNCER_CONFIG, else ./syncer.toml. "
    "$SYNCER_DATABASE_URL overrides its database_url."
)


class SyncerGroup(click.Group):
    """Maps every `SyncerError` to its one-line message and exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SyncerError as exc:
            _report_error(ctx, str(exc), exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_ACCOUNT_FAILED)
        except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a line
            _report_error(
                ctx,
                f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
                EXIT_ACCOUNT_FAILED,
            )


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) or os.environ.get("SYNCER_DEBUG") == "1"


def _report_error(ctx: click.Context, message: str, code: int) -> None:
    from syncer.secrets import scrub

    if _debug(ctx):
        import traceback

        click.echo(scrub(traceback.format_exc()).rstrip("\n"), err=True)
    for line in scrub(message).splitlines():
        click.echo(f"error: {line}", err=True)
    ctx.exit(code)


def config_option(function: F) -> F:
    return click.option(
        "--config", "config_file", type=click.Path(dir_okay=False), help=CONFIG_HELP
    )(function)


def _config_file(ctx: click.Context, local: str | None) -> str | None:
    return local or ctx.find_root().params.get("config_file")


def account_option(help_text: str, dest: str = "accounts") -> Callable[[F], F]:
    """`--account NAME`, repeatable, into the parameter `dest`."""
    return click.option("--account", dest, multiple=True, metavar="NAME", help=help_text)


def _accounts_to_run(
    ctx: click.Context, config_file: str | None, names: tuple[str, ...]
) -> tuple[Config, list[ResolvedAccount]]:
    """The config, and the accounts named (or all) with their keys looked up; warns first
    when the file holds an inline key that others may read."""
    from syncer.config import inline_key_warning, load_config, resolve_accounts

    config = load_config(_config_file(ctx, config_file))
    warning = inline_key_warning(config)
    if warning:
        click.echo(warning, err=True)
    return config, resolve_accounts(config, names)


@click.group(cls=SyncerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs on errors.")
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-v info, -vv debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or as one JSON object per line (for log pipelines).",
)
@click.version_option(package_name="syncer")
def main(config_file: str | None, debug: bool, verbose: int, log_format: str) -> None:
    """Keep a SQL mirror, with full history, of the phone numbers rented from Ringyo and
    TryVox, and report what they cost and how they changed.

    \b
    Start here:
      syncer demo                 try it all on simulated providers, no config needed
      syncer db upgrade           create or upgrade the tables in database_url
      syncer sync                 one pass over every account in syncer.toml (cron)
      syncer daemon               every account on its schedule, until stopped
      syncer report costs         what the numbers cost (also: accrual, changes, runs)
      syncer report statement     the month's statement for finance, as one HTML file
      syncer status               health of each account (exit 1 when one is late)
    """
    from syncer.logs import setup_logging

    level = logging.DEBUG if debug or verbose >= 2 else logging.INFO if verbose else logging.WARNING
    setup_logging(level, log_format)


@main.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@config_option
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
@click.option(
    "--rebuild-spans",
    is_flag=True,
    help="Then derive rate_spans again from the versions (when `report accrual` says the "
    "table is out of step). Stop every syncer first.",
)
@click.pass_context
def db_upgrade(
    ctx: click.Context, config_file: str | None, revision: str, rebuild_spans: bool
) -> None:
    """Create the tables, or apply new migrations, in the configured database.

    Safe to run at every deploy: an up-to-date database is left as it is. Works without a
    config file (then $SYNCER_DATABASE_URL, else sqlite:///syncer.db).
    """
    from syncer.config import load_config
    from syncer.store.engine import redact_url
    from syncer.store.migrate import upgrade

    config = load_config(_config_file(ctx, config_file), required=False)
    at = upgrade(config.database_url, revision)
    click.echo(f"{redact_url(config.database_url)} is at schema revision {at}")
    if rebuild_spans:
        from syncer.reports import database
        from syncer.store.spans import rebuild

        with database(config.database_url) as engine, engine.begin() as connection:
            count = rebuild(connection)
        click.echo(f"rate_spans: {count:,} spans derived from the versions")


@main.command()
@config_option
@account_option("Sync only this account (repeat for several). Default: every account.")
@click.option(
    "--allow-mass-release",
    is_flag=True,
    help="Release numbers even when a listing lacks more than max_release_fraction of an "
    "account's live numbers. Use once, after checking they really are gone.",
)
@click.pass_context
def sync(
    ctx: click.Context, config_file: str | None, accounts: tuple[str, ...], allow_mass_release: bool
) -> None:
    """List every account once, store what changed, then exit.

    For cron: exit code 0 when every account was listed completely, 1 when an account failed
    or its listing was incomplete (the other accounts are still committed), 2 for a usage or
    config error. A number is marked released only when a complete listing lacks it.
    """
    from syncer.console import print_results
    from syncer.sync import SyncOptions, run_sync

    config, chosen = _accounts_to_run(ctx, config_file, accounts)
    options = SyncOptions(allow_mass_release=allow_mass_release, log_failures=False)
    if sys.stderr.isatty():
        from syncer.console import TerminalProgress

        with TerminalProgress([a.name for a in chosen]) as progress:
            results = run_sync(config, chosen, options=options, progress=progress)
    else:
        results = run_sync(config, chosen, options=options)
    print_results(results)
    ctx.exit(EXIT_OK if all(result.ok for result in results) else EXIT_ACCOUNT_FAILED)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, help="Port (0 picks a free one).")
@click.option("--numbers", default=1000, show_default=True, help="Numbers in the world.")
@click.option("--seed", default=1, show_default=True, help="Seed of the generated world.")
@click.option("--accounts", default=2, show_default=True, help="Accounts per provider.")
@click.option(
    "--faults",
    metavar="SPEC",
    help="Inject faults, e.g. 'latency_ms=50,rate_limit_every=10;tryvox:drift_after_page=2'. "
    "Keys: latency_ms, rate_limit_every, retry_after, error_rate, drop_rate, truncate_rate, "
    "drift_after_page, drift_count, cursor_ttl_requests, cursor_expire_once, malformed_rate, "
    "fail_after. A group prefixed 'ringyo:' or 'tryvox:' applies to that provider only.",
)
@click.option(
    "--write-config",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also write the syncer.toml for the simulated accounts to FILE (written once the "
    "simulator is serving).",
)
@click.option(
    "--write-env",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also write the accounts' keys to FILE as export lines (mode 600), to load with "
    "'. ./FILE'.",
)
@click.option(
    "--background",
    is_flag=True,
    help="Serve from a background process and return as soon as it is serving (and the "
    "files are written), printing how to stop it.",
)
def simulate(
    host: str,
    port: int,
    numbers: int,
    seed: int,
    accounts: int,
    faults: str | None,
    write_config: str | None,
    write_env: str | None,
    background: bool,
) -> None:
    """Serve both provider APIs on loopback from generated data, until stopped.

    Prints the base URL, the simulated accounts with their keys, and a syncer.toml to
    sync them (or writes them: --write-config, --write-env). Stops on Ctrl-C, SIGTERM or
    POST /_sim/stop. Admin endpoints: GET /_sim/inventory (the truth), GET /_sim/stats,
    POST /_sim/churn {"fraction": 0.05}, POST /_sim/faults {"spec": "..."}.

    \b
    A script (no pause needed between the lines):
      syncer simulate --background --write-config syncer.toml --write-env sim.env
      . ./sim.env && syncer db upgrade && syncer sync
    """
    from syncer.simulator import parse_faults
    from syncer.simulator.runner import Plan, run, run_in_background

    if faults:
        try:
            parse_faults(faults)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--faults") from None
    plan = Plan(host, port, numbers, seed, accounts, faults, write_config, write_env)
    if background:
        sys.exit(run_in_background(plan, click.echo))
    try:
        run(plan, click.echo)
    except OSError as exc:
        raise UsageError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


@main.command()
@click.option(
    "--database",
    default="syncer-demo.db",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="SQLite file to create (replaced if it exists).",
)
@click.option("--numbers", default=400, show_default=True, help="Numbers in the simulated world.")
def demo(database: str, numbers: int) -> None:
    """Try syncer end to end, with no config and no network.

    Starts simulated Ringyo and TryVox APIs in-process, syncs two accounts of each into a
    local SQLite file, changes the simulated world (status changes, releases, new numbers, a
    fee change), syncs again and prints what changed and what it costs.
    """
    import shutil

    from syncer.demo import run_demo

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
    run_demo(database, numbers, click.echo, width=width)


@main.command()
@config_option
@account_option("Run only this account (repeat for several). Default: every account.")
@click.option(
    "--run-now", is_flag=True, help="Sync every account once at start, then follow the schedules."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    metavar="PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a free port; the "
    "address is logged). Default: no metrics.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="Address the metrics endpoint listens on; 0.0.0.0 lets a Prometheus on another "
    "host (or pod) scrape it.",
)
@click.option(
    "--stop-timeout",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    metavar="SECONDS",
    help="After SIGTERM/SIGINT, how long runs in progress get to record where they stopped; "
    "after that the daemon exits anyway, with code 1.",
)
@click.pass_context
def daemon(
    ctx: click.Context,
    config_file: str | None,
    accounts: tuple[str, ...],
    run_now: bool,
    metrics_port: int | None,
    metrics_host: str,
    stop_timeout: float,
) -> None:
    """Run every account on its schedule until SIGTERM or SIGINT (Ctrl-C), then stop cleanly.

    Each account follows its `schedule` in the config (a crontab, in UTC, or `every 30s|10m|2h`;
    default every 1h), started up to a tenth of its period late (at most 5 minutes) so accounts
    do not all fire at once. Logs one line per run at info level (--log-format json for log
    pipelines). One account's failure never stops the others.

    Several daemons may share one database (PostgreSQL or MariaDB): each account is synced by
    one of them at a time; the others skip that tick.

    Stopping: runs in progress stop at their next page and are recorded as interrupted. Exit
    code 0 after a clean stop, 1 when a run did not stop within --stop-timeout (or on a second
    signal), 2 for a config or database error at start.
    """
    from syncer.daemon import DaemonOptions, run_daemon

    root = logging.getLogger()
    root.setLevel(min(root.level, logging.INFO))  # a daemon logs its runs
    if root.level > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not two lines per run
    config, chosen = _accounts_to_run(ctx, config_file, accounts)
    options = DaemonOptions(
        run_now=run_now,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        stop_timeout=stop_timeout,
    )
    ctx.exit(run_daemon(config, chosen, options))


@main.command()
@config_option
@account_option(
    "Show only this account (repeat for several). Default: every account in the config."
)
@click.option(
    "--max-age",
    metavar="DURATION",
    help="Failing when an account's last success is older than this (90s, 30m, 6h, 2d). "
    "Default: 3 x its schedule's interval; for a crontab, 3 x the gap between its next two "
    "runs.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="A table for people; csv (one row per account and currency) or JSON for scripts.",
)
@click.pass_context
def status(
    ctx: click.Context,
    config_file: str | None,
    accounts: tuple[str, ...],
    max_age: str | None,
    output_format: str,
) -> None:
    """Show, per account, its last success, last failure and error, numbers by status and
    monthly-fee run-rate; exit 1 when an account has not succeeded within its max age.

    A health check for monitoring: exit code 0 when every account is healthy, 1 when one is
    not, 2 for a config or database error. Reads only the database: no API keys needed.
    """
    from syncer.clock import SYSTEM_CLOCK
    from syncer.config import known_keys, load_config
    from syncer.reports import database, render
    from syncer.reports.status import account_status
    from syncer.schedule import parse_duration
    from syncer.secrets import register_secrets

    age = None
    if max_age is not None:
        try:
            age = parse_duration(max_age)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--max-age") from None
    config = load_config(_config_file(ctx, config_file))
    register_secrets(known_keys(config))  # hidden in the errors shown, should any show one
    with database(config.database_url) as engine:
        report = account_status(engine, config, now=SYSTEM_CLOCK.now(), names=accounts, max_age=age)
    render.write(report, output_format)
    ctx.exit(EXIT_OK if report.healthy else EXIT_ACCOUNT_FAILED)


@main.group()
def report() -> None:
    """Reports on the mirror: costs, accruals, status changes, sync runs, and the month's
    statement.

    \b
    Reports only read the database (database_url from the config, or
    $SYNCER_DATABASE_URL); they need no API keys. Every report takes
    --format table|csv|json and --output FILE (the statement: html|json).
    Money in CSV and JSON is a decimal string; tables round to two decimals
    (half away from zero).
    """


def report_options(function: F) -> F:
    """--config, --format and --output, shared by every report."""
    function = click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True),
        help="Write the report to this file instead of stdout.",
    )(function)
    function = click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help="table for people; csv (one row per group); json (the shapes in docs/reports.md).",
    )(function)
    return config_option(function)


ONLY_ACCOUNT_HELP = "Only this account (repeatable)."
TIMEZONE_HELP = (
    "IANA time zone (e.g. Europe/Berlin) for dates without an offset and for day and month "
    "boundaries. Default: UTC."
)


def _database_url(ctx: click.Context, config_file: str | None) -> str:
    from syncer.config import known_keys, load_config
    from syncer.secrets import register_secrets

    config = load_config(_config_file(ctx, config_file), required=False)
    register_secrets(known_keys(config))  # hidden in what the report shows, should it show any
    return config.database_url


@report.command("costs")
@report_options
@click.option(
    "--as-of",
    metavar="DATE",
    help="Answer from history: the state in force at this instant (a date is 00:00 that "
    "day, so --as-of 2026-10-01 is how September ended). Default: now.",
)
@click.option(
    "--by",
    metavar="KEYS",
    help="Group by these comma-separated keys: provider, account, country, type, status. "
    "Always by currency too. Default: provider,account.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    metavar="STATUS",
    help="Only numbers in this status (repeat, or comma-separate). Default: every status "
    "but released; --status released shows the released ones.",
)
@click.option("--timezone", metavar="ZONE", help=TIMEZONE_HELP)
@click.pass_context
def report_costs(
    ctx: click.Context,
    config_file: str | None,
    fmt: str,
    output: str | None,
    as_of: str | None,
    by: str | None,
    statuses: tuple[str, ...],
    timezone: str | None,
) -> None:
    """Monthly-fee run-rate: numbers and monthly fees per group and currency.

    Totals are per currency (never added across currencies). Numbers without a known fee
    are counted as unpriced, never as zero cost.
    """
    from syncer.reports import costs, database, render

    request = costs.CostsRequest.parse(as_of=as_of, by=by, status=statuses, timezone=timezone)
    with database(_database_url(ctx, config_file)) as engine:
        result = costs.costs_report(engine, request)
    render.write(result, fmt, output)


@report.command("accrual")
@report_options
@click.option(
    "--from",
    "start",
    metavar="YYYY-MM",
    help="First month. Default: the first month with data, at most a year before --to.",
)
@click.option("--to", "end", metavar="YYYY-MM", help="Last month. Default: the current month.")
@click.option("--timezone", metavar="ZONE", help=TIMEZONE_HELP)
@click.option(
    "--as-of",
    metavar="DATE",
    help="Accrue up to this instant instead of now: the report exactly as it stood then.",
)
@click.option(
    "--billable",
    multiple=True,
    metavar="STATUS",
    help="Statuses in which a number accrues its fee (repeat, or comma-separate). "
    "Default: active,suspended.",
)
@click.option(
    "--chart",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also draw the months as stacked bars per provider with the total as a line "
    "(.png or .svg).",
)
@click.pass_context
def report_accrual(
    ctx: click.Context,
    config_file: str | None,
    fmt: str,
    output: str | None,
    start: str | None,
    end: str | None,
    timezone: str | None,
    as_of: str | None,
    billable: tuple[str, ...],
    chart: str | None,
) -> None:
    """What was accrued per calendar month, and why it changed.

    Accrued = monthly fee x time held in a billable status / length of the month, plus
    setup fees in the month the number was created at the provider. The current month is
    accrued up to now. The change from the month before is split into numbers added,
    numbers released, price changes, status changes, setup fees and (for the current
    month) the part not accrued yet; the parts add up to the change exactly.
    """
    from syncer.reports import accrual, charts, database, render

    charts.check_chart_path(chart)
    request = accrual.AccrualRequest.parse(
        start=start, end=end, timezone=timezone, billable=billable, as_of=as_of
    )
    with database(_database_url(ctx, config_file)) as engine:
        result = accrual.accrual_report(engine, request)
    render.write(result, fmt, output)
    if chart:
        click.echo(f"chart written to {charts.accrual_chart(result, chart)}", err=True)


@report.command("changes")
@report_options
@click.option("--since", metavar="DATE", help="Start (included). Default: 7 days before --until.")
@click.option(
    "--until",
    metavar="DATE",
    help="End (excluded; a date includes that whole day). Default: now.",
)
@click.option("--timezone", metavar="ZONE", help=TIMEZONE_HELP)
@account_option(ONLY_ACCOUNT_HELP, "account")
@click.option(
    "--provider", multiple=True, metavar="NAME", help="Only ringyo or tryvox (repeatable)."
)
@click.option(
    "--country", multiple=True, metavar="CC", help="Only numbers of this country (repeatable)."
)
@click.option(
    "--from-status",
    multiple=True,
    metavar="STATUS",
    help="Only changes from this status; 'new' for first sightings (repeatable).",
)
@click.option(
    "--to-status",
    multiple=True,
    metavar="STATUS",
    help="Only changes to this status, e.g. released (repeatable).",
)
@click.option(
    "--limit",
    type=int,
    metavar="N",
    help="List at most N changes (the summary still counts all of them).",
)
@click.option(
    "--summary",
    "summary_only",
    is_flag=True,
    help="Only the from->to summary, without the list of changes (CSV: one row per pair; "
    "JSON: no changes key).",
)
@click.option(
    "--chart",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also draw the changes per day as stacked bars (.png or .svg).",
)
@click.pass_context
def report_changes(
    ctx: click.Context,
    config_file: str | None,
    fmt: str,
    output: str | None,
    since: str | None,
    until: str | None,
    timezone: str | None,
    account: tuple[str, ...],
    provider: tuple[str, ...],
    country: tuple[str, ...],
    from_status: tuple[str, ...],
    to_status: tuple[str, ...],
    limit: int | None,
    summary_only: bool,
    chart: str | None,
) -> None:
    """Status changes in a period: the list, oldest first, and a from->to summary.

    A first sighting shows as from "(new)"; a number gone from its account's complete
    listing as to "released". Changes in the same second are listed by provider, account
    and number.
    """
    from syncer.reports import changes, charts, database, render

    charts.check_chart_path(chart)
    request = changes.ChangesRequest.parse(
        since=since,
        until=until,
        timezone=timezone,
        account=account,
        provider=provider,
        country=country,
        from_status=from_status,
        to_status=to_status,
        limit=limit,
    )
    with database(_database_url(ctx, config_file)) as engine:
        result = changes.changes_report(
            engine, request, per_day=chart is not None, listing=not summary_only
        )
    render.write(result, fmt, output)
    if chart:
        click.echo(f"chart written to {charts.changes_chart(result, chart)}", err=True)


@report.command("statement")
@config_option
@click.option(
    "--month",
    metavar="YYYY-MM",
    help="The month to state. Default: the last complete month. The current month gives a "
    "statement up to now, marked as not over; a month that has not begun is refused.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json"]),
    default="html",
    show_default=True,
    help="html: one self-contained file to mail, archive or print (A4); json: the same "
    "figures for scripts (the shape is in docs/statement.md).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file. Default: stdout, except HTML on a terminal, which goes to "
    "statement-YYYY-MM.html in the current directory.",
)
@click.option("--timezone", metavar="ZONE", help=TIMEZONE_HELP)
@click.pass_context
def report_statement(
    ctx: click.Context,
    config_file: str | None,
    month: str | None,
    fmt: str,
    output: str | None,
    timezone: str | None,
) -> None:
    """The month's statement for finance: what the numbers cost, why it differs from the
    month before, where it goes, what changed, and what the mirror cannot vouch for.

    Per currency, never added together: the accrued cost of the month and of the month
    before, the difference and its attribution (numbers added, released, fee and status
    changes, setup fees), the run-rate at the month's end by provider, account, country,
    type and status, the numbers added, released and suspended, unpriced numbers, the days
    the mirror did not cover (by the accounts' schedules in the config) and rejected records.
    The figures are those of report accrual, report costs --as-of and report changes.
    """
    from syncer.config import load_config
    from syncer.reports import database, statement

    request = statement.StatementRequest.parse(month=month, timezone=timezone)
    config = load_config(_config_file(ctx, config_file), required=False)
    with database(config.database_url) as engine:
        result = statement.statement_report(engine, request, config=config)
    written = statement.write_statement(result, fmt, output, terminal=sys.stdout.isatty())
    if written is not None:
        click.echo(f"wrote the statement for {result.month} to {written}", err=True)


@report.command("runs")
@report_options
@click.option(
    "--limit", default=20, show_default=True, metavar="N", help="How many runs, newest first."
)
@account_option(ONLY_ACCOUNT_HELP, "account")
@click.option("--timezone", metavar="ZONE", help=TIMEZONE_HELP)
@click.pass_context
def report_runs(
    ctx: click.Context,
    config_file: str | None,
    fmt: str,
    output: str | None,
    limit: int,
    account: tuple[str, ...],
    timezone: str | None,
) -> None:
    """The last sync runs: account, start, duration, pages, counts, status and error."""
    from syncer.reports import database, render, runs

    request = runs.RunsRequest.parse(limit=limit, account=account, timezone=timezone)
    with database(_database_url(ctx, config_file)) as engine:
        result = runs.runs_report(engine, request)
    render.write(result, fmt, output)


if __name__ == "__main__":  # pragma: no cover
    main()
