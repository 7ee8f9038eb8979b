"""Throwaway databases for tests: SQLite always; PostgreSQL when DFEW_TEST_POSTGRES_URL names a
server (.ci/run starts one), each test in a database of its own."""

from __future__ import annotations

import os
import time
import uuid
from contextlib import contextmanager

from sqlalchemy import text

POSTGRES_ENV = "DFEW_TEST_POSTGRES_URL"


def backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else [])


@contextmanager
def throwaway_url(backend: str, tmp_path):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = make_url(os.environ[POSTGRES_ENV])
    name = f"dfew_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        _drop(admin, name)
        admin.dispose()


def _drop(admin, name: str, attempts: int = 10) -> None:
    """Drop a test database; a background worker (autovacuum) that the role may not end can
    hold it for a moment, so try again before giving up."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(attempts):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5)
