"""`syncer sync` on a real terminal: log lines above the live bars, nothing cut, no stale bars.

The sync runs in a pseudo-terminal of 80 columns against the simulator on loopback, which
rate-limits every 4th request (each a retry warning) and answers slowly, so the bars are
live while the warnings arrive. What a person would see afterwards, scrolling back, is
the output played through a terminal emulator (`tests.terminal.scrollback`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.simulator import SimulatorServer, World, parse_faults
from syncer.simulator.runner import config_toml, env_var
from tests.terminal import run_in_pty, scrollback

COLUMNS = 80
BAR = re.compile(r"^(\S+) +━+.* (\d+)/(\d+|\?) +(\S+) +\d+:\d\d:\d\d$")
WARNING = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING ")


@pytest.fixture
def simulated(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[SimulatorServer, dict[str, str]]]:
    world = World.generate(numbers=600, seed=5, accounts_per_provider=2)
    faults = parse_faults("latency_ms=150,rate_limit_every=4,retry_after=0")
    with SimulatorServer(world, faults=faults) as server:
        config = "\n".join(config_toml(server.url, world.accounts)).replace(
            'database_url = "sqlite:///syncer.db"', f'database_url = "{sqlite_url}"'
        )
        (tmp_path / "syncer.toml").write_text(config + "\n")
        env = {env_var(account): account.api_key for account in world.accounts}
        yield server, env


def sync_in_terminal(tmp_path: Path, env: dict[str, str], **kwargs: str) -> tuple[int, list[str]]:
    code, raw = run_in_pty(
        [sys.executable, "-m", "syncer", "sync"],
        columns=COLUMNS,
        env=env,
        cwd=str(tmp_path),
        interrupt_when=kwargs.get("interrupt_when"),
    )
    return code, scrollback(raw, COLUMNS)


def bars(lines: list[str]) -> list[tuple[str, int, str, str]]:
    found = []
    for line in lines:
        match = BAR.match(line)
        if match:
            found.append((match[1], int(match[2]), match[3], match[4]))
    return found


@pytest.mark.slow
def test_retry_warnings_print_above_the_bars_whole(
    tmp_path: Path, simulated: tuple[SimulatorServer, dict[str, str]]
) -> None:
    server, env = simulated
    code, lines = sync_in_terminal(tmp_path, env)
    assert code == 0, "\n".join(lines)
    assert max(len(line) for line in lines) <= COLUMNS
    # one 429 from the simulator, one warning on the screen, every word of it there
    limited = sum(codes.get("429", 0) for codes in server.stats()["requests"].values())
    assert limited > 0
    text = "\n".join(lines)
    warnings = re.findall(
        r"WARNING (\S+): HTTP 429 from \w+\s+at\s+\S+,\s+retrying\s+in\s+[\d.]+s\s+\(attempt",
        text,
    )
    assert len(warnings) == limited, text
    # the bars are drawn once, at the end, full; no stale copy above them
    drawn = bars(lines)
    assert sorted(name for name, *_ in drawn) == sorted(env_name_accounts(env)), text
    assert all(done == int(total) and note == "done" for _, done, total, note in drawn), text
    assert not any(
        WARNING.match(line)
        for line in lines[lines.index(next(line for line in lines if BAR.match(line))) :]
    ), text


@pytest.mark.slow
def test_ctrl_c_leaves_each_bar_once_where_it_stopped(
    tmp_path: Path, simulated: tuple[SimulatorServer, dict[str, str]]
) -> None:
    _, env = simulated
    code, lines = sync_in_terminal(tmp_path, env, interrupt_when="WARNING")
    text = "\n".join(lines)
    assert code == 1, text
    drawn = bars(lines)
    assert sorted(name for name, *_ in drawn) == sorted(env_name_accounts(env)), text
    interrupted = [bar for bar in drawn if bar[3] == "interrupted"]
    assert interrupted, text
    for _, done, total, _ in interrupted:  # not drawn as full
        assert total == "?" or done < int(total), text
    assert "interrupted by a stop request" in text


def env_name_accounts(env: dict[str, str]) -> list[str]:
    return [name.removesuffix("_API_KEY").lower().replace("_", "-") for name in env]
