"""Server settings, built from a workspace."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_ENV = "DFEW_SERVER_SECRET"
SECRET_FILE = "server_secret"


@dataclass(frozen=True)
class Settings:
    workspace_root: Path
    database_url: str
    # Signs session cookies. Every server process of one deployment needs the same key.
    secret_key: str
    config: dict[str, Any] = field(default_factory=dict)
    # Secure flag on the session cookie: set it when people reach the server over HTTPS
    # (an https [server] base_url sets it too).
    secure_cookies: bool = False
    session_max_age_s: int = 14 * 24 * 3600
    # The longest a request waits for a database thread before a 503 (annotation_server.
    # database), and how long a write waits for another program's lock on SQLite.
    db_wait_s: float = 10.0
    sqlite_busy_ms: int = 3000
    # The admin page waits at most this long for a fresh agreement figure (then it shows the
    # last one and the new one follows on a reload).
    agreement_wait_s: float = 0.1

    @classmethod
    def from_workspace(cls, workspace, *, secure_cookies: bool = False,
                       secret_key: str | None = None) -> "Settings":
        return cls(workspace_root=Path(workspace.root), database_url=workspace.database_url,
                   secret_key=secret_key or load_secret(Path(workspace.root)),
                   config=workspace.config, secure_cookies=secure_cookies)

    @property
    def base_url(self) -> str:
        return str(self.config.get("server", {}).get("base_url") or "")

    @property
    def https(self) -> bool:
        """People reach the server over HTTPS: --secure-cookies, or an https base_url.
        Then cookies are Secure and pages send HSTS."""
        return self.secure_cookies or self.base_url.lower().startswith("https://")

    @property
    def raters_per_clip(self) -> int:
        return int(self.config.get("annotation", {}).get("raters_per_clip", 10))


def load_secret(root: Path) -> str:
    """DFEW_SERVER_SECRET, else WS/server_secret (created once, readable by the owner only),
    so sessions survive a restart and several worker processes agree."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    path = root / SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another worker wrote it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    return secret
