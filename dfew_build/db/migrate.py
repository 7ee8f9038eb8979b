"""Alembic glue: the schema is created and changed only by the migrations in migrations/."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from dfew_build.db.session import make_engine, redact_url
from dfew_build.errors import DatabaseError



def find_migrations() -> Path:
    """The Alembic folder: ``dfew_build/_migrations`` in an installed wheel (setup.py maps
    the top-level migrations/ there), else ``migrations/`` beside the package in a checkout
    or an editable install."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    return package.parent / "migrations"


MIGRATIONS_DIR = find_migrations()


def alembic_config(url: str):
    from alembic.config import Config

    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise DatabaseError(
            f"the Alembic migrations were not found in {Path(__file__).resolve().parents[1]}"
            f"/_migrations nor {MIGRATIONS_DIR}; reinstall dfew-build from a source checkout "
            "with: pip install .  (or pip install -e . to develop)")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is ConfigParser interpolation syntax; URLs may contain it (encoded passwords).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision(url: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"cannot read the database {redact_url(str(engine.url))}: {exc.__class__.__name__}: "
            f"{str(exc.orig if hasattr(exc, 'orig') else exc).strip()}") from None


def _run_alembic(engine: Engine, action: str, revision: str) -> None:
    from alembic import command
    from sqlalchemy.pool import NullPool

    url = engine.url.render_as_string(hide_password=False)
    config = alembic_config(url)
    # A connection of its own, closed afterwards: on SQLite the migration turns foreign keys
    # off, and such a connection must never return to the application's pool.
    migration_engine = make_engine(url, poolclass=NullPool)
    try:
        with migration_engine.begin() as conn:
            config.attributes["connection"] = conn
            getattr(command, action)(config, revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"migrating {redact_url(url)} to {revision} failed: {exc}") from None
    finally:
        migration_engine.dispose()


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run_alembic(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    _run_alembic(engine, "downgrade", revision)


_REVISION_LINE = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*['\"]?([\w-]+|None)",
                            re.MULTILINE)


def declared_heads() -> set[str]:
    """Head revisions read straight from migrations/versions/*.py, without importing Alembic
    (which costs ~0.3 s on every command): the revisions no other file names as its parent."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        fields = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" in fields:
            revisions.add(fields["revision"])
            parents.add(fields.get("down_revision"))
    return revisions - parents


def ensure_current(engine: Engine) -> None:
    """Bring the database to the newest revision if it is behind (a no-op when current).

    The cheap check (a plain SELECT against the heads declared in the migration files)
    settles the common case; Alembic is consulted only when the database looks behind.
    """
    current = current_revision(engine)
    if current is not None and declared_heads() == {current}:
        return
    if current != head_revision(str(engine.url)):
        upgrade(engine)
