"""`syncer status`: last success and failure per account, numbers, run-rate, and exit codes."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import Engine

from syncer.cli import main
from syncer.config import AccountConfig, Config, ResolvedAccount
from syncer.providers import ProviderClient
from syncer.reports.status import RunRate, account_status
from syncer.store import writes
from syncer.store.engine import in_transaction, make_engine
from syncer.sync import AccountSync
from tests.conftest import FakeClock
from tests.fakes import FakeTryVox, tryvox_item

NOON = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


def vox_config(name: str = "vox-main", schedule: str | None = "every 1h") -> AccountConfig:
    return AccountConfig(
        name=name,
        provider="tryvox",
        account_id="acc_1",
        api_key_env="TRYVOX_KEY_NOT_SET_ANYWHERE",
        base_url="https://api.tryvox.test",
        schedule=schedule,
    )


def ringyo_config(name: str = "ringyo-main") -> AccountConfig:
    return AccountConfig(name=name, provider="ringyo", api_key_env="RINGYO_KEY_NOT_SET")


def sync_at(engine: Engine, at: datetime, account: AccountConfig, items: list[Any]) -> None:
    clock = FakeClock(at)
    resolved = ResolvedAccount(account, SecretStr("tvx_status_key"))
    transport = httpx.MockTransport(FakeTryVox(items))
    with ProviderClient(resolved, clock=clock, transport=transport) as client:
        assert AccountSync(engine, Config(), client, clock=clock).run().ok


def add_run(
    engine: Engine,
    account: str,
    started: datetime,
    status: str,
    *,
    complete: bool = False,
    error: str | None = None,
) -> int:
    def write(connection: Any) -> int:
        run_id = writes.start_run(connection, "tryvox", account, started)
        if status != "running":
            writes.update_run(
                connection,
                run_id,
                status=status,
                finished_at=started + timedelta(minutes=1),
                listing_complete=complete,
                error=error,
            )
        return run_id

    return in_transaction(engine, write)


def inventory_items() -> list[Any]:
    items = [tryvox_item(n, fee="1.25") for n in range(10)]
    return items + [tryvox_item(n, status="suspended", fee="2.10") for n in range(10, 12)]


def test_status_of_each_account(engine: Engine) -> None:
    vox = vox_config()
    sync_at(engine, NOON, vox, inventory_items())
    add_run(engine, "vox-main", NOON + timedelta(minutes=30), "failed", error="vox-main: HTTP 401")
    config = Config(accounts=[vox, ringyo_config()])

    report = account_status(engine, config, now=NOON + timedelta(hours=2))
    status, never = report.accounts
    assert status.healthy
    assert status.max_age == timedelta(hours=3)
    assert status.last_success is not None
    assert status.last_success.finished_at == NOON
    assert status.last_failure is not None
    assert status.last_failure.error == "vox-main: HTTP 401"
    assert status.numbers == {"active": 10, "suspended": 2}
    assert status.run_rate == [RunRate("USD", 12, Decimal("16.70"))]
    assert not never.healthy
    assert never.problem == "never synced successfully"
    assert not report.healthy


def test_an_account_is_failing_once_its_last_success_is_older_than_its_max_age(
    engine: Engine,
) -> None:
    vox = vox_config(schedule="*/20 * * * *")  # max age 3 x 20 minutes
    sync_at(engine, NOON, vox, inventory_items())
    config = Config(accounts=[vox])
    assert account_status(engine, config, now=NOON + timedelta(minutes=59)).healthy
    late = account_status(engine, config, now=NOON + timedelta(minutes=61))
    assert late.accounts[0].problem == "last success 1h1m ago, longer than its max age 1h"
    strict = account_status(
        engine, config, now=NOON + timedelta(minutes=11), max_age=timedelta(minutes=10)
    )
    assert not strict.healthy


def test_an_incomplete_listing_is_not_a_success(engine: Engine) -> None:
    vox = vox_config()
    sync_at(engine, NOON, vox, inventory_items())
    later = NOON + timedelta(hours=1)
    run_id = add_run(engine, "vox-main", later, "succeeded", complete=False, error="drift")
    add_run(engine, "vox-main", later + timedelta(minutes=5), "running")
    report = account_status(engine, Config(accounts=[vox]), now=later + timedelta(minutes=10))
    (status,) = report.accounts
    assert status.last_success is not None
    assert status.last_success.finished_at == NOON
    assert status.last_failure is not None
    assert status.last_failure.run_id == run_id
    assert status.running is not None


# -- the command -------------------------------------------------------------------------


def write_config(tmp_path: Path, url: str, schedule: str = "every 1h") -> Path:
    path = tmp_path / "syncer.toml"
    path.write_text(
        f'database_url = "{url}"\n\n'
        "[[accounts]]\n"
        'name = "vox-main"\n'
        'provider = "tryvox"\n'
        'account_id = "acc_1"\n'
        'api_key_env = "TRYVOX_KEY_NOT_SET_ANYWHERE"\n'
        f'schedule = "{schedule}"\n'
    )
    return path


def status_command(config: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["status", "--config", str(config), *args])


def test_status_exit_codes(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path, sqlite_url)
    never = status_command(config, "--format", "json")
    assert never.exit_code == 1, never.output
    body = json.loads(never.output)
    assert body["healthy"] is False
    assert body["accounts"][0]["problem"] == "never synced successfully"

    engine = make_engine(sqlite_url)
    try:
        sync_at(engine, datetime.now(UTC) - timedelta(hours=2), vox_config(), inventory_items())
    finally:
        engine.dispose()
    healthy = status_command(config)
    assert healthy.exit_code == 0, healthy.output
    assert "vox-main" in healthy.output
    assert "active=10 suspended=2" in healthy.output
    assert "USD 16.70" in healthy.output
    stale = status_command(config, "--max-age", "90m", "--format", "json")
    assert stale.exit_code == 1
    (account,) = json.loads(stale.output)["accounts"]
    assert account["max_age_seconds"] == 5400
    assert account["run_rate"] == [{"currency": "USD", "numbers": 12, "monthly_fee_total": "16.70"}]
    assert account["numbers"] == {"active": 10, "suspended": 2}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-age", "soon"], "not a duration"),
        (["--account", "nope"], "no such account in the config: nope"),
    ],
)
def test_status_usage_errors_exit_2(
    tmp_path: Path, sqlite_url: str, args: list[str], message: str
) -> None:
    result = status_command(write_config(tmp_path, sqlite_url), *args)
    assert result.exit_code == 2
    assert message in result.output


def test_status_of_a_database_without_tables_exits_2(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    result = status_command(write_config(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}"))
    assert result.exit_code == 2
    assert "run `syncer db upgrade` first" in result.output


# -- in a terminal -------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def run_in_pty(argv: list[str], columns: int, timeout: float = 60.0) -> tuple[int, str]:
    """Run `argv` with a pseudo-terminal of `columns` columns as its stdout and stderr; its
    exit code and what it drew, without escape sequences."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                process.kill()
                raise TimeoutError(f"{argv} printed nothing for {timeout}s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        code = process.wait(timeout=timeout)
    finally:
        os.close(master)
    return code, ANSI.sub("", output.decode("utf-8", "replace"))


@pytest.mark.parametrize("columns", [80, 200])
def test_status_in_a_terminal_keeps_every_identifying_column(
    tmp_path: Path, sqlite_url: str, columns: int
) -> None:
    long_name = vox_config("tryvox-production-eu")
    path = tmp_path / "syncer.toml"
    path.write_text(
        f'database_url = "{sqlite_url}"\n\n'
        + "\n".join(
            "[[accounts]]\n"
            f'name = "{account.name}"\nprovider = "tryvox"\naccount_id = "acc_1"\n'
            'api_key_env = "TRYVOX_KEY_NOT_SET_ANYWHERE"\nschedule = "every 1h"\n'
            for account in (vox_config(), long_name)
        )
    )
    engine = make_engine(sqlite_url)
    try:
        two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
        for account in (vox_config(), long_name):
            sync_at(engine, two_hours_ago, account, inventory_items())
    finally:
        engine.dispose()

    code, screen = run_in_pty(
        [sys.executable, "-m", "syncer", "status", "--config", str(path)], columns
    )
    assert code == 0, screen
    for whole in ("vox-main", "tryvox-production-eu", "tryvox", "USD 16.70", "ok"):
        assert whole in screen, f"{whole!r} is not whole at {columns} columns:\n{screen}"
    assert "…" not in screen, screen
    if columns == 200:  # room for each account on one line
        assert any(
            "tryvox-production-eu" in line and "USD 16.70" in line for line in screen.splitlines()
        )


def test_status_money_is_exact_in_json_and_csv_and_rounded_only_in_the_table(
    engine: Engine,
) -> None:
    from syncer.reports.render import render_text

    vox = vox_config()
    sync_at(engine, NOON, vox, [tryvox_item(n, fee="0.0075") for n in range(3)])
    report = account_status(engine, Config(accounts=[vox]), now=NOON + timedelta(minutes=5))

    (account,) = json.loads(render_text(report, "json"))["accounts"]
    assert account["run_rate"] == [{"currency": "USD", "numbers": 3, "monthly_fee_total": "0.0225"}]
    header, row = render_text(report, "csv").splitlines()
    fields = dict(zip(header.split(","), row.split(","), strict=True))
    assert fields["numbers_active"] == "3"
    assert (fields["currency"], fields["monthly_fee_total"]) == ("USD", "0.0225")
    assert fields["last_success_at"] == "2026-10-01T12:00:00Z"
    assert "USD 0.02" in render_text(report, "table")  # two decimals, half away from zero
