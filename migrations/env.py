"""Alembic environment. Used by dfew_build.db.migrate and by `alembic` run from the repo root.

The URL comes from a connection passed in by dfew-build, else alembic.ini's
sqlalchemy.url, else DFEW_DATABASE_URL.
"""

import os

from alembic import context

from dfew_build.db.models import Base
from dfew_build.db.session import make_engine

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DFEW_DATABASE_URL")
    if not url:
        raise SystemExit("set sqlalchemy.url or DFEW_DATABASE_URL to say which database to migrate")
    return url


def _run(connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # Batch mode recreates tables; foreign keys must be off while it does (SQLite docs §7).
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    if is_sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, render_as_batch=True,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
