"""syncer's benchmark: sync times against the floor and dlt, memory, and page concurrency.

    python benchmarks/run.py                      # the whole matrix (see benchmarks/README.md)
    python benchmarks/run.py --sizes 10000 --backends sqlite --runs 3 --no-dlt

For each size, a `syncer simulate` subprocess serves a world of that many numbers (half per
provider, `--accounts` accounts each), started afresh per backend so both backends list the
same world. Every figure is a whole process, timed from outside (wall seconds, CPU seconds and
peak RSS from `os.wait4`), and each is the median of `--runs` rounds. A round is:

1. `syncer sync` into an empty database (initial), then the prototype (`prototype.py`, a bare
   sync with syncer's per-item work and nothing else) into another, then the floor into an
   empty table;
2. `syncer sync` again (nothing changed), the prototype again, then the fetch-only floor;
3. 5% churn in the simulator (status, fees, releases, additions), then `syncer sync` and the
   prototype.

After each job of the prototype, both databases' rows are compared (`prototype.digest`): its
figures count only if it wrote what syncer wrote.

Ratios are taken within a round (the pair ran seconds apart) and their median reported. With
dlt installed (the `bench` extra) and not `--no-dlt`, dlt does the same three jobs in
`--dlt-runs` rounds. Finally, with 50 ms latency injected per request, one TryVox account of
10,000 numbers is listed at concurrency 1, 4 and 8. Prints one table and writes all figures
(every run, not just medians) as JSON.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
SYNCER = [sys.executable, "-m", "syncer"]
DEFAULT_SIZES = (10_000, 200_000)
CONCURRENCY_LEVELS = (1, 4, 8)
LATENCY_MS = 50
LISTING_NUMBERS = 20_000  # with one account per provider: 10,000 TryVox numbers, 100 pages


@dataclass
class Run:
    """One whole process: wall and CPU seconds, peak resident memory."""

    wall: float
    cpu: float
    max_rss_mb: float
    output: str = ""


@dataclass
class Cell:
    """The runs of one measurement, e.g. syncer's initial sync of 100k numbers on SQLite."""

    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(run.wall for run in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(run.cpu for run in self.runs)


def digest(database: str) -> dict[str, str]:
    """`prototype.digest` of a database, computed in a process of its own: a child's peak RSS
    (`ru_maxrss`) starts from this process's own at the fork, so this one stays small."""
    command = [sys.executable, str(HERE / "prototype.py"), "--digest", "-", "-", database]
    found: dict[str, str] = json.loads(run_process(command).output)
    return found


def run_process(command: Sequence[str], env: dict[str, str] | None = None) -> Run:
    """Run `command` to its end; its own wall time, CPU time and peak RSS."""
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}:\n{output[-3000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


# -- the simulator --------------------------------------------------------------------------


class Simulator:
    """`serve.py` in a subprocess (its CPU is not counted in anyone's figures)."""

    def __init__(
        self, numbers: int, seed: int, accounts: int, weights: str, faults: str | None = None
    ) -> None:
        command = [sys.executable, str(HERE / "serve.py"), "--numbers", str(numbers)]
        command += ["--seed", str(seed), "--accounts", str(accounts), "--weights", weights]
        if faults:
            command += ["--faults", faults]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the simulator stopped before serving")
        banner = json.loads(line)
        self.url = banner["url"]
        self.keys = banner["keys"]
        self.config_toml = banner["config_toml"]
        self.accounts = banner["accounts"]

    def admin(self, method: str, what: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.url}/_sim/{what}", json=body, timeout=120)
        return response.raise_for_status().json()

    def churn(self, fraction: float, seed: int) -> None:
        self.admin("POST", "churn", {"fraction": fraction, "seed": seed})

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def simulator(
    numbers: int, seed: int, accounts: int, weights: str, faults: str | None = None
) -> Iterator[Any]:
    sim = Simulator(numbers, seed, accounts, weights, faults)
    try:
        yield sim
    finally:
        sim.stop()


# -- databases --------------------------------------------------------------------------------


class Backend:
    """Empty databases on demand: `url(name)` for SQLAlchemy/syncer, `dbapi(name)` for scripts."""

    def __init__(self, name: str, workdir: Path, admin_url: str | None) -> None:
        self.name = name
        self.workdir = workdir
        self.admin_url = admin_url

    def reset(self, database: str) -> None:
        if self.name == "sqlite":
            for path in self.workdir.glob(f"{database}.db*"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            return
        import psycopg

        assert self.admin_url is not None
        with psycopg.connect(self.admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{database}"')

    def url(self, database: str) -> str:
        if self.name == "sqlite":
            return f"sqlite:///{self.workdir / database}.db"
        assert self.admin_url is not None
        base = self.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        return f"{base}/{database}"

    def dbapi(self, database: str) -> str:
        if self.name == "sqlite":
            return str(self.workdir / f"{database}.db")
        return self.url(database).replace("postgresql+psycopg://", "postgresql://")


# -- one size on one backend --------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.largest = max(int(size) for size in args.sizes.split(","))

    def syncer_env(self, sim: Simulator, backend: Backend) -> dict[str, str]:
        return dict(os.environ, **sim.keys, SYNCER_DATABASE_URL=backend.url("syncer_bench"))

    def measure(self, size: int, backend: Backend) -> dict[str, Any]:
        cells: dict[str, Cell] = {}

        def add(name: str, run: Run) -> Run:
            cells.setdefault(name, Cell()).runs.append(run)
            return run

        ratios: dict[str, list[float]] = {"initial": [], "unchanged": [], "change": []}
        same_rows: dict[str, list[bool]] = {}
        prototype = self.args.prototype
        with simulator(size, self.args.seed, self.args.accounts, self.args.weights) as sim:
            config = self.workdir / "syncer.toml"
            config.write_text(sim.config_toml + "\n")
            accounts = self.workdir / "accounts.json"
            accounts.write_text(json.dumps(sim.accounts))
            env = self.syncer_env(sim, backend)
            sync = [*SYNCER, "sync", "--config", str(config)]
            floor = [sys.executable, str(HERE / "floor.py"), str(accounts)]
            target = backend.dbapi("prototype_bench")
            bare_sync = [sys.executable, str(HERE / "prototype.py"), str(config), str(accounts)]
            bare_sync.append(target)
            if backend.name == "sqlite":
                bare_sync.append("--writer-process")

            def bare(job: str) -> Run:
                """The prototype's run of `job`, and whether it wrote what syncer wrote."""
                found = add(f"prototype_{job}", run_process(bare_sync, env))
                ours, its = digest(backend.dbapi("syncer_bench")), digest(target)
                same_rows.setdefault(job, []).append(ours == its)
                if ours != its:
                    print(f"  the prototype's {job} rows differ: {ours} {its}", file=sys.stderr)
                return found

            for round_number in range(1, self.args.runs + 1):
                backend.reset("syncer_bench")
                run_process([*SYNCER, "db", "upgrade"], env)
                initial = add("initial", run_process(sync, env))
                if prototype:
                    backend.reset("prototype_bench")
                    url = backend.url("prototype_bench")
                    run_process([*SYNCER, "db", "upgrade"], env | {"SYNCER_DATABASE_URL": url})
                    bare("initial")
                backend.reset("floor_bench")
                least = add("floor", run_process([*floor, backend.dbapi("floor_bench")]))
                ratios["initial"].append(initial.wall / least.wall)
                unchanged = add("unchanged", run_process(sync, env))
                if prototype:
                    bare("unchanged")
                fetch = add("fetch_only", run_process([*floor, "--fetch-only"]))
                ratios["unchanged"].append(unchanged.wall / fetch.wall)
                sim.churn(0.05, seed=round_number)
                changed = add("change", run_process(sync, env))
                ratios["change"].append(changed.wall / fetch.wall)
                if prototype:
                    bare("change")
                    for job, base in (("initial", least), ("unchanged", fetch), ("change", fetch)):
                        key = f"prototype_{job}"
                        ratios.setdefault(key, []).append(cells[key].runs[-1].wall / base.wall)
                self.progress(size, backend, round_number, cells)
            if self.args.dlt and size <= self.args.dlt_max_numbers:
                self.measure_dlt(sim, backend, accounts, add)
            at_once = {}
            if backend.name == "postgresql" and self.args.concurrency and size == self.largest:
                at_once = self.accounts_at_once(sim, backend, env)
        result: dict[str, Any] = {
            "numbers": size,
            "backend": backend.name,
            "cells": {
                name: [asdict(run) | {"output": ""} for run in cell.runs]
                for name, cell in cells.items()
            },
            "median": {name: cell.median for name, cell in cells.items()},
            "cpu": {name: cell.cpu for name, cell in cells.items()},
            "ratio": {name: statistics.median(values) for name, values in ratios.items()},
            "peak_rss_mb": max(
                run.max_rss_mb
                for name in ("initial", "unchanged", "change")
                for run in cells[name].runs
            ),
        }
        if at_once:
            result["accounts_at_once"] = at_once
        if same_rows:
            result["prototype_same_rows"] = same_rows
            result["prototype_peak_rss_mb"] = max(
                run.max_rss_mb
                for name in cells
                if name.startswith("prototype_")
                for run in cells[name].runs
            )
        if "dlt_initial" in cells:
            for job in ("initial", "unchanged", "change"):
                result["ratio"][f"dlt_{job}"] = cells[f"dlt_{job}"].median / cells[job].median
        return result

    def accounts_at_once(
        self, sim: Simulator, backend: Backend, env: dict[str, str]
    ) -> dict[str, dict[str, Any]]:
        """Initial and unchanged syncs with the accounts one at a time and all at once
        (`parallel_accounts`), one round each: what concurrent accounts buy on PostgreSQL."""
        found: dict[str, dict[str, Any]] = {}
        for parallel in (1, 4):
            config = self.workdir / f"parallel-{parallel}.toml"
            config.write_text(f"parallel_accounts = {parallel}\n{sim.config_toml}\n")
            sync = [*SYNCER, "sync", "--config", str(config)]
            backend.reset("syncer_bench")
            run_process([*SYNCER, "db", "upgrade"], env)
            initial = run_process(sync, env)
            unchanged = run_process(sync, env)
            found[str(parallel)] = {
                "initial": asdict(initial) | {"output": ""},
                "unchanged": asdict(unchanged) | {"output": ""},
            }
            print(
                f"  {parallel} account(s) at once: initial {initial.wall:.2f}s, "
                f"unchanged {unchanged.wall:.2f}s",
                file=sys.stderr,
            )
        return found

    def measure_dlt(self, sim: Simulator, backend: Backend, accounts: Path, add: Any) -> None:
        job = [sys.executable, str(HERE / "dlt_job.py"), str(accounts)]
        for round_number in range(1, self.args.dlt_runs + 1):
            backend.reset("dlt_bench")
            pipelines = self.workdir / "dlt_pipelines"
            shutil.rmtree(pipelines, ignore_errors=True)
            command = [*job, backend.dbapi("dlt_bench"), str(pipelines)]
            add("dlt_initial", run_process(command))
            add("dlt_unchanged", run_process(command))
            sim.churn(0.05, seed=100 + round_number)
            add("dlt_change", run_process(command))
            print(f"  dlt round {round_number} done", file=sys.stderr)

    def progress(
        self, size: int, backend: Backend, round_number: int, cells: dict[str, Cell]
    ) -> None:
        figures = ", ".join(f"{name} {cell.runs[-1].wall:.2f}s" for name, cell in cells.items())
        print(f"  {size} {backend.name} round {round_number}: {figures}", file=sys.stderr)

    def concurrency(self) -> dict[str, Any]:
        """TryVox listing time at each concurrency level, 50 ms latency per request."""
        faults = f"latency_ms={LATENCY_MS}"
        seconds: dict[int, list[float]] = {level: [] for level in CONCURRENCY_LEVELS}
        with simulator(LISTING_NUMBERS, self.args.seed, 1, "1", faults) as sim:
            config = self.workdir / "listing.toml"
            config.write_text(sim.config_toml + "\n")
            env = dict(os.environ, **sim.keys)
            for _ in range(self.args.runs):
                for level in CONCURRENCY_LEVELS:
                    command = [sys.executable, str(HERE / "listing.py"), str(config), "tryvox-1"]
                    run = run_process([*command, str(level)], env)
                    seconds[level].append(
                        json.loads(run.output.strip().splitlines()[-1])["seconds"]
                    )
        medians = {level: statistics.median(values) for level, values in seconds.items()}
        return {
            "latency_ms": LATENCY_MS,
            "numbers": LISTING_NUMBERS // 2,
            "seconds": {str(level): values for level, values in seconds.items()},
            "median": {str(level): value for level, value in medians.items()},
            "speedup": {str(level): medians[1] / value for level, value in medians.items()},
        }


# -- the report ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "system": f"{platform.system()} {platform.release()}",
    }


def uptime() -> str:
    """`uptime`'s line: how long the machine has been up and its load averages."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def table(report: dict[str, Any]) -> str:
    """The results as a Markdown table (medians; wall seconds, CPU seconds in brackets)."""
    header = [
        "numbers",
        "db",
        "initial s",
        "floor s",
        "init/floor",
        "unchanged s",
        "fetch-only s",
        "unch/fetch",
        "5% change s",
        "5%/fetch",
        "dlt initial s",
        "dlt unch. s",
        "dlt 5% s",
        "dlt/syncer initial",
        "peak RSS MB",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|---|" + "---:|" * (len(header) - 2)]
    for result in report["results"]:
        med, cpu, ratio = result["median"], result["cpu"], result["ratio"]

        def seconds(name: str, med: dict[str, float] = med, cpu: dict[str, float] = cpu) -> str:
            return "" if name not in med else f"{med[name]:.2f} ({cpu[name]:.2f})"

        row = [
            f"{result['numbers']:,}",
            result["backend"],
            seconds("initial"),
            seconds("floor"),
            fmt_ratio(ratio["initial"]),
            seconds("unchanged"),
            seconds("fetch_only"),
            fmt_ratio(ratio["unchanged"]),
            seconds("change"),
            fmt_ratio(ratio["change"]),
            seconds("dlt_initial"),
            seconds("dlt_unchanged"),
            seconds("dlt_change"),
            fmt_ratio(ratio.get("dlt_initial")),
            f"{result['peak_rss_mb']:.0f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines += prototype_table(report["results"])
    lines += memory_lines(report["results"])
    for result in report["results"]:
        if "accounts_at_once" in result:
            runs = result["accounts_at_once"]
            figures = "; ".join(
                f"{level} at once: initial {r['initial']['wall']:.2f} s "
                f"(CPU {r['initial']['cpu']:.2f}, {r['initial']['max_rss_mb']:.0f} MB), "
                f"unchanged {r['unchanged']['wall']:.2f} s ({r['unchanged']['max_rss_mb']:.0f} MB)"
                for level, r in runs.items()
            )
            lines.append(
                f"Accounts at once on {result['backend']}, {result['numbers']:,} numbers "
                f"(one round): {figures}"
            )
    if report.get("concurrency"):
        c = report["concurrency"]
        levels = ", ".join(
            f"{level}: {c['median'][level]:.2f} s ({c['speedup'][level]:.2f}x)"
            for level in c["median"]
        )
        lines.append(
            f"TryVox listing of {c['numbers']:,} numbers at {c['latency_ms']} ms latency per "
            f"request, by concurrency: {levels}"
        )
    return "\n".join(lines)


def prototype_table(results: list[dict[str, Any]]) -> list[str]:
    """The prototype's figures beside syncer's, and whether it wrote the same rows."""
    mine = [result for result in results if "prototype_same_rows" in result]
    if not mine:
        return []
    header = "| numbers | db | job | syncer s | prototype s | floor s | syncer/floor | "
    header += "prototype/floor | same rows |"
    lines = [header, "|---|---|---|" + "---:|" * 5 + "---|"]
    for result in mine:
        med, cpu, ratio = result["median"], result["cpu"], result["ratio"]
        for job, base in (
            ("initial", "floor"),
            ("unchanged", "fetch_only"),
            ("change", "fetch_only"),
        ):
            same = result["prototype_same_rows"][job]
            row = [
                f"{result['numbers']:,}",
                result["backend"],
                {"change": "5% change"}.get(job, job),
                f"{med[job]:.2f} ({cpu[job]:.2f})",
                f"{med['prototype_' + job]:.2f} ({cpu['prototype_' + job]:.2f})",
                f"{med[base]:.2f} ({cpu[base]:.2f})" + ("" if base == "floor" else " fetch-only"),
                fmt_ratio(ratio[job]),
                fmt_ratio(ratio["prototype_" + job]),
                "yes" if all(same) else f"NO ({same.count(False)} of {len(same)} runs differ)",
            ]
            lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for result in mine:
        line = (
            f"Prototype on {result['backend']} at {result['numbers']:,} numbers: peak RSS "
            f"{result['prototype_peak_rss_mb']:.0f} MB (syncer's {result['peak_rss_mb']:.0f})"
        )
        if "dlt_initial" in result["median"]:
            dlt = result["median"]["dlt_initial"] / result["median"]["prototype_initial"]
            line += f"; dlt's initial / the prototype's: {dlt:.2f}x"
        lines.append(line)
    lines += memory_lines(mine, key="prototype_peak_rss_mb", who="the prototype")
    lines.append("")
    return lines


def memory_lines(
    results: list[dict[str, Any]], key: str = "peak_rss_mb", who: str = "syncer"
) -> list[str]:
    """Peak RSS of the largest world against the smallest, per database."""
    lines = []
    for backend in dict.fromkeys(result["backend"] for result in results):
        mine = sorted((r["numbers"], r[key]) for r in results if r["backend"] == backend)
        if len(mine) > 1:
            (small, low), (large, high) = mine[0], mine[-1]
            lines.append(
                f"Peak RSS of {who} on {backend}: {high:.0f} MB at {large:,} numbers, "
                f"{low:.0f} MB at {small:,}: {high / low:.2f}x"
            )
    return lines


def compile_syncer() -> None:
    """Write syncer's bytecode, as `pip install` does. From a checkout (an editable install),
    Python writes it at the first run, unless `PYTHONDONTWRITEBYTECODE` is set: then every
    timed process would compile syncer's modules again (about 0.3 s of CPU here)."""
    import syncer

    compileall.compile_dir(Path(syncer.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, DEFAULT_SIZES)),
        help="numbers in the world, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="sqlite and/or postgresql (default: %(default)s)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SYNCER_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL database to create the benchmark databases from "
        "(default: $SYNCER_BENCH_POSTGRES_URL, else %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=3, help="rounds per figure (default: 3)")
    parser.add_argument("--dlt-runs", type=int, default=1, help="rounds of dlt (default: 1)")
    parser.add_argument("--no-dlt", dest="dlt", action="store_false", help="skip dlt")
    parser.add_argument(
        "--no-prototype", dest="prototype", action="store_false", help="skip the prototype"
    )
    parser.add_argument(
        "--dlt-max-numbers",
        type=int,
        default=10**9,
        help="run dlt only on worlds up to this size (default: every size)",
    )
    parser.add_argument(
        "--no-concurrency",
        dest="concurrency",
        action="store_false",
        help="skip the TryVox concurrency measurement",
    )
    parser.add_argument("--accounts", type=int, default=2, help="accounts per provider (2)")
    parser.add_argument(
        "--weights",
        default="4,1",
        help="relative sizes of a provider's accounts (default %(default)s: 80k and 20k "
        "of each provider's 100k at 200,000 numbers)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the worlds (1)")
    parser.add_argument("--json", default="benchmarks/results.json", help="where to write JSON")
    parser.add_argument("--workdir", help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    if args.dlt:
        try:
            import dlt  # noqa: F401
        except ImportError:
            parser.error("dlt is not installed: pip install -e '.[bench]', or pass --no-dlt")

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="syncer-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    compile_syncer()
    bench = Bench(args, workdir)
    report: dict[str, Any] = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "load_before": os.getloadavg(),
        "uptime_before": uptime(),
        "settings": {k: v for k, v in vars(args).items() if k != "postgres_url"},
        "results": [],
    }
    sizes = [int(size) for size in args.sizes.split(",")]
    backends = [Backend(name, workdir, args.postgres_url) for name in args.backends.split(",")]
    for size in sizes:
        for backend in backends:
            print(f"{size} numbers on {backend.name}", file=sys.stderr)
            report["results"].append(bench.measure(size, backend))
    if args.concurrency:
        report["concurrency"] = bench.concurrency()
    report["load_after"] = os.getloadavg()
    report["uptime_after"] = uptime()
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"machine: {report['machine']}")
    print(f"before: {report['uptime_before']}")
    print(f"after:  {report['uptime_after']}")
    print(f"command: {' '.join(['python', 'benchmarks/run.py', *sys.argv[1:]])}")
    print(table(report))
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
