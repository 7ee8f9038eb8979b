"""The workspace: a folder with dfew.toml, the database and the stage outputs (DESIGN.md §4).

The database URL is, in order: the DFEW_DATABASE_URL environment variable, `database_url`
in dfew.toml, or the workspace's own SQLite file dfew.sqlite.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from dfew_build.errors import ConfigError, WorkspaceError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_NAME = "dfew.toml"
SQLITE_NAME = "dfew.sqlite"
DATABASE_URL_ENV = "DFEW_DATABASE_URL"
WORKSPACE_ENV = "DFEW_WORKSPACE"
SUBDIRS = ("clips", "faces/frames", "faces/tensors", "reports", "runs")

DEFAULT_CONFIG = """\
# dfew-build workspace configuration. See docs/workspace.md.

# Leave empty for the workspace's own SQLite file (dfew.sqlite). For a shared server:
#   database_url = "postgresql+psycopg://dfew@dbhost/dfew"
# No password here (others may read this file): `init --database-url` puts it in
# .dfew-database-password (mode 0600). The DFEW_DATABASE_URL environment variable overrides this.
database_url = ""

[ingest]
# File extensions picked up when a folder is ingested (explicitly named files are always tried).
extensions = [".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
              ".flv", ".ts", ".m2ts", ".mts", ".3gp", ".ogv", ".vob"]

[annotation]
# Independent annotators per clip (DFEW: 10).
raters_per_clip = 10
order = "random"            # each annotator's queue: random (seeded per annotator) | id
order_seed = 0              # change it to draw new orders
require_faces = false       # assign only clips whose preprocessing kept a face
gold_rate = 0.0             # share of gold (check) clips mixed into each queue, 0 = off
practice_clips = 0          # gold clips with feedback before real work, 0 = no practice

[clips]
# DFEW's extraction rules; see docs/clips.md.
max_per_movie = 20          # accepted clips per movie
min_duration_s = 0.5        # clip length bounds, seconds
max_duration_s = 10.0
max_overlap = 0.5           # most of the shorter clip two clips of a movie may share
rare_emotions = ["disgust", "fear"]  # intended emotions that earn the extractor a bonus
rare_bonus = 1              # bonus points per accepted clip with a rare intended emotion

[clips.propose]
clip_length_s = 2.0         # length of each proposed candidate
face_sample_fps = 2.0       # frames per second checked for faces
min_face_fraction = 0.8     # share of sampled frames that must show exactly one face
scene_threshold = 27.0      # PySceneDetect ContentDetector threshold (lower = more cuts)
max_per_movie = 40          # candidates kept per movie (most face-filled first)

[server]
# `dfew-build serve` listens here by default.
host = "127.0.0.1"
port = 8000
# The address people open, used in login links (e.g. "https://annotate.example.org").
# Empty: http://HOST:PORT from the two keys above.
base_url = ""
# Days a login link from `people add` / `people link` works (0: links do not expire).
link_expiry_days = 0

