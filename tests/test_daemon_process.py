"""`syncer daemon` as a real process against the simulator: schedules, real signals, replicas,
a kill mid-run, the metrics endpoint and `syncer status` afterwards.

Each test starts the simulator in this process and one or two daemons as subprocesses with
`every 1s` schedules, waits on the database or on log lines (never on the clock), and stops
them with a real SIGTERM (or SIGKILL).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from itertools import combinations
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from syncer.cli import main
from syncer.simulator import SimAccount, SimulatorServer, World, parse_faults
from syncer.store.engine import make_engine
from syncer.store.locks import account_lock
from syncer.store.models import PhoneNumber, SyncRun
from tests.invariants import assert_history_invariants, running_runs

pytestmark = pytest.mark.slow

WAIT = 60.0  # seconds any awaited condition may take before the test fails


class DaemonProcess:
    """`python -m syncer --log-format json daemon ...`, its log lines collected as they come."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        command = [sys.executable, "-m", "syncer", "--log-format", "json", "daemon"]
        self.process = subprocess.Popen(
            [*command, "--config", str(config), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,))
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def entries(self) -> list[dict[str, Any]]:
        """The JSON log lines (anything else, such as a traceback, is left out)."""
        parsed = []
        for line in list(self.lines):
            try:
                parsed.append(json.loads(line))
            except ValueError:
                continue
        return parsed

    def wait_for_line(self, pattern: str) -> re.Match[str]:
        regex = re.compile(pattern)
        with self._changed:
            matched = self._changed.wait_for(
                lambda: (
                    next((m for m in map(regex.search, self.lines) if m), None)
                    or self.process.poll() is not None
                ),
                timeout=WAIT,
            )
            match = next((m for m in map(regex.search, self.lines) if m), None)
        assert match is not None, f"no log line matching {pattern!r} ({matched=}):\n{self.log()}"
        return match

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=WAIT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._reader.join(timeout=WAIT)
        return code

    def log(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def world() -> World:
    return World.generate(numbers=240, seed=4, accounts_per_provider=2)


@pytest.fixture
def simulator(world: World) -> Iterator[SimulatorServer]:
    with SimulatorServer(world) as server:
        yield server


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def env_var(account: SimAccount) -> str:
    return account.name.upper().replace("-", "_") + "_KEY"


def write_config(
    path: Path,
    db_url: str,
    base_url: str,
    accounts: list[SimAccount],
    schedule: str = "every 1s",
    bad_keys: tuple[str, ...] = (),
) -> tuple[Path, dict[str, str]]:
    """A syncer.toml for the simulated accounts, and an environment holding their keys."""
    lines = [f'database_url = "{db_url}"']
    env = dict(os.environ)
    for account in accounts:
        lines += ["", "[[accounts]]", f'name = "{account.name}"']
        lines += [f'provider = "{account.provider}"', f'base_url = "{base_url}"']
        if account.account_id is not None:
            lines.append(f'account_id = "{account.account_id}"')
        lines += [f'api_key_env = "{env_var(account)}"', f'schedule = "{schedule}"']
        if account.provider == "ringyo":
            lines.append('fees = { default = "1.00", US = "1.15" }')
        env[env_var(account)] = "rk_refused_key" if account.name in bad_keys else account.api_key
    path.write_text("\n".join(lines) + "\n")
    return path, env


def runs(engine: Engine, account: str | None = None) -> list[Any]:
    query = select(SyncRun).order_by(SyncRun.started_at, SyncRun.id)
    if account is not None:
        query = query.where(SyncRun.account == account)
    with engine.connect() as connection:
        return list(connection.execute(query).all())


def succeeded(engine: Engine, account: str) -> int:
    return sum(1 for run in runs(engine, account) if run.status == "succeeded")


def numbers_of(engine: Engine, account: str) -> int:
    with engine.connect() as connection:
        count = connection.execute(
            select(func.count()).select_from(PhoneNumber).where(PhoneNumber.account == account)
        ).scalar()
    return int(count or 0)


def wait_until(condition: Callable[[], bool], what: str, daemon: DaemonProcess) -> None:
    done = threading.Event()
    timer = threading.Timer(WAIT, done.set)
    timer.start()
    try:
        while not done.is_set():
            if condition():
                return
            assert daemon.process.poll() is None, f"the daemon exited:\n{daemon.log()}"
            done.wait(0.1)
    finally:
        timer.cancel()
    raise AssertionError(f"timed out waiting for {what}:\n{daemon.log()}")


def scrape(url: str) -> dict[str, list[Any]]:
    text = httpx.get(url, timeout=10).text
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def status(config: Path, *args: str) -> Any:
    """`syncer status`, in this process (it needs no API keys, so no environment)."""
    return CliRunner().invoke(main, ["status", "--config", str(config), *args])


def test_daemon_runs_every_account_on_schedule_and_stops_on_sigterm(
    tmp_path: Path, db_url: str, engine: Engine, world: World, simulator: SimulatorServer
) -> None:
    config, env = write_config(tmp_path / "syncer.toml", db_url, simulator.url, world.accounts)
    daemon = DaemonProcess(config, env, "--metrics-port", "0")
    url = daemon.wait_for_line(r"serving metrics at (http://\S+/metrics)").group(1)
    names = [account.name for account in world.accounts]
    wait_until(
        lambda: all(succeeded(engine, name) >= 2 for name in names),
        "two successful runs of every account",
        daemon,
    )
    families = scrape(url)
    assert daemon.stop(signal.SIGTERM) == 0, daemon.log()

    assert running_runs(engine) == 0
    assert_history_invariants(engine)
    for account in world.accounts:
        assert numbers_of(engine, account.name) == len(world.numbers_of(account.name))
    finished = [e for e in daemon.entries() if e.get("event") == "run_finished"]
    assert {e["account"] for e in finished} == set(names)
    assert all(isinstance(e["counts"]["seen"], int) for e in finished)
    assert not any(account.api_key in daemon.log() for account in world.accounts)
    assert daemon.entries()[-1]["message"] == "stopped"

    runs_total = {
        (s.labels["account"], s.labels["status"]): s.value for s in families["syncer_runs"]
    }
    assert all(runs_total[(name, "succeeded")] >= 2 for name in names)
    numbers = {
        s.labels["account"]: s.value
        for s in families["syncer_numbers"]
        if s.labels["status"] == "active"
    }
    assert set(numbers) == set(names)
    assert {s.labels["code"] for s in families["syncer_http_requests"]} == {"200"}

    # The default max age of an `every 1s` account is 3s: too short to test without a clock.
    healthy = status(config, "--max-age", "1h", "--format", "json")
    assert healthy.exit_code == 0, healthy.output
    assert json.loads(healthy.output)["healthy"] is True


def test_a_failing_account_does_not_stop_the_others(
    tmp_path: Path, sqlite_url: str, world: World, simulator: SimulatorServer
) -> None:
    config, env = write_config(
        tmp_path / "syncer.toml", sqlite_url, simulator.url, world.accounts, bad_keys=("ringyo-2",)
    )
    engine = make_engine(sqlite_url)
    daemon = DaemonProcess(config, env)
    try:
        wait_until(
            lambda: (
                all(succeeded(engine, a.name) >= 2 for a in world.accounts if a.name != "ringyo-2")
                and len(runs(engine, "ringyo-2")) >= 2
            ),
            "the healthy accounts to keep running while ringyo-2 fails",
            daemon,
        )
        assert daemon.stop(signal.SIGINT) == 0, daemon.log()
        refused = [r for r in runs(engine, "ringyo-2") if "stop request" not in (r.error or "")]
        assert refused
        assert all(r.status == "failed" for r in refused)
        assert all("refused the API key" in r.error for r in refused)
        assert running_runs(engine) == 0
        failing = status(config)
        assert failing.exit_code == 1
        assert "FAILING: never synced successfully" in failing.output
        assert "refused the API key" in failing.output
    finally:
        engine.dispose()


def test_two_replicas_never_sync_one_account_at_once(
    tmp_path: Path, db_url: str, engine: Engine, world: World, simulator: SimulatorServer
) -> None:
    # A run lasts a good part of its 1s interval, so the replicas' ticks keep meeting.
    simulator.set_faults(parse_faults("latency_ms=150"))
    account = world.account("tryvox-1")
    config, env = write_config(tmp_path / "syncer.toml", db_url, simulator.url, [account])
    busy = "tryvox-1: skipped: another syncer process is syncing this account right now"
    with account_lock(engine, account.name):  # a third writer, holding the account
        replicas = [DaemonProcess(config, env, "--run-now") for _ in range(2)]
        for replica in replicas:
            line = json.loads(replica.wait_for_line(re.escape(busy)).string)
            assert (line["level"], line["event"]) == ("info", "run_skipped")
    try:
        wait_until(
            lambda: succeeded(engine, account.name) >= 4,
            "four runs between the two replicas",
            replicas[0],
        )
    finally:
        codes = [replica.stop(signal.SIGTERM) for replica in replicas]
    assert codes == [0, 0], "\n---\n".join(replica.log() for replica in replicas)

    finished = runs(engine, account.name)
    assert all(run.finished_at is not None for run in finished)
    for first, second in combinations(finished, 2):
        assert first.finished_at <= second.started_at or second.finished_at <= first.started_at, (
            f"runs {first.id} and {second.id} overlap"
        )
    assert_history_invariants(engine)


def test_a_daemon_killed_mid_run_leaves_a_consistent_database(
    tmp_path: Path, db_url: str, engine: Engine, simulator: SimulatorServer
) -> None:
    world = World.generate(numbers=3000, seed=9, accounts_per_provider=1)
    with SimulatorServer(world, faults=parse_faults("latency_ms=100")) as slow:
        account = world.account("ringyo-1")  # 15 pages of 100, one at a time
        config, env = write_config(
            tmp_path / "syncer.toml", db_url, slow.url, [account], schedule="every 1h"
        )
        daemon = DaemonProcess(config, env, "--run-now")
        wait_until(
            lambda: numbers_of(engine, account.name) > 0 and running_runs(engine) == 1,
            "the run to have written some pages",
            daemon,
        )
        daemon.stop(signal.SIGKILL)
        assert running_runs(engine) == 1  # nobody could record the end of that run
        assert_history_invariants(engine)

        slow.set_faults(None)
        again = DaemonProcess(config, env, "--run-now")
        wait_until(lambda: succeeded(engine, account.name) == 1, "the next run", again)
        assert again.stop(signal.SIGTERM) == 0, again.log()
    killed, completed = runs(engine, account.name)
    assert killed.status == "failed"
    assert "interrupted: the process running this sync stopped" in killed.error
    assert completed.status == "succeeded"
    assert completed.listing_complete
    assert numbers_of(engine, account.name) == len(world.numbers_of(account.name))
    assert_history_invariants(engine)
