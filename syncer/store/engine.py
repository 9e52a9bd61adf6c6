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
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from syncer.errors import DatabaseError

log = logging.getLogger(__name__)
T = TypeVar("T")

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
# How SQLite begins a transaction (the `sqlite_begin` execution option): a writer takes the
# write lock up front; a reader takes none.
_READ_WRITE = "IMMEDIATE"
_READ_ONLY = "DEFERRED"


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


def safe_url(engine: Engine) -> str:
    """Where `engine` connects, for messages: its URL with any password hidden."""
    return redact_url(engine.url.render_as_string(hide_password=False))


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
    where = safe_url(engine)
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


class _BitOr:
    """`bit_or(x)` for SQLite, which has no bitwise aggregate (PostgreSQL and MariaDB have
    one; the reports use it): the OR of the non-null values, NULL when there are none."""

    def __init__(self) -> None:
        self.value: int | None = None

    def step(self, value: int | None) -> None:
        if value is not None:
            self.value = value if self.value is None else self.value | value

    def finalize(self) -> int | None:
        return self.value


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, `BEGIN IMMEDIATE` for every transaction, and the
    `bit_or` aggregate.

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
        dbapi_connection.create_aggregate("bit_or", 1, _BitOr)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", _READ_WRITE)
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
def reading(bind: Engine | Connection) -> Iterator[Connection]:
    """Reads that take no write lock: on SQLite a deferred transaction, so a reader never
    waits for, or blocks, a running sync. The one way syncer reads without writing.

    `bind` is an engine (reports, `syncer status`, the start-up checks: a connection of its
    own for the block) or a connection held for writing too (a run's locked session: one
    transaction on it for the block, then its transactions are immediate ones again)."""
    if isinstance(bind, Engine):
        with bind.connect().execution_options(sqlite_begin=_READ_ONLY) as connection:
            yield connection
        return
    bind.execution_options(sqlite_begin=_READ_ONLY)
    try:
        with bind.begin():
            yield bind
    finally:
        bind.execution_options(sqlite_begin=_READ_WRITE)


@contextmanager
def reading_together(engine: Engine, count: int) -> Iterator[list[Connection]]:
    """`count` connections that read one and the same state of the database, for reads run
    side by side (a report's queries).

    On PostgreSQL: `count` REPEATABLE READ transactions, the first exporting its snapshot and
    the others importing it (`pg_export_snapshot`), so each query sees exactly what the
    others see, whatever a sync commits meanwhile; the engine's pool must allow `count`
    connections. Elsewhere: one connection, `count` times, its reads run one after another in
    one transaction that sees one state: on SQLite `reading`'s deferred transaction, on
    MariaDB a REPEATABLE READ one (the engine's READ COMMITTED would let each query see
    what a sync committed since the one before)."""
    name = engine.dialect.name
    if name in ("mysql", "mariadb"):
        with engine.connect() as connection:
            connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield [connection] * count
        return
    if name != "postgresql" or count == 1:
        with reading(engine) as connection:
            yield [connection] * count
        return
    with ExitStack() as stack:
        connections: list[Connection] = []
        for _ in range(count):
            connection = stack.enter_context(engine.connect())
            connection.execution_options(isolation_level="REPEATABLE READ")
            stack.enter_context(connection.begin())
            connections.append(connection)
        snapshot = connections[0].exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        for connection in connections[1:]:
            connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        yield connections


def is_retryable(exc: DBAPIError) -> bool:
    """A deadlock or lock timeout: the transaction can be run again as a whole."""
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _RETRYABLE_MYSQL_CODES:
        return True
    return getattr(orig, "sqlstate", None) in _RETRYABLE_PG_STATES


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