[faces]
# `dfew-build preprocess` defaults; see docs/faces.md.
detector = "auto"           # auto (insightface when a model pack is found, else mtcnn) | mtcnn | insightface
min_face_rate = 0.5         # drop clips whose protagonist is in fewer frames than this share (DFEW: 0.5)
frames = 16                 # frames per clip in the tensor store (DFEW: 16)
size = 112                  # aligned face size in pixels, a multiple of 112 or 128
temporal = "tim"            # tim (as DFEW) | linear | uniform | dfew (DFEW loaders' sampler)
# The face search, shared by preprocess and clips propose (see docs/faces.md):
min_face = 40               # smallest face searched, in pixels of the clip/movie
detect_size = 640           # long side the detector searches at (0: full resolution)
detect_every = 4            # preprocess: full detector on every 4th frame, O-Net tracks between (1: every frame)
"""

# key path -> expected type, for validation of what users edit by hand.
_SCHEMA: dict[tuple[str, ...], type | tuple[type, ...]] = {
    ("database_url",): str,
    ("ingest", "extensions"): list,
    ("annotation", "raters_per_clip"): int,
    ("annotation", "order"): str,
    ("annotation", "order_seed"): int,
    ("annotation", "require_faces"): bool,
    ("annotation", "gold_rate"): (int, float),
    ("annotation", "practice_clips"): int,
    ("clips", "max_per_movie"): int,
    ("clips", "min_duration_s"): (int, float),
    ("clips", "max_duration_s"): (int, float),
    ("clips", "max_overlap"): (int, float),
    ("clips", "rare_emotions"): list,
    ("clips", "rare_bonus"): (int, float),
    ("clips", "propose", "clip_length_s"): (int, float),
    ("clips", "propose", "face_sample_fps"): (int, float),
    ("clips", "propose", "min_face_fraction"): (int, float),
    ("clips", "propose", "scene_threshold"): (int, float),
    ("clips", "propose", "max_per_movie"): int,
    ("server", "host"): str,
    ("server", "port"): int,
    ("server", "base_url"): str,
    ("server", "link_expiry_days"): (int, float),
    ("faces", "detector"): str,
    ("faces", "min_face_rate"): (int, float),
    ("faces", "frames"): int,
    ("faces", "size"): int,
    ("faces", "temporal"): str,
    ("faces", "min_face"): (int, float),
    ("faces", "detect_size"): int,
    ("faces", "detect_every"): int,
}


_TYPE_NAMES = {int: "whole number", float: "number", str: "string", list: "list",
               bool: "true or false"}


def _defaults() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_CONFIG)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _known_keys() -> dict[tuple[str, ...], set[str]]:
    """Per table (() is the top level): the keys dfew-build reads there, sub-tables included."""
    known: dict[tuple[str, ...], set[str]] = {}
    for keys in _SCHEMA:
        for depth in range(len(keys)):
            known.setdefault(keys[:depth], set()).add(keys[depth])
    return known


def unknown_key_warnings(path: Path, user: dict[str, Any]) -> list[str]:
    """A warning for each key of the user's dfew.toml that dfew-build does not read (it is
    kept, and ignored): a misspelling names the closest valid key (difflib), a key that
    belongs in another table names that table."""
    import difflib

    known = _known_keys()
    tables = {keys for keys in known if keys}
    warnings = []

    def walk(table: dict[str, Any], where: tuple[str, ...]) -> None:
        valid = known.get(where, set())
        for key, value in table.items():
            here = where + (key,)
            if key in valid:
                if isinstance(value, dict) and here in tables:
                    walk(value, here)
                continue
            section = f"[{'.'.join(where)}] " if where else "top level: "
            kind = "table" if isinstance(value, dict) else "key"
            close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.75)
            elsewhere = sorted(".".join(t) for t in known if key in known[t] and t != where)
            # A key spelt right in the wrong table is likelier than a misspelling.
            if elsewhere:
                hint = f"{key} belongs in [{elsewhere[0]}]" if elsewhere[0] else \
                    f"{key} belongs at the top level, above the first [table]"
            elif close:
                hint = f"did you mean {f'[{close[0]}]' if kind == 'table' else close[0]}?"
            else:
                hint = (f"valid {'tables and keys' if where == () else 'keys'} here: "
                        f"{', '.join(sorted(valid))}")
            warnings.append(f"warning: {path}: {section}unknown {kind} {key!r} is ignored; "
                            f"{hint} (see docs/workspace.md)")

    walk(user, ())
    return warnings


def load_config(path: Path, warnings: list[str] | None = None) -> dict[str, Any]:
    """dfew.toml merged over the defaults, types and ranges checked (ConfigError names the
    file, key and value). `warnings`, when given, receives one line per unknown key and for a
    password kept in plain text."""
    try:
        user = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix the file or delete it and "
                          "run `dfew-build init` again to write the defaults") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    config = _merge(_defaults(), user)
    for keys, expected in _SCHEMA.items():
        value: Any = config
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        kinds = expected if isinstance(expected, tuple) else (expected,)
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds
                                if not (k is int and float in kinds))
            raise ConfigError(f"{path}: {'.'.join(keys)} = {value!r} should be a "
                              f"{names}; see docs/workspace.md")
    if config["annotation"]["raters_per_clip"] < 1:
        raise ConfigError(f"{path}: annotation.raters_per_clip must be at least 1")
    if not 0 <= config["annotation"]["gold_rate"] <= 0.5:
        raise ConfigError(f"{path}: annotation.gold_rate = {config['annotation']['gold_rate']!r}"
                          " should be a share between 0 (off) and 0.5, e.g. 0.05; see "
                          "docs/annotation.md")
    if config["annotation"]["practice_clips"] < 0:
        raise ConfigError(f"{path}: annotation.practice_clips must be 0 (no practice) or more")
    if warnings is not None:
        from dfew_build.db.password import plain_text_warning, url_has_password

        warnings += unknown_key_warnings(path, user)
        if url_has_password(config["database_url"]):
            warnings += plain_text_warning(path)
    return config


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve().as_posix()}"


def _absolute_sqlite(url: str, root: Path) -> str:
    """A relative SQLite path in dfew.toml means relative to the workspace, not the shell."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return _sqlite_url(root / url[len(prefix):])
    return url


