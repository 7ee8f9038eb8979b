import pytest

from dfew_build.errors import ConfigError, WorkspaceError
from dfew_build.workspace import (CONFIG_NAME, find_workspace_root, init_workspace,
                                  open_workspace)


def test_init_creates_layout(tmp_path):
    ws, created = init_workspace(tmp_path / "ws")
    assert created
    for sub in ("clips", "faces/frames", "faces/tensors", "reports", "runs"):
        assert (ws.root / sub).is_dir()
    assert (ws.root / "dfew.sqlite").is_file()
    assert ws.config["annotation"]["raters_per_clip"] == 10
    again, created_again = init_workspace(tmp_path / "ws")
    assert not created_again and again.root == ws.root


def test_find_from_nested_folder(tmp_path):
    init_workspace(tmp_path / "ws")
    nested = tmp_path / "ws" / "clips"
    assert find_workspace_root(cwd=nested) == tmp_path / "ws"


def test_no_workspace_message(tmp_path):
    with pytest.raises(WorkspaceError) as caught:
        find_workspace_root(cwd=tmp_path)
    assert str(caught.value) == (
        f"no dfew-build workspace here: no dfew.toml in {tmp_path} or its parents. Create one "
        "with `dfew-build init PATH`, then run commands inside it, pass --workspace/-w PATH, "
        "or set DFEW_WORKSPACE=PATH")


def test_explicit_path_without_config(tmp_path):
    with pytest.raises(WorkspaceError, match=r"is not a dfew-build workspace \(no dfew.toml\); "
                                             r"create one with: dfew-build init"):
        find_workspace_root(tmp_path)


def test_database_url_precedence(tmp_path, monkeypatch):
    ws, _ = init_workspace(tmp_path / "ws")
    assert ws.database_url == f"sqlite:///{tmp_path}/ws/dfew.sqlite"
    config = ws.root / CONFIG_NAME
    config.write_text(config.read_text().replace('database_url = ""',
                                                 'database_url = "sqlite:///other.sqlite"'))
    reopened = open_workspace(ws.root)
    assert reopened.database_url == f"sqlite:///{tmp_path}/ws/other.sqlite"
    assert (ws.root / "other.sqlite").is_file()  # migrated on open
    monkeypatch.setenv("DFEW_DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite")
    assert reopened.database_url == f"sqlite:///{tmp_path}/env.sqlite"


def test_init_with_database_url(tmp_path):
    url = f"sqlite:///{tmp_path}/elsewhere.sqlite"
    ws, _ = init_workspace(tmp_path / "ws", database_url=url)
    assert ws.config["database_url"] == url
    assert (tmp_path / "elsewhere.sqlite").is_file()
    with pytest.raises(WorkspaceError, match="already names database_url"):
        init_workspace(tmp_path / "ws", database_url="sqlite:///x.sqlite")


@pytest.mark.parametrize("text,message", [
    ("database_url = [", "is not valid TOML"),
    ("database_url = 3", r"database_url = 3 should be a string"),
    ("[annotation]\nraters_per_clip = 'ten'", r"annotation.raters_per_clip = 'ten' should be"),
    ("[annotation]\nraters_per_clip = 0", "raters_per_clip must be at least 1"),
])
def test_bad_config(tmp_path, text, message):
    (tmp_path / CONFIG_NAME).write_text(text)
    with pytest.raises(ConfigError, match=message):
        open_workspace(tmp_path)


def test_sqlite_pragmas(tmp_path):
    ws, _ = init_workspace(tmp_path / "ws")
    with ws.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
