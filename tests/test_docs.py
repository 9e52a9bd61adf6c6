"""The docs stay true: the README's tour runs as pasted, the CLI reference is `--help`, and
nothing cites a file the repository does not have."""

from __future__ import annotations

import os
import re
import runpy
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]


def sh_blocks(path: Path) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def test_the_cli_reference_is_the_help_of_today() -> None:
    generator = runpy.run_path(str(ROOT / "docs" / "gen_cli.py"))
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == generator["render"](), (
        "docs/cli.md is out of date: run python docs/gen_cli.py"
    )


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150
    first = sh_blocks(README)[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].endswith("&& syncer demo")
    assert first[1].endswith("&& pytest -n 2")


def test_docs_cite_only_what_the_repository_has() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = ("PRODUCT" + ".md", "shared" + "/")  # files of the team, not of the project
    for path in tracked:
        if path.endswith((".py", ".md", ".toml", ".ini", ".cfg")) or path.startswith(".ci/"):
            text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
            assert not any(name in text for name in outside), path
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not target.startswith(("http://", "https://")):
                assert (doc.parent / target).exists(), f"{doc.name} links to {target}"
        for cited in re.findall(r"`((?:tests|syncer|docs|benchmarks|migrations)/[\w/.-]+)", text):
            file, _, test = cited.partition("::")
            assert (ROOT / file).exists(), f"{doc.name} cites {cited}"
            if test:
                name = re.split(r"[\[ ]", test.split("::")[-1])[0]
                source = (ROOT / file).read_text(encoding="utf-8")
                assert re.search(rf"def {re.escape(name)}\b", source), f"{doc.name}: {cited}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_readme_tour_runs_as_pasted(tmp_path: Path) -> None:
    """The tour block, run by bash as written, with one change: its port, so that test runs
    in parallel do not meet. `set -e` stops at the first command that fails."""
    [tour] = [block for block in sh_blocks(README) if "syncer simulate" in block]
    port = free_port()
    script = "set -e\n" + tour.replace("8799", str(port))
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    env.pop("SYNCER_DATABASE_URL", None)
    env.pop("SYNCER_CONFIG", None)
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    pid = re.search(r"Serving in the background as process (\d+)", result.stdout)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.count(": succeeded in ") == 8, result.stdout
        assert '"status_changes":' in result.stdout
        assert "Monthly-fee run-rate" in result.stdout
        assert '{"stopping":true}' in result.stdout
        assert (tmp_path / "syncer-tour" / "syncer.db").exists()
    finally:
        if pid is not None and result.returncode != 0:
            os.kill(int(pid.group(1)), signal.SIGTERM)
