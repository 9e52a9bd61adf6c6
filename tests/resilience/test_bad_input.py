"""Bad input from users: each mistake is one clear line on stderr and the right exit code,
with a traceback only under `--debug`.

Exit codes (README): 2 for usage, config and database errors, 1 when an account failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from syncer.cli import main
from syncer.store.engine import make_engine
from tests.conftest import POSTGRES_URL, prepared_server_url

ACCOUNT = """
[[accounts]]
name = "vox-main"
provider = "tryvox"
account_id = "acc_1"
api_key_env = "VOX_KEY"
base_url = "http://127.0.0.1:9"
"""
CLEAN_ENV = {"SYNCER_CONFIG": None, "SYNCER_DATABASE_URL": None, "SYNCER_DEBUG": None}
UNREACHABLE_PG = "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2"


@pytest.fixture
def invoke(keep_logging: None) -> Callable[..., Result]:
    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        environment: dict[str, str | None] = {**CLEAN_ENV, "VOX_KEY": "tvx_test_key"}
        environment.update(env or {})
        return CliRunner().invoke(main, list(args), env=environment)

    return run


def config_file(tmp_path: Path, body: str) -> str:
    path = tmp_path / "syncer.toml"
    path.write_text(body)
    return str(path)


def database(tmp_path: Path, sqlite_template: Path, revision: str | None = None) -> str:
    tmp_path.mkdir(exist_ok=True)
    path = tmp_path / "syncer.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    if revision is not None:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
        engine.dispose()
    return url


def assert_one_line(result: Result, code: int, *fragments: str) -> str:
    """The command failed with `code`, saying so in one stderr line holding `fragments`."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


# Each case: (name, config text or None, command, exit code, what the line must say).
Case = tuple[str, str, list[str], int, list[str]]


def cases(tmp_path: Path, sqlite_template: Path) -> Iterator[Case]:
    good_db = database(tmp_path, sqlite_template)
    yield (
        "config that is not TOML",
        f'database_url = "{good_db}"\n[[accounts]\nname = "x"\n',
        ["sync"],
        2,
        ["not valid TOML", "line 2"],
    )
    yield (
        "config with a value of the wrong type",
        f'database_url = "{good_db}"\nmax_attempts = "many"\n{ACCOUNT}',
        ["sync"],
        2,
        ["config: max_attempts:"],
    )
    yield (
        "unknown account name",
        f'database_url = "{good_db}"\n{ACCOUNT}',
        ["sync", "--account", "vox-mian"],
        2,
        ["account 'vox-mian': no such account", "known: vox-main"],
    )
    yield (
        "unreachable PostgreSQL",
        f'database_url = "{UNREACHABLE_PG}"\n{ACCOUNT}',
        ["sync"],
        2,
        ["cannot reach the database", "127.0.0.1"],
    )
    yield (
        "unreachable PostgreSQL at upgrade",
        f'database_url = "{UNREACHABLE_PG}"\n{ACCOUNT}',
        ["db", "upgrade"],
        2,
        ["cannot upgrade the database", "127.0.0.1"],
    )
    yield (
        "SQLite in a folder that does not exist",
        f'database_url = "sqlite:///{tmp_path}/missing/syncer.db"\n{ACCOUNT}',
        ["sync"],
        2,
        ["folder", "does not exist"],
    )
    yield (
        "a database URL that is no URL",
        f'database_url = "syncer.db"\n{ACCOUNT}',
        ["sync"],
        2,
        ["is not a database URL"],
    )
    (tmp_path / "empty.db").touch()  # an empty SQLite database; a missing one is refused
    yield (
        "database never upgraded",
        f'database_url = "sqlite:///{tmp_path}/empty.db"\n{ACCOUNT}',
        ["sync"],
        2,
        ["no syncer tables yet", "syncer db upgrade"],
    )
    newer = database(tmp_path / "newer", sqlite_template, "9999")
    yield (
        "database at a newer schema revision",
        f'database_url = "{newer}"\n{ACCOUNT}',
        ["sync"],
        2,
        ["schema revision 9999", "upgrade syncer"],
    )
    yield (
        "database at a newer schema revision, at upgrade",
        f'database_url = "{newer}"\n{ACCOUNT}',
        ["db", "upgrade"],
        2,
        ["schema revision 9999", "upgrade syncer"],
    )
    yield (
        "upgrade to a revision that does not exist",
        f'database_url = "{good_db}"\n{ACCOUNT}',
        ["db", "upgrade", "--revision", "0042"],
        2,
        ["cannot upgrade to revision '0042'"],
    )
    yield (
        "read-only SQLite connection",
        f'database_url = "sqlite:///file:{good_db[10:]}?mode=ro&uri=true"\n{ACCOUNT}',
        ["sync"],
        2,
        ["cannot write to the database", "readonly"],
    )


