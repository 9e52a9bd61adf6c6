"""One writer per account, across threads, processes and machines.

- PostgreSQL: a session-level advisory lock on a connection held for the whole run. If the
  process dies, the server drops the connection and with it the lock.
- MariaDB/MySQL: `GET_LOCK()` on a name made of the database and the account, also tied to
  the connection.
- SQLite: an exclusive `flock` on a file beside the database (`<db>.locks/<account>.lock`);
  the kernel releases it when the process dies. An in-memory database uses a process lock.

`account_lock` never waits: a busy account raises `AccountBusyError` at once, so a second
process skips the account instead of queueing behind the first.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from syncer.errors import AccountBusyError

_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()


@contextmanager
def account_lock(engine: Engine, account: str) -> Iterator[None]:
    """Hold the account's writer lock for the duration of the block, or raise at once."""
    backend = engine.dialect.name
    if backend == "postgresql":
        lock = _postgres_lock
    elif backend in ("mysql", "mariadb"):
        lock = _mysql_lock
    elif backend == "sqlite" and _sqlite_file(engine):
        lock = _sqlite_file_lock
    else:
        lock = _process_lock
    with lock(engine, account):
        yield


def _digest(account: str) -> bytes:
    return hashlib.blake2b(f"syncer-account:{account}".encode(), digest_size=8).digest()


@contextmanager
def _postgres_lock(engine: Engine, account: str) -> Iterator[None]:
    key = int.from_bytes(_digest(account), "big", signed=True)
    with engine.connect() as raw:
        connection = raw.execution_options(isolation_level="AUTOCOMMIT")
        got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        if not got:
            raise AccountBusyError(account)
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


@contextmanager
def _mysql_lock(engine: Engine, account: str) -> Iterator[None]:
    # GET_LOCK names are server-wide: the database name keeps two mirrors on one server apart.
    name = "syncer:" + _digest(f"{engine.url.database}\x00{account}").hex()
    with engine.connect() as connection:
        got = connection.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar()
        connection.commit()
        if got != 1:
            raise AccountBusyError(account)
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
            connection.commit()


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def lock_file_for(database: Path, account: str) -> Path:
    """The lock file of one account of a SQLite database."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", account)[:60]
    return (
        database.with_name(database.name + ".locks") / f"{slug}-{_digest(account).hex()[:8]}.lock"
    )


@contextmanager
def _sqlite_file_lock(engine: Engine, account: str) -> Iterator[None]:
    database = _sqlite_file(engine)
    assert database is not None
    path = lock_file_for(database, account)
    path.parent.mkdir(exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AccountBusyError(account) from None
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _process_lock(engine: Engine, account: str) -> Iterator[None]:
    with _memory_guard:
        lock = _memory_locks.setdefault(f"{engine.url}|{account}", threading.Lock())
    if not lock.acquire(blocking=False):
        raise AccountBusyError(account)
    try:
        yield
    finally:
        lock.release()
