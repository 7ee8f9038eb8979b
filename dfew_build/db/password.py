"""The database password of a workspace, kept out of dfew.toml (issue 17 item 10).

dfew.toml is an ordinary file (mode 0644 under the usual umask: anyone on the machine can
read it), is copied between machines and ends up in repositories. So `init --database-url
postgresql+psycopg://user:secret@host/db` writes the URL *without* its password into
dfew.toml and the password alone into WS/.dfew-database-password, created readable and
writable by its owner only (0600). Opening the workspace puts the two back together, for
any SQLAlchemy driver (the URL is rebuilt with sqlalchemy.engine.make_url, so special
characters stay escaped).

The file completes only dfew.toml's `database_url`, and only when that URL names a user and
no password: DFEW_DATABASE_URL (which overrides dfew.toml) is used as it is, so a password is
never sent to a server it was not stored for. A dfew.toml that still holds a password keeps
working; opening it warns (when others may read the file) and names the fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dfew_build.errors import WorkspaceError

PASSWORD_FILE = ".dfew-database-password"


def _parse(url: str):
    from sqlalchemy.engine import make_url

    try:
        return make_url(url)
    except Exception:  # ArgumentError on a malformed URL: the engine will name it later
        return None


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password (None when it has none)."""
    parsed = _parse(url)
    if parsed is None or parsed.password is None:
        return url, None
    # URL.set(password=None) keeps the password (None means "unchanged"): replace the field.
    return parsed._replace(password=None).render_as_string(hide_password=False), parsed.password


def with_password(url: str, password: str) -> str:
    """The URL with `password` set, when it names a user and has no password of its own."""
    parsed = _parse(url)
    if parsed is None or not parsed.username or parsed.password is not None:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def url_has_password(url: str) -> bool:
    parsed = _parse(url)
    return parsed is not None and parsed.password is not None


def write_password(root: Path, password: str) -> Path:
    """Write WS/.dfew-database-password, mode 0600 whatever the umask; replaces an old one.
    WorkspaceError when it cannot be written."""
    path = Path(root) / PASSWORD_FILE
    tmp = path.with_name(PASSWORD_FILE + ".tmp")
    try:
        # Created 0600 from the start (a chmod after writing would leave a moment when others
        # could read it); O_EXCL refuses a planted file or link in its place.
        if tmp.exists() or tmp.is_symlink():
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(password + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise WorkspaceError(f"cannot write the database password file {path}: "
                             f"{exc.strerror}") from None
    return path


def read_password(root: Path) -> tuple[str | None, list[str]]:
    """The stored password (None without a file) and warnings: a file others may read."""
    path = Path(root) / PASSWORD_FILE
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None, []
    except OSError as exc:
        raise WorkspaceError(f"cannot read the database password file {path}: "
                             f"{exc.strerror}") from None
    warnings = []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"warning: {path} holds the database password and others may read it "
                        f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
    return text.rstrip("\r\n"), warnings


def plain_text_warning(config_path: Path) -> list[str]:
    """The warning for a dfew.toml whose database_url holds a password while others may read
    the file; none when the file is private (mode 0600 or stricter)."""
    try:
        mode = Path(config_path).stat().st_mode
    except OSError:
        return []
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return []
    root = Path(config_path).parent
    return [f"warning: {config_path} holds the database password in plain text and others may "
            f"read it (mode {stat.S_IMODE(mode):04o}). Move it out: delete the password from "
            f"database_url and put it alone in {root / PASSWORD_FILE} (chmod 600), or set "
            "DFEW_DATABASE_URL instead; see docs/workspace.md"]


def same_database(stored: str, stored_password: str | None, url: str) -> bool:
    """Whether `url` (typed again to `init --database-url`) names dfew.toml's `stored` URL;
    its password may be left out, and a given one must match the stored one (dfew.toml's or
    the password file's `stored_password`)."""
    given, given_password = split_password(url)
    stored, in_url = split_password(stored)
    if in_url is not None:
        stored_password = in_url
    same_password = given_password is None or given_password == stored_password
    return (_parse(given) or given) == (_parse(stored) or stored) and same_password