CASE_NAMES = [
    "not_toml",
    "wrong_type",
    "unknown_account",
    "unreachable_pg",
    "unreachable_pg_upgrade",
    "sqlite_folder_missing",
    "not_a_url",
    "not_upgraded",
    "newer_revision",
    "newer_revision_upgrade",
    "unknown_target_revision",
    "read_only_connection",
]


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def test_bad_input_is_one_line_and_exit_code(
    index: int,
    tmp_path: Path,
    sqlite_template: Path,
    invoke: Callable[..., Result],
) -> None:
    name, body, command, code, fragments = list(cases(tmp_path, sqlite_template))[index]
    path = config_file(tmp_path, body)
    assert_one_line(invoke("--config", path, *command), code, *fragments)
    debug = invoke("--debug", "--config", path, *command)
    assert debug.exit_code == code
    assert "Traceback" in debug.stderr, f"{name}: --debug shows no traceback"


def test_database_at_an_older_revision_asks_for_an_upgrade(
    tmp_path: Path, invoke: Callable[..., Result]
) -> None:
    """A database a previous syncer made (revision 0001) is refused until `db upgrade`."""
    from syncer.store.engine import SCHEMA_REVISION
    from syncer.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    assert SCHEMA_REVISION != "0001"
    path = config_file(tmp_path, f'database_url = "{url}"\n{ACCOUNT}')
    assert_one_line(
        invoke("--config", path, "sync"),
        2,
        f"schema revision 0001, this syncer needs {SCHEMA_REVISION}",
        "run `syncer db upgrade`",
    )
    upgraded = invoke("--config", path, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"is at schema revision {SCHEMA_REVISION}" in upgraded.stdout


@pytest.mark.skipif(not POSTGRES_URL, reason="needs SYNCER_TEST_POSTGRES_URL")
def test_read_only_postgresql_session(tmp_path: Path, invoke: Callable[..., Result]) -> None:
    """A PostgreSQL user or replica that may not write: one line, exit 2, before any run."""
    url = prepared_server_url("postgresql")
    read_only = f"{url}?options=-c%20default_transaction_read_only%3Don"
    path = config_file(tmp_path, f'database_url = "{read_only}"\n{ACCOUNT}')
    assert_one_line(
        invoke("--config", path, "sync"),
        2,
        "cannot write to the database",
        "cannot execute UPDATE in a read-only transaction",
    )


def test_unknown_command_and_option_are_usage_errors(invoke: Callable[..., Result]) -> None:
    assert invoke("synch").exit_code == 2
    assert invoke("sync", "--acount", "x").exit_code == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["costs", "--as-of", "last tuesday"], "--as-of: 'last tuesday' is not a date"),
        (["costs", "--as-of", "2026-02-30"], "--as-of: '2026-02-30' is not a date"),
        (["costs", "--by", "planet"], "--by: unknown key 'planet'"),
        (["costs", "--status", "gone"], "--status: unknown status 'gone'"),
        (["costs", "--timezone", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["accrual", "--from", "2026-13"], "--from: '2026-13' is not a month"),
        (["accrual", "--from", "2026-10", "--to", "2026-01"], "--from 2026-10 is after --to"),
        (["changes", "--since", "yesterday"], "--since: 'yesterday' is not a date"),
        (["changes", "--since", "2026-10-05", "--until", "2026-10-01"], "is not before --until"),
        (["costs", "--output", "/nonexistent/folder/costs.csv"], "--output: cannot write"),
    ],
    ids=[
        "date_words",
        "date_impossible",
        "group_key",
        "status",
        "time_zone",
        "month",
        "months_reversed",
        "since_words",
        "since_after_until",
        "output_folder",
    ],
)
def test_report_with_bad_input(
    args: list[str],
    says: str,
    tmp_path: Path,
    sqlite_template: Path,
    invoke: Callable[..., Result],
) -> None:
    """A report asked for with a date that does not parse, or another bad option: one line
    naming the option and the value, exit 2."""
    path = config_file(tmp_path, f'database_url = "{database(tmp_path, sqlite_template)}"\n')
    assert_one_line(invoke("--config", path, "report", *args), 2, says)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` read-only for this process: mode 0444, and immutable when we are root (whom
    permissions do not stop), undone afterwards."""
    os.chmod(path, 0o444)
    immutable = os.geteuid() == 0
    if immutable:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"running as root and cannot make a file immutable: {made.stderr!r}")
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        os.chmod(path, 0o644)


@pytest.mark.parametrize("command", ["sync", "daemon"])
def test_read_only_database_file(tmp_path: Path, sqlite_template: Path, command: str) -> None:
    """`syncer sync` or `daemon` on a SQLite file it may not write: one line and exit 2 at
    start, no account run (the daemon would otherwise fail every account on every tick)."""
    db = tmp_path / "syncer.db"
    shutil.copy(sqlite_template, db)
    config = tmp_path / "syncer.toml"
    config.write_text(f'database_url = "sqlite:///{db}"\n{ACCOUNT}')
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SYNCER_")}
    environ["VOX_KEY"] = "tvx_test_key"
    with read_only(db):
        result = subprocess.run(
            [sys.executable, "-m", "syncer", "--config", str(config), command],
            env=environ,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot write to the database sqlite:///{db}: attempt to write a readonly database"
    ]
    assert result.stdout == ""
