"""`init --database-url` keeps the password out of dfew.toml (issue 17 item 10): the URL goes
into dfew.toml without it, the password into WS/.dfew-database-password created 0600, and
connections put them back together. A dfew.toml that still holds a password keeps working
and warns once."""

import os
import stat
import tomllib

import pytest
from sqlalchemy.engine import make_url

from dfew_build.db.password import PASSWORD_FILE
from dfew_build.workspace import CONFIG_NAME, DATABASE_URL_ENV, open_workspace
from tests.databases import POSTGRES_ENV, throwaway_url

UNREACHABLE = "postgresql+psycopg://dfew:s3cr%40t:x@127.0.0.1:1/db"  # password "s3cr@t:x"


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """umask 000: a file that is private only because of the umask would show here."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_init_writes_the_password_to_a_private_file(cli, tmp_path, open_umask):
    root = tmp_path / "ws"
    result = cli("init", root, "--database-url", UNREACHABLE)
    assert result.exit_code == 1  # nothing listens on port 1; the files are written first
    assert "s3cr" not in result.output
    config = (root / CONFIG_NAME).read_text()
    assert "s3cr" not in config
    assert 'database_url = "postgresql+psycopg://dfew@127.0.0.1:1/db"' in config
    secret = root / PASSWORD_FILE
    assert secret.read_text() == "s3cr@t:x\n" and _mode(secret) == 0o600
    from dfew_build.workspace import _load

    workspace = _load(root)
    assert make_url(workspace.database_url).password == "s3cr@t:x"
    assert workspace.warnings == []


def test_a_password_file_others_can_read_warns(cli, tmp_path, monkeypatch):
    root = tmp_path / "ws"
    cli("init", root, "--database-url", UNREACHABLE)
    (root / PASSWORD_FILE).chmod(0o644)
    result = cli("-w", root, "movies", "list")
    assert result.stderr.startswith(
        f"warning: {root / PASSWORD_FILE} holds the database password and others may read it "
        f"(mode 0644); run: chmod 600 {root / PASSWORD_FILE}\nError: cannot read the database "
        "postgresql+psycopg://dfew:***@127.0.0.1:1/db")
    # DFEW_DATABASE_URL is used as it is: the stored password goes to no other server.
    monkeypatch.setenv(DATABASE_URL_ENV, "postgresql+psycopg://dfew@127.0.0.1:2/db")
    from dfew_build.workspace import _load

    assert _load(root).database_url == "postgresql+psycopg://dfew@127.0.0.1:2/db"


def test_a_password_left_in_dfew_toml_works_and_warns_once(cli, tmp_path):
    root = tmp_path / "ws"
    assert cli("init", root).exit_code == 0
    config = root / CONFIG_NAME
    config.write_text(config.read_text().replace('database_url = ""',
                                                 f'database_url = "{UNREACHABLE}"'))
    config.chmod(0o644)
    result = cli("-w", root, "movies", "list")
    warning = (f"warning: {config} holds the database password in plain text and others may "
               "read it (mode 0644). Move it out: delete the password from database_url and "
               f"put it alone in {root / PASSWORD_FILE} (chmod 600), or set DFEW_DATABASE_URL "
               "instead; see docs/workspace.md\n")
    assert result.stderr.startswith(warning) and result.stderr.count("plain text") == 1
    # It is still used: the connection goes to the URL with its password (redacted here).
    assert "Error: cannot read the database postgresql+psycopg://dfew:***@127.0.0.1:1/db" \
        in result.stderr
    config.chmod(0o600)  # a private dfew.toml: nothing to warn about
    assert "plain text" not in cli("-w", root, "movies", "list").stderr


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} names no "
                    "PostgreSQL server (.ci/run starts one)")
def test_postgres_connects_with_the_password_file(cli, tmp_path, open_umask):
    with throwaway_url("postgresql", tmp_path) as url:
        password = make_url(url).password
        assert password, f"{POSTGRES_ENV} should name a user with a password"
        root = tmp_path / "ws"
        result = cli("init", root, "--database-url", url)
        assert result.exit_code == 0, result.output
        # CI's password is 'dfew', which every path here contains: look for it where a
        # URL would carry it
        assert f":{password}@" not in result.output
        assert (f"  password: {root / PASSWORD_FILE} (readable by you only, mode 0600; "
                "dfew.toml holds the URL without it)") in result.stdout.splitlines()
        assert f":{password}@" not in (root / CONFIG_NAME).read_text()
        assert make_url(tomllib.loads((root / CONFIG_NAME).read_text())["database_url"]
                        ).password is None
        assert _mode(root / PASSWORD_FILE) == 0o600
        added = cli("-w", root, "people", "add", "Ann", "--role", "annotator")
        assert added.exit_code == 0, added.output
        listed = cli("-w", root, "people", "list")
        assert listed.exit_code == 0 and "Ann" in listed.stdout and listed.stderr == ""
        # Typed again, with or without the password: the same database.
        assert cli("init", root, "--database-url", url).exit_code == 0
        bare = make_url(url)._replace(password=None).render_as_string(hide_password=False)
        assert cli("init", root, "--database-url", bare).exit_code == 0
        other = make_url(url).set(password="wrong").render_as_string(hide_password=False)
        refused = cli("init", root, "--database-url", other)
        assert refused.exit_code == 1 and (
            "already names this database with another password; to change the password, "
            f"write the new one into {root / PASSWORD_FILE}") in refused.stderr
        assert "wrong" not in refused.stderr
        workspace = open_workspace(root)
        assert make_url(workspace.database_url).password == password
        workspace.close()
        # The file is what lets it in: without it a server that asks for a password refuses.
        (root / PASSWORD_FILE).rename(tmp_path / "moved")
        if _asks_for_a_password(bare):
            gone = cli("-w", root, "people", "list")
            assert gone.exit_code == 1 and "password" in gone.stderr


def _asks_for_a_password(url: str) -> bool:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    engine = create_engine(url)
    try:
        with engine.connect():
            return False
    except OperationalError:
        return True
    finally:
        engine.dispose()


def test_init_again_with_another_password_says_where_it_goes(cli, tmp_path):
    """A mistyped password at the first init (the server refused it): the second init
    with the right one is told where the password lives instead of 'edit the file'."""
    root = tmp_path / "ws"
    cli("init", root, "--database-url", UNREACHABLE)
    again = cli("init", root, "--database-url", UNREACHABLE.replace("s3cr", "n3w"))
    assert again.exit_code == 1
    assert again.stderr.strip() == (
        f"Error: {root / CONFIG_NAME} already names this database with another password; to "
        f"change the password, write the new one into {root / PASSWORD_FILE} (mode 0600)")
    assert "n3w" not in again.output
