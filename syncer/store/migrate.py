"""`syncer db upgrade`: apply the Alembic migrations to a database.

The migrations live in `migrations/` at the top of the repository, which the package build
installs as `syncer.migrations`; both layouts are found. Alembic is imported only here, so a
sync does not pay for it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from syncer.errors import DatabaseError, UsageError
from syncer.store.engine import first_line, known_revisions, make_engine, normalize_url, redact_url


def migrations_folder() -> Path:
    """The folder holding `env.py` and `versions/`, in a checkout or an installed package."""
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    if (checkout / "env.py").exists():
        return checkout
    from importlib import import_module

    installed = import_module("syncer.migrations")
    return Path(str(installed.__file__)).resolve().parent


def alembic_config(url: str) -> object:
    """An Alembic `Config` aimed at `url`, without needing `alembic.ini` on disk."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_folder()))
    config.attributes["database_url"] = normalize_url(url)
    return config


def upgrade(url: str, revision: str = "head") -> str | None:
    """Apply migrations up to `revision`; returns the revision the database is at afterwards.

    A database at a revision this syncer does not ship (a newer syncer wrote it) raises
    `DatabaseError`; a `revision` that does not exist raises `UsageError`.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.util import CommandError

    engine = make_engine(url, create=True)
    try:
        with engine.connect() as connection:
            foreign_keys_off_on_sqlite(connection)
            current = MigrationContext.configure(connection).get_current_revision()
            if current is not None and current not in known_revisions():
                raise DatabaseError(
                    f"the database {redact_url(url)} is at schema revision {current}, which this "
                    "syncer does not know: it was written by a newer syncer; upgrade syncer"
                )
            config = alembic_config(url)
            config.attributes["connection"] = connection  # type: ignore[attr-defined]
            try:
                command.upgrade(config, revision)  # type: ignore[arg-type]
            except CommandError as exc:
                raise UsageError(f"cannot upgrade to revision {revision!r}: {exc}") from None
            connection.commit()
            return MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot upgrade the database {redact_url(url)}: {first_line(exc)}"
        ) from None
    finally:
        engine.dispose()


def foreign_keys_off_on_sqlite(connection: Connection) -> None:
    """Turn SQLite's foreign keys off for a connection that runs migrations, before its first
    transaction (the pragma is ignored inside one): a migration that rebuilds a table drops
    the old one, which with foreign keys on would first delete every row referring to it."""
    if connection.dialect.name != "sqlite":
        return
    if connection.in_transaction():
        raise RuntimeError("foreign keys can only be turned off outside a transaction")
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys = OFF")
