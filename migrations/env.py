"""Alembic environment: runs migrations on the connection or URL syncer hands over.

`syncer db upgrade` passes an open connection in `config.attributes["connection"]`; the
`alembic` command line uses `$SYNCER_DATABASE_URL` (or `sqlite:///syncer.db`).
SQLite gets `render_as_batch` so that later ALTERs work there too. The report views
(`models.VIEWS`) are created by migrations but are not models, so autogenerate ignores them.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import Connection

from syncer.store.engine import make_engine
from syncer.store.migrate import foreign_keys_off_on_sqlite
from syncer.store.models import VIEWS, Base

config = context.config
target_metadata = Base.metadata


def include_object(_object: Any, name: str | None, type_: str, reflected: bool, _to: Any) -> bool:
    """Leave the report views (created by hand in a migration, not models) to themselves."""
    return not (type_ == "table" and reflected and name in VIEWS)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = (
        config.attributes.get("database_url")
        or os.environ.get("SYNCER_DATABASE_URL")
        or "sqlite:///syncer.db"
    )
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            foreign_keys_off_on_sqlite(connection)
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("syncer's migrations run online only: point them at a database")
run_migrations_online()
