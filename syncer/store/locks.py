"""One writer per account, across threads, processes and machines, even when a connection dies.

A run takes its account's writer lock on one database session and does all its work on that
session (`AccountLock`). Every write transaction first proves, inside the same transaction,
that this very session still holds the lock; if the session died (a server restart, an idle
timeout, `pg_terminate_backend`, `KILL`), the transaction fails, and if the connection was
silently replaced by a new one (SQLAlchemy reconnects an invalidated connection on its next
use), the new session holds no lock, so the proof fails. Either way `LockLostError` is raised
and nothing of that transaction is written: a run that lost its lock cannot write again, even
while another process already holds the account.

- PostgreSQL: a session-level advisory lock; the proof is its row in `pg_locks` for
  `pg_backend_pid()`.
- MariaDB/MySQL: `GET_LOCK()` on a name made of the database and the account; the proof is
  `IS_USED_LOCK(name) = CONNECTION_ID()`.
- SQLite: an exclusive `flock` on a file beside the database (`<db>.locks/<account>.lock`),
  whatever form the URL takes (a plain path or a `file:` URI with `uri=true`); the kernel
  releases it when the process dies. The proof is that the lock file is still the one locked
  (not deleted and made anew by someone else). An in-memory database, which only this process
  can open, uses a process lock.

A URL whose lock cannot be taken this way (another dialect, a SQLite URI that names no file
syncer can find) is refused at start (`check_lockable`). `account_lock` never waits: a busy
account raises `AccountBusyError` at once, so a second process skips the account instead of
queueing behind the first.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from syncer.errors import AccountBusyError, DatabaseError, LockLostError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Why the lock is not held, or None when it is; run inside the caller's transaction.
Proof = Callable[[Connection], "str | None"]

_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()
_TRUE = ("1", "true", "yes", "on")


class AccountLock:
    """The account's writer lock and the database session that holds it, for one run.

    Do every read and write of the run through `read` and `write`: they run on the session
    holding the lock, and `write` proves in its transaction that the lock is still held.
    """

    def __init__(self, account: str, connection: Connection, proof: Proof) -> None:
        self.account = account
        self.connection = connection
        self._proof = proof

    def read(self, work: Callable[[Connection], T]) -> T:
        """`work` in a read-only transaction on the lock's session (on SQLite a deferred one)."""
        from syncer.store.engine import read_transaction

        with self._session_errors(), read_transaction(self.connection) as connection:
            return work(connection)

    def write(self, work: Callable[[Connection], T], *, what: str = "write") -> T:
        """`work` in one write transaction on the lock's session, after proving, in that same
        transaction, that the session still holds the lock; retried whole after a deadlock.
        Raises `LockLostError` (nothing written) when the proof fails or the session died."""
        from syncer.store.engine import in_transaction

        def proven(connection: Connection) -> T:
            self._prove(connection)
            return work(connection)

        with self._session_errors():
            return in_transaction(self.connection, proven, what=what)

    def prove(self) -> None:
        """Raise `LockLostError` unless the lock is still held (in a transaction of its own)."""
        self.read(self._prove)

    def _prove(self, connection: Connection) -> None:
        why = self._proof(connection)
        if why is not None:
            raise LockLostError(self.account, why)

    @contextmanager
    def _session_errors(self) -> Iterator[None]:
        """A failure of the session itself (its connection died) is a lost lock."""
        try:
            yield
        except DBAPIError as exc:
            if exc.connection_invalidated or self.connection.invalidated:
                from syncer.store.engine import first_line

                raise LockLostError(
                    self.account, f"the database session holding it ended ({first_line(exc)})"
                ) from None
            raise


@contextmanager
def account_lock(engine: Engine, account: str) -> Iterator[AccountLock]:
    """Hold the account's writer lock for the duration of the block, or raise at once."""
    backend = engine.dialect.name
    if backend == "postgresql":
        lock = _postgres_lock
    elif backend in ("mysql", "mariadb"):
        lock = _mysql_lock
    elif backend == "sqlite" and sqlite_file(engine.url) is not None:
        lock = _sqlite_file_lock
    elif backend == "sqlite":
        lock = _process_lock
    else:
        raise DatabaseError(unlockable_reason(engine.url) or f"cannot lock {backend}")
    with lock(engine, account) as held:
        yield held


def check_lockable(engine: Engine) -> None:
    """Raise `DatabaseError` (exit 2) unless syncer can take its account locks in this
    database, so an unlockable URL is refused at start, before any account runs."""
    reason = unlockable_reason(engine.url)
    if reason is not None:
        raise DatabaseError(reason)


def unlockable_reason(url: URL) -> str | None:
    """Why syncer cannot lock accounts in the database at `url`, or None when it can."""
    backend = url.get_backend_name()
    if backend in ("postgresql", "mysql", "mariadb"):
        return None
    if backend != "sqlite":
        return (
            f"syncer cannot keep one writer per account on {backend}: use SQLite, "
            "PostgreSQL or MariaDB/MySQL"
        )
    try:
        sqlite_file(url)
    except DatabaseError as exc:
        return str(exc)
    return None


