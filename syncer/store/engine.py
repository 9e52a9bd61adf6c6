"""Engines for SQLite, PostgreSQL and MariaDB, set up the same way everywhere.

- URLs without a driver get the one syncer ships with (`postgresql://` -> psycopg 3,
  `mysql://`/`mariadb://` -> PyMySQL), so users can paste the URL they already have.
- SQLite runs in WAL mode with a busy timeout, and its write transactions start with
  `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing half-way.
- MariaDB/MySQL run at READ COMMITTED, which takes fewer gap locks (fewer deadlocks when
  accounts write concurrently); `in_transaction` retries a transaction that still deadlocks.
- JSON columns are written with `dump_json_exact`, so Decimals in payloads stay exact numbers.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from syncer.errors import DatabaseError

log = logging.getLogger(__name__)
T = TypeVar("T")

# The Alembic revision this code writes to; tests check it equals the migrations' head.
SCHEMA_REVISION = "0003"

SQLITE_BUSY_TIMEOUT_MS = 60_000
_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_RETRYABLE_MYSQL_CODES = {1205, 1213}  # lock wait timeout, deadlock
_RETRYABLE_PG_STATES = {"40001", "40P01"}  # serialization failure, deadlock
DEADLOCK_ATTEMPTS = 8


def normalize_url(url: str) -> str:
    """Give a driverless URL the driver syncer ships with."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in _DRIVERS:
        return f"{_DRIVERS[scheme]}://{rest}"
    return url


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def make_engine(url: str, *, pool_size: int = 8, create: bool = False) -> Engine:
    """An engine for `url`, configured for syncer's access pattern (see the module doc).

    A SQLite file that does not exist is created only with `create` (`syncer db upgrade`);
    every other command refuses it with `DatabaseError`, so a mistyped path or the wrong
    working directory leaves no empty database file behind."""
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            "database_url is not a database URL (expected e.g. sqlite:///syncer.db or "
            "postgresql://user@host/db); it is not shown, as it may hold a password"
        ) from None
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {
        "json_serializer": dump_json_exact,
        "json_deserializer": partial(json.loads, parse_float=Decimal),
        "pool_pre_ping": backend != "sqlite",
    }
    if backend == "sqlite":
        _check_sqlite_path(parsed.database, create=create)
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        options.update(pool_size=pool_size, max_overflow=pool_size)
    if backend == "postgresql":
        # No server-side prepared statements: a plan cached while a table was nearly empty
        # (the first sync) would go on scanning it sequentially once it holds 200,000 rows.
        options["connect_args"] = {"prepare_threshold": None}
    if backend in ("mysql", "mariadb"):
        options["isolation_level"] = "READ COMMITTED"
        options["connect_args"] = {"charset": "utf8mb4"}
    try:
        engine = create_engine(url, **options)
    except ImportError as exc:
        extra = "postgres" if backend == "postgresql" else "mysql"
        raise DatabaseError(
            f"no driver for {backend}: install it with pip install 'syncer[{extra}]' ({exc})"
        ) from None
    except ArgumentError as exc:
        raise DatabaseError(f"database_url: {exc}") from None
    _refuse_bad_options(engine)
    if backend == "sqlite":
        _configure_sqlite(engine)
    return engine


def _refuse_bad_options(engine: Engine) -> None:
    """A URL whose query string the driver refuses (`?foo=bar`, `?connect_timeout=abc`) fails
    every connection the same way: turn that into one clear `DatabaseError` (exit 2), for
    every command, instead of a driver error that reads like a bug in syncer."""
    where = redact_url(engine.url.render_as_string(hide_password=False))
    password = engine.url.password

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        dbapi = dialect.loaded_dbapi
        try:
            return dbapi.connect(*cargs, **cparams)
        except (TypeError, dbapi.ProgrammingError) as exc:
            detail = first_line(exc)
            if password:
                detail = detail.replace(str(password), "***")
            raise DatabaseError(
                f"database_url {where}: the driver refuses an option in it: {detail}"
            ) from None


