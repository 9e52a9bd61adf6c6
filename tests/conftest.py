"""Fixtures: real databases (SQLite always; PostgreSQL and MariaDB when their URLs are set),
the provider simulator on loopback, and a fake clock.

`SYNCER_TEST_POSTGRES_URL` / `SYNCER_TEST_MYSQL_URL` name a server database the tests may use
to create their own databases in (one per pytest-xdist worker). When a variable is set and the
server cannot be reached, the tests that need it fail: they are never skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from syncer.store.engine import make_engine
from syncer.store.migrate import upgrade

POSTGRES_URL = os.environ.get("SYNCER_TEST_POSTGRES_URL")
MYSQL_URL = os.environ.get("SYNCER_TEST_MYSQL_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else []) + (["mysql"] if MYSQL_URL else [])
TABLES = [
    "rejected_records",
    "status_changes",
    "phone_number_versions",
    "rate_spans",
    "phone_numbers",
    "sync_runs",
]


def _worker() -> str:
    """A name for this checkout and xdist worker, so parallel test runs never share a database."""
    checkout = hashlib.blake2b(str(Path(__file__).resolve().parent).encode(), digest_size=3)
    return f"{checkout.hexdigest()}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def server_database(base_url: str, name: str, *, fresh: bool) -> str:
    """Create database `name` on the server of `base_url`; returns its URL."""
    url = make_url(base_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    quote = '"' if url.get_backend_name() == "postgresql" else "`"
    try:
        with admin.connect() as connection:
            if fresh:
                if url.get_backend_name() == "postgresql":
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                else:
                    connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            exists = False
            if not fresh:
                if url.get_backend_name() == "postgresql":
                    exists = bool(
                        connection.execute(
                            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                        ).scalar()
                    )
                else:
                    exists = bool(
                        connection.execute(
                            text(
                                "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"
                            ),
                            {"n": name},
                        ).scalar()
                    )
            if not exists:
                connection.execute(text(f"CREATE DATABASE {quote}{name}{quote}"))
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at schema head, made once with the real migrations, copied per test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


_prepared: dict[str, str] = {}


def prepared_server_url(backend: str) -> str:
    """This worker's database on the server, migrated to head once per session."""
    if backend not in _prepared:
        base = POSTGRES_URL if backend == "postgresql" else MYSQL_URL
        assert base is not None
        url = server_database(base, f"syncer_test_{_worker()}", fresh=True)
        upgrade(url)
        _prepared[backend] = url
    return _prepared[backend]


def truncate_all(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
            else:
                connection.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
                for table in TABLES:
                    connection.execute(text(f"TRUNCATE TABLE {table}"))
                connection.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
    finally:
        engine.dispose()


def database_for(backend: str, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty database at schema head on `backend`."""
    if backend == "sqlite":
        path = tmp_path / "syncer.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = prepared_server_url(backend)
    truncate_all(url)
    return url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty database at schema head, on each backend under test."""
    return database_for(request.param, tmp_path, sqlite_template)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """An empty SQLite database at schema head (for tests about SQLite itself)."""
    return database_for("sqlite", tmp_path, sqlite_template)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


class FakeClock:
    """A clock whose `sleep` advances time at once and is recorded."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.mono += max(0.0, seconds)
        self.current += timedelta(seconds=max(0.0, seconds))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
