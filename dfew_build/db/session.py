"""Engine and session factory. SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from dfew_build.errors import DatabaseError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL holds nothing we can safely show
        return "<unparsable database URL>"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the annotation server read while a CLI stage writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **engine_options) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseError(
            f"database URL {url!r} is not valid ({exc}); use e.g. sqlite:///path/dfew.sqlite "
            "or postgresql+psycopg://user@host/dbname") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                                   **engine_options)
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(parsed, pool_pre_ping=True, **engine_options)
    except NoSuchModuleError:
        raise DatabaseError(
            f"unknown kind of database {parsed.get_backend_name()!r} in {redact_url(url)}; "
            "dfew-build supports sqlite:/// and postgresql+psycopg:// URLs") from None
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"the driver for {redact_url(url)} is not installed ({exc.name}); for PostgreSQL "
            "run in your dfew-build checkout: pip install -e \".[postgres]\"") from None


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
