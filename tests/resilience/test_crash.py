"""Crash safety: `syncer sync` SIGKILLed at many points leaves a consistent database, and the
next run converges to the truth. SQLite and PostgreSQL.

One database lives through a sequence of rounds. In each, the simulated world may change,
then a `syncer sync` subprocess is killed: either from outside once the simulator has served
N requests (pages are slowed to make that land mid-listing), or by itself right after its Nth
write statement (`tests.resilience.crashpoint`), which puts the kill inside a transaction:
the run's opening, a page, the closing of changed versions, a release batch, the run's end.
After every kill the invariants must hold; after the last, a clean run must exit 0 and leave
the database equal to the simulator's inventory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from syncer.config import load_config
from syncer.simulator import SimulatorServer, World, parse_faults
from syncer.store.engine import make_engine
from tests.invariants import assert_history_invariants, running_runs
from tests.resilience.conftest import config_toml, runs
from tests.truth import assert_mirror, assert_no_false_release, expected_mirror

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60.0
INTERRUPTED = "interrupted: the process running this sync stopped before it finished"


@dataclass(frozen=True)
class Kill:
    """Where to kill one run: once `requests` were served, or right after its `writes`th write
    statement (counting those whose SQL holds `statement` and whose bound values hold `value`).
    `churn` changes the world before the run."""

    where: str
    requests: int | None = None
    writes: int | None = None
    statement: str | None = None
    value: str | None = None
    churn: bool = False


PLAN = [
    Kill("after the first request", requests=1),
    Kill("inside the transaction that opens a run", writes=1),
    Kill("at the third write: a run's opening or its first page", writes=3),
    Kill("after 4 requests", requests=4),
    Kill("at the 9th write, inside a later page", writes=9),
    None,  # a run to the end: the database must equal the truth
    Kill("after 2 requests of a changed world", requests=2, churn=True),
    Kill(
        "while closing the versions of changed numbers",
        writes=1,
        statement="UPDATE phone_number_versions",
        churn=True,
    ),
    Kill(
        "inside a release batch: numbers marked released, their versions not yet",
        writes=1,
        statement="UPDATE phone_numbers",
        value="released",
        churn=True,
    ),
    Kill(
        "inside a release batch: versions written, before the commit",
        writes=1,
        statement=" status_changes ",  # an INSERT, or a COPY on PostgreSQL
        value="released",
        churn=True,
    ),
    Kill(
        "while recording the end of a run",
        writes=1,
        statement="UPDATE sync_runs",
        value="succeeded",
    ),
    Kill("after 5 requests of a changed world", requests=5, churn=True),
    Kill("at the 14th write of a changed world, deep in the pages", writes=14, churn=True),
    None,
]


def syncer_process(config: Path, env: dict[str, str], kill: Kill | None) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    environ.update(env)
    if kill is not None and kill.writes is not None:
        environ["CRASH_AFTER_WRITES"] = str(kill.writes)
        environ["CRASH_STATEMENT"] = kill.statement or ""
        environ["CRASH_VALUE"] = kill.value or ""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.resilience.crashpoint", "--config", str(config), "sync"],
        cwd=REPO,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_after_requests(process: subprocess.Popen[str], server: SimulatorServer, n: int) -> None:
    deadline = time.monotonic() + DEADLINE
    while process.poll() is None and time.monotonic() < deadline:
        if sum(server.stats()["requests_total"].values()) >= n:
            process.kill()
            return
        time.sleep(0.002)


def wait_for_locks_to_go(engine: Engine) -> None:
    """PostgreSQL drops a dead client's advisory locks once it notices the closed socket."""
    if engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + DEADLINE
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if not connection.execute(query).scalar():
                return
        time.sleep(0.01)
    raise AssertionError("a killed process's account locks were never released")


def assert_one_running_run_at_most_the_newest(engine: Engine) -> None:
    """A run left `running` by a killed process is closed by the next run of its account."""
    by_account = defaultdict(list)
    for run in runs(engine):
        by_account[run["account"]].append(run)
    for account, history in by_account.items():
        for run in history[:-1]:
            assert run["status"] != "running", f"{account}: stale run {run['id']} still running"
            if run["status"] == "failed" and run["finished_at"] is not None:
                assert run["error"], f"{account}: failed run {run['id']} without its error"


def converge(config: Path, env: dict[str, str], engine: Engine, world: World) -> None:
    """A run to the end exits 0 and leaves the database equal to the truth."""
    process = syncer_process(config, env, None)
    stdout, stderr = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, stdout + stderr
    assert_history_invariants(engine)
    assert_mirror(engine, expected_mirror(world.inventory(), load_config(config, environ={})))
    assert running_runs(engine) == 0


def test_sigkill_at_many_points_leaves_a_consistent_database(
    backend_url: str, tmp_path: Path
) -> None:
    world = World.generate(numbers=600, seed=21, accounts_per_provider=1)
    engine = make_engine(backend_url)
    survived: list[str] = []
    try:
        with SimulatorServer(world, faults=parse_faults("latency_ms=25")) as server:
            toml, env = config_toml(backend_url, server.url, world)
            config = tmp_path / "syncer.toml"
            config.write_text(toml)
            for number, kill in enumerate(PLAN, start=1):
                if kill is None:
                    converge(config, env, engine, world)
                    continue
                if kill.churn:
                    world.churn(fraction=0.06, seed=number)
                server.reset_stats()
                process = syncer_process(config, env, kill)
                if kill.requests is not None:
                    kill_after_requests(process, server, kill.requests)
                stdout, stderr = process.communicate(timeout=DEADLINE)
                assert process.returncode == -signal.SIGKILL, (
                    f"step {number} ({kill.where}) was not killed: exit {process.returncode}, "
                    f"{stdout}{stderr[-500:]}"
                )
                wait_for_locks_to_go(engine)
                assert_history_invariants(engine)
                assert_no_false_release(engine, world.inventory())
                assert_one_running_run_at_most_the_newest(engine)
                survived.append(kill.where)
        closed = [run for run in runs(engine) if run["error"] == INTERRUPTED]
        assert closed, "no run was left running by a kill"
        assert all(run["status"] == "failed" and run["finished_at"] for run in closed)
        print(
            f"{engine.dialect.name}: {len(survived)} kills survived, each followed by consistent "
            f"invariants; {len(closed)} runs left running were closed as interrupted"
        )
    finally:
        engine.dispose()
