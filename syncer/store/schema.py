"""Whether a database is one this syncer can work on: at the schema revision it writes to,
and open to its writes and account locks. Checked once at start (`syncer sync`, `syncer
daemon`, the reports), so a wrong database fails in one clear line (exit 2) before any
account runs.

`SCHEMA_REVISION` is the Alembic revision this code writes to (a test checks it is the
migrations' head); the migrations shipped (`known_revisions`) tell a database that only
needs `syncer db upgrade` from one written by a newer syncer.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError

from syncer.errors import DatabaseError
from syncer.store.engine import first_line, reading, safe_url
from syncer.store.locks import check_lockable

SCHEMA_REVISION = "0004"


def migrations_folder() -> Path:
    """The folder holding `env.py` and `versions/`, in a checkout or an installed package
    (the build installs the repository's `migrations/` as `syncer.migrations`)."""
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    if (checkout / "env.py").exists():
        return checkout
    from importlib import import_module

    installed = import_module("syncer.migrations")
    return Path(str(installed.__file__)).resolve().parent


def known_revisions() -> set[str]:
    """Revision ids of the migrations shipped with this syncer (file names start with them)."""
    versions = migrations_folder() / "versions"
    return {path.name.split("_", 1)[0] for path in versions.glob("*.py")}


def check_schema(engine: Engine) -> None:
    """Fail with a clear `DatabaseError` unless the database is at `SCHEMA_REVISION`."""
    where = safe_url(engine)
    try:
        with reading(engine) as connection:
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
    check_lockable(engine)
    where = safe_url(engine)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            finally:
                transaction.rollback()
    except DBAPIError as exc:
        raise DatabaseError(f"cannot write to the database {where}: {first_line(exc)}") from None