def _check_sqlite_path(database: str | None, *, create: bool) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser().resolve()
    if not path.parent.is_dir():
        raise DatabaseError(f"SQLite database folder {str(path.parent)!r} does not exist")
    if not create and not path.exists():
        raise DatabaseError(
            f"the SQLite database {str(path)!r} does not exist: run `syncer db upgrade` to "
            "create it (or check database_url)"
        )


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and `BEGIN IMMEDIATE` for every transaction.

    pysqlite's own transaction handling is turned off (isolation_level None) so that the
    `begin` event can open the transaction itself: an immediate one takes the write lock up
    front, so two writers wait for each other instead of failing with "database is locked".
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            try:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.DatabaseError:
                log.debug("could not switch the SQLite database to WAL", exc_info=True)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def in_transaction(
    bind: Engine | Connection, work: Callable[[Connection], T], *, what: str = "write"
) -> T:
    """Run `work` in one transaction, retrying it when the database reports a deadlock.

    `bind` is an engine (a pooled connection per attempt) or a connection held by the caller
    (one transaction on it per attempt; on SQLite an immediate one). `work` must be safe to
    run again from the start (it gets a fresh transaction each time).
    """
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            if isinstance(bind, Connection):
                with bind.begin():
                    return work(bind)
            with bind.begin() as connection:
                return work(connection)
        except DBAPIError as exc:
            if attempt == DEADLOCK_ATTEMPTS or not is_retryable(exc):
                raise
            pause = min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0)
            log.info("%s hit a deadlock (attempt %d), retrying in %.2fs", what, attempt, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


@contextmanager
def read_transaction(connection: Connection) -> Iterator[Connection]:
    """A transaction that only reads: on SQLite a deferred one, which takes no write lock."""
    connection.execution_options(sqlite_begin="DEFERRED")
    try:
        with connection.begin():
            yield connection
    finally:
        connection.execution_options(sqlite_begin="IMMEDIATE")


def is_retryable(exc: DBAPIError) -> bool:
    """A deadlock or lock timeout: the transaction can be run again as a whole."""
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _RETRYABLE_MYSQL_CODES:
        return True
    return getattr(orig, "sqlstate", None) in _RETRYABLE_PG_STATES


def check_schema(engine: Engine) -> None:
    """Fail with a clear `DatabaseError` unless the database is at `SCHEMA_REVISION`."""
    where = redact_url(engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect().execution_options(sqlite_begin="DEFERRED") as connection:
            has_table = engine.dialect.has_table(connection, "alembic_version")
            revision = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                if has_table
                else None
            )
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database {where}: {first_line(exc)}") from None
    if revision is None:
        raise DatabaseError(
            f"the database {where} has no syncer tables yet: run `syncer db upgrade` first"
        )
    if revision != SCHEMA_REVISION:
        known = revision in known_revisions()
        hint = (
            "run `syncer db upgrade`"
            if known
            else "it was written by a newer syncer; upgrade syncer to use it"
        )
        raise DatabaseError(
            f"the database {where} is at schema revision {revision}, this syncer needs "
            f"{SCHEMA_REVISION}: {hint}"
        )


def check_writable(engine: Engine) -> None:
    """Fail with a clear `DatabaseError` unless syncer may write to the database.

    A read-only SQLite file, a read-only PostgreSQL replica or a user without UPDATE rights
    would otherwise fail every account's run, one by one; so would a URL in which syncer
    cannot take its account locks (`check_lockable`). The probe is an UPDATE that changes
    nothing, rolled back at once. Call it after `check_schema`.
    """
    from syncer.store.locks import check_lockable

    check_lockable(engine)
    where = redact_url(engine.url.render_as_string(hide_password=False))
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            finally:
                transaction.rollback()
    except DBAPIError as exc:
        raise DatabaseError(f"cannot write to the database {where}: {first_line(exc)}") from None


def known_revisions() -> set[str]:
    """Revision ids of the migrations shipped with this syncer (file names start with them)."""
    from syncer.store.migrate import migrations_folder

    versions = migrations_folder() / "versions"
    return {path.name.split("_", 1)[0] for path in versions.glob("*.py")}


def first_line(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's background-link footer."""
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def dump_json_exact(value: Any) -> str:
    """JSON text in which Decimals are written as the exact numbers they hold."""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else json.dumps(str(value))
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {dump_json_exact(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dump_json_exact(v) for v in value) + "]"
    return json.dumps(value)