@dataclass
class Workspace:
    root: Path
    config: dict[str, Any]
    # What opening the workspace found worth saying (unknown dfew.toml keys, a password in
    # plain text); the CLI prints them once, to stderr.
    warnings: list[str] = field(default_factory=list)
    # From WS/.dfew-database-password (dfew_build.db.password); never in dfew.toml.
    _password: str | None = field(default=None, repr=False)
    _engine: Any = field(default=None, repr=False)
    _sessions: Any = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def database_url(self) -> str:
        """DFEW_DATABASE_URL as it is, else dfew.toml's database_url completed with the
        password file's password, else WS/dfew.sqlite. Holds the password: show it only
        through db.session.redact_url."""
        url = os.environ.get(DATABASE_URL_ENV)
        if not url:
            url = self.config.get("database_url") or ""
            if url and self._password is not None:
                from dfew_build.db.password import with_password

                url = with_password(url, self._password)
        return _absolute_sqlite(url, self.root) if url else _sqlite_url(self.root / SQLITE_NAME)

    @property
    def password_path(self) -> Path | None:
        """WS/.dfew-database-password when the workspace keeps its password there."""
        from dfew_build.db.password import PASSWORD_FILE

        path = self.root / PASSWORD_FILE
        return path if path.is_file() else None

    @property
    def clips_dir(self) -> Path:
        return self.root / "clips"

    @property
    def frames_dir(self) -> Path:
        return self.root / "faces" / "frames"

    @property
    def tensors_dir(self) -> Path:
        return self.root / "faces" / "tensors"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def engine(self):
        if self._engine is None:
            from dfew_build.db.session import make_engine

            self._engine = make_engine(self.database_url)
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A session that commits on success and rolls back on error."""
        if self._sessions is None:
            from dfew_build.db.session import make_session_factory

            self._sessions = make_session_factory(self.engine)
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        from dfew_build.db.migrate import ensure_current

        ensure_current(self.engine)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._sessions = None


def init_workspace(path: Path, database_url: str | None = None,
                   warn: Callable[[str], None] | None = None) -> tuple[Workspace, bool]:
    """Create (or complete) a workspace at path. Returns it and whether dfew.toml was new.
    A password in `database_url` goes to WS/.dfew-database-password (0600), not dfew.toml.
    `warn` gets each warning line (see open_workspace) before the database is opened."""
    root = Path(path).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} exists and is not a folder; choose another path")
    config_path = root / CONFIG_NAME
    created = not config_path.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in SUBDIRS:
            (root / sub).mkdir(parents=True, exist_ok=True)
        if created:
            text = DEFAULT_CONFIG
            if database_url:
                import tomli_w

                from dfew_build.db.password import PASSWORD_FILE, split_password, \
                    write_password

                # The password goes to a 0600 file, never into dfew.toml (others may read it).
                bare, password = split_password(database_url)
                line = tomli_w.dumps({"database_url": bare}).strip()
                if password is not None:
                    write_password(root, password)
                    line = f"# The password is in {PASSWORD_FILE} (mode 0600).\n{line}"
                text = text.replace('database_url = ""', line, 1)
            config_path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise WorkspaceError(f"cannot create the workspace at {root}: {exc.strerror}") from None
    workspace = _load(root, warn)
    from dfew_build.db.password import same_database

    if not created and database_url and not same_database(
            workspace.config.get("database_url") or "", workspace._password, database_url):
        from dfew_build.db.session import redact_url

        from dfew_build.db.password import PASSWORD_FILE, same_database as same

        stored = workspace.config.get("database_url") or ""
        if same(stored, None, _without_password(database_url)):
            # Only the password differs (e.g. the first init's was mistyped): say where it is.
            raise WorkspaceError(
                f"{config_path} already names this database with another password; to change "
                f"the password, write the new one into {root / PASSWORD_FILE} (mode 0600)")
        raise WorkspaceError(
            f"{config_path} already names database_url = "
            f"{redact_url(stored)!r}; edit the file to change it")
    workspace.migrate()
    return workspace, created


def _without_password(url: str) -> str:
    from dfew_build.db.password import split_password

    return split_password(url)[0]


def _load(root: Path, warn: Callable[[str], None] | None = None) -> Workspace:
    """The workspace at root with its config, password and warnings (not migrated)."""
    from dfew_build.db.password import read_password

    warnings: list[str] = []
    config = load_config(root / CONFIG_NAME, warnings)
    password, password_warnings = read_password(root)
    warnings += password_warnings
    for line in warnings if warn else ():
        warn(line)
    return Workspace(root, config, warnings=warnings, _password=password)


def find_workspace_root(explicit: str | os.PathLike | None = None,
                        cwd: Path | None = None) -> Path:
    """The workspace named by --workspace/DFEW_WORKSPACE, else the nearest one above cwd."""
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not (root / CONFIG_NAME).is_file():
            raise WorkspaceError(
                f"{root} is not a dfew-build workspace (no {CONFIG_NAME}); create one with: "
                f"dfew-build init {explicit}")
        return root
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    raise WorkspaceError(
        f"no dfew-build workspace here: no {CONFIG_NAME} in {here} or its parents. Create one "
        f"with `dfew-build init PATH`, then run commands inside it, pass --workspace/-w PATH, "
        f"or set {WORKSPACE_ENV}=PATH")


def open_workspace(explicit: str | os.PathLike | None = None,
                   warn: Callable[[str], None] | None = None) -> Workspace:
    """The workspace (find_workspace_root), its database migrated to the current schema.
    Its `warnings` list unknown dfew.toml keys and a password others may read; `warn`, when
    given, gets each line before the database is opened (so a caller can show them even
    when the database then fails)."""
    root = find_workspace_root(explicit)
    workspace = _load(root, warn)
    workspace.migrate()
    return workspace
