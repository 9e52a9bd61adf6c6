"""What differs between the databases when the history is written in bulk, one module each.

Each module offers the same few functions (see `BulkDialect`): how a batch of rows is
inserted (multi-row `INSERT` on SQLite, `COPY` on PostgreSQL, `executemany` on MariaDB), how
ids are assigned up front, how Python values are bound, and whether secondary indexes may be
built after a first load. `for_connection` picks the module; no other store module branches
on the dialect's name for these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any, Protocol, cast

from sqlalchemy import Connection, Engine


class BulkDialect(Protocol):
    """The functions every dialect module defines."""

    name: str
    defers_indexes: bool
    max_writers: int | None
    binds_python_values: bool
    any_of: str | None  # SQL matching a column against one bound list, if the driver can

    def time(self, value: datetime | None) -> Any: ...
    def money(self, value: Decimal | None) -> Any: ...
    def insert(
        self,
        connection: Connection,
        table: str,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None: ...
    def overwrite(
        self,
        connection: Connection,
        table: str,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        updated: Sequence[str],
    ) -> None: ...
    def close_open(
        self, connection: Connection, table: str, pairs: list[tuple[int, Any]]
    ) -> None: ...
    def reserve_ids(self, connection: Connection, table: str, count: int) -> list[int] | None: ...
    def execute_many(
        self, connection: Connection, sql: str, rows: list[tuple[Any, ...]]
    ) -> None: ...
    def placeholder(self) -> str: ...
    def account_rows(self, where: str) -> str: ...
    def after_load(self, connection: Connection, tables: Sequence[str]) -> None: ...


def for_connection(connection: Connection | Engine) -> BulkDialect:
    """The module for the connection's (or engine's) database."""
    name = connection.dialect.name
    loader = _MODULES.get(name)
    if loader is None:
        raise NotImplementedError(f"syncer does not support the {name} dialect")
    return cast(BulkDialect, loader())


def _sqlite() -> ModuleType:
    from syncer.store.dialects import sqlite

    return sqlite


def _postgresql() -> ModuleType:
    from syncer.store.dialects import postgresql

    return postgresql


def _mysql() -> ModuleType:
    from syncer.store.dialects import mysql

    return mysql


_MODULES: dict[str, Callable[[], ModuleType]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "mysql": _mysql,
    "mariadb": _mysql,
}
