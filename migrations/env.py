"""Alembic environment: runs migrations on the connection or URL syncer hands over.

`syncer db upgrade` passes an open connection in `config.attributes["connection"]`; the
`alembic` command line uses `$SYNCER_DATABASE_URL` (or `sqlite:///syncer.db`).
SQLite gets `render_as_batch` so that later ALTERs work there too.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from syncer.store.engine import make_engine
from syncer.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
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
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("syncer's migrations run online only: point them at a database")
run_migrations_online()