def lock_holder(engine: Engine, account: str) -> int | None:
    """The server session (PostgreSQL backend pid, MariaDB connection id) holding the
    account's lock, or None; for operators and tests (e.g. to end that session)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            high, low = _pg_lock_ids(account)
            value = connection.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = "
                    "current_database()) AND classid::bigint = :high "
                    "AND objid::bigint = :low AND objsubid = 1"
                ),
                {"high": high, "low": low},
            ).scalar()
        elif engine.dialect.name in ("mysql", "mariadb"):
            value = connection.execute(
                text("SELECT IS_USED_LOCK(:name)"), {"name": _mysql_name(engine, account)}
            ).scalar()
        else:
            return None
    return int(value) if value is not None else None


# -- PostgreSQL ----------------------------------------------------------------------------


def _digest(account: str) -> bytes:
    return hashlib.blake2b(f"syncer-account:{account}".encode(), digest_size=8).digest()


def _pg_key(account: str) -> int:
    return int.from_bytes(_digest(account), "big", signed=True)


def _pg_lock_ids(account: str) -> tuple[int, int]:
    """How `pg_locks` shows the advisory lock of a bigint key: (classid, objid)."""
    key = _pg_key(account) & 0xFFFF_FFFF_FFFF_FFFF
    return key >> 32, key & 0xFFFF_FFFF


@contextmanager
def _postgres_lock(engine: Engine, account: str) -> Iterator[AccountLock]:
    key = _pg_key(account)
    high, low = _pg_lock_ids(account)

    def proof(connection: Connection) -> str | None:
        held = connection.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND granted AND classid::bigint = :high "
                "AND objid::bigint = :low AND objsubid = 1 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()))"
            ),
            {"high": high, "low": low},
        ).scalar()
        return None if held else "this database session does not hold it (a new connection)"

    with engine.connect() as connection:
        got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        connection.commit()
        if not got:
            raise AccountBusyError(account)
        try:
            yield AccountLock(account, connection, proof)
        finally:
            _release(connection, "SELECT pg_advisory_unlock(:key)", {"key": key})


# -- MariaDB / MySQL -------------------------------------------------------------------------


def _mysql_name(engine: Engine, account: str) -> str:
    # GET_LOCK names are server-wide: the database name keeps two mirrors on one server apart.
    return "syncer:" + _digest(f"{engine.url.database}\x00{account}").hex()


@contextmanager
def _mysql_lock(engine: Engine, account: str) -> Iterator[AccountLock]:
    name = _mysql_name(engine, account)

    def proof(connection: Connection) -> str | None:
        held = connection.execute(
            text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()"), {"name": name}
        ).scalar()
        return None if held else "this database session does not hold it (a new connection)"

    with engine.connect() as connection:
        got = connection.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar()
        connection.commit()
        if got != 1:
            raise AccountBusyError(account)
        try:
            yield AccountLock(account, connection, proof)
        finally:
            _release(connection, "SELECT RELEASE_LOCK(:name)", {"name": name})


def _release(connection: Connection, statement: str, params: dict[str, object]) -> None:
    """Give the lock back. If the session is gone, so is its lock: nothing to report."""
    try:
        if connection.in_transaction():
            connection.rollback()
        connection.execute(text(statement), params)
        connection.commit()
    except SQLAlchemyError as exc:
        log.debug("releasing an account lock failed (its session is gone): %s", exc)


# -- SQLite ----------------------------------------------------------------------------------


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL opens (resolved), or None for an in-memory database.

    Reads both forms: a plain path (`sqlite:///syncer.db`; `file:x` there is a file of that
    name) and, with `uri=true`, a SQLite URI (`sqlite:///file:/data/syncer.db?uri=true`).
    Raises `DatabaseError` for a URI that names no file syncer can lock beside it.
    """
    database = url.database or ""
    if str(url.query.get("uri", "")).lower() not in _TRUE:
        if database in ("", ":memory:"):
            return None
        return Path(database).expanduser().resolve()
    if not database.startswith("file:"):
        return None if database in ("", ":memory:") else Path(database).expanduser().resolve()
    if url.query.get("mode") == "memory" or url.query.get("vfs") == "memdb":
        return None
    parts = urlsplit(database)
    path = unquote(parts.path)
    if parts.netloc not in ("", "localhost"):
        raise DatabaseError(
            f"the SQLite URI names the host {parts.netloc!r}: syncer can lock only a local "
            "file (file:/path/to/syncer.db?uri=true)"
        )
    if path == ":memory:":
        return None
    if not path:
        raise DatabaseError(
            "the SQLite URI names no file (a private temporary database): give a path, "
            "e.g. sqlite:///file:/path/to/syncer.db?uri=true"
        )
    return Path(path).expanduser().resolve()


def lock_file_for(database: Path, account: str) -> Path:
    """The lock file of one account of a SQLite database."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", account)[:60]
    return (
        database.with_name(database.name + ".locks") / f"{slug}-{_digest(account).hex()[:8]}.lock"
    )


@contextmanager
def _sqlite_file_lock(engine: Engine, account: str) -> Iterator[AccountLock]:
    database = sqlite_file(engine.url)
    assert database is not None
    path = lock_file_for(database, account)
    try:
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise DatabaseError(
            f"cannot create the lock file {str(path)!r} beside the SQLite database: "
            f"{exc.strerror or exc}"
        ) from None

    def proof(_connection: Connection) -> str | None:
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except OSError:
            same = False
        return None if same else f"its lock file {str(path)!r} was removed or replaced"

    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AccountBusyError(account) from None
        try:
            with engine.connect() as connection:
                yield AccountLock(account, connection, proof)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _process_lock(engine: Engine, account: str) -> Iterator[AccountLock]:
    with _memory_guard:
        lock = _memory_locks.setdefault(f"{engine.url}|{account}", threading.Lock())
    if not lock.acquire(blocking=False):
        raise AccountBusyError(account)
    try:
        with engine.connect() as connection:
            yield AccountLock(account, connection, lambda _connection: None)
    finally:
        lock.release()
