import subprocess
import sys

from dfew_build.cli import main


def test_init_and_reinit(cli, tmp_path):
    result = cli("init", tmp_path / "ws")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"Created {tmp_path / 'ws'}"
    assert (tmp_path / "ws" / "dfew.toml").is_file()
    again = cli("init", tmp_path / "ws")
    assert again.exit_code == 0
    assert again.stdout.startswith("Workspace already exists, database up to date:")


def test_init_on_a_file(cli, tmp_path):
    (tmp_path / "file").write_text("x")
    result = cli("init", tmp_path / "file")
    assert result.exit_code != 0


def test_commands_say_when_there_is_no_workspace(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("movies", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no dfew-build workspace here: no dfew.toml in {tmp_path} or its parents. "
        "Create one with `dfew-build init PATH`, then run commands inside it, pass "
        "--workspace/-w PATH, or set DFEW_WORKSPACE=PATH\n")


def test_workspace_from_option_env_and_cwd(cli, tmp_path, monkeypatch):
    cli("init", tmp_path / "ws")
    assert cli("-w", tmp_path / "ws", "movies", "list").exit_code == 0
    monkeypatch.setenv("DFEW_WORKSPACE", str(tmp_path / "ws"))
    assert cli("movies", "list").exit_code == 0
    monkeypatch.delenv("DFEW_WORKSPACE")
    monkeypatch.chdir(tmp_path / "ws" / "runs")
    result = cli("movies", "list")
    assert result.stdout == "no movies yet; add some with: dfew-build ingest PATH...\n"
    bad = cli("-w", tmp_path / "nowhere", "movies", "list")
    assert bad.exit_code == 1
    assert bad.stderr == (f"Error: {tmp_path / 'nowhere'} is not a dfew-build workspace (no "
                          f"dfew.toml); create one with: dfew-build init {tmp_path / 'nowhere'}\n")


def test_bad_database_url_is_a_clear_error(cli, tmp_path, monkeypatch):
    cli("init", tmp_path / "ws")
    monkeypatch.setenv("DFEW_DATABASE_URL", "nosuchdb://x/y")
    result = cli("-w", tmp_path / "ws", "movies", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: unknown kind of database 'nosuchdb' in nosuchdb://x/y; dfew-build supports "
        "sqlite:/// and postgresql+psycopg:// URLs\n")


def test_unreachable_postgres_is_a_clear_error(cli, tmp_path, monkeypatch):
    cli("init", tmp_path / "ws")
    monkeypatch.setenv("DFEW_DATABASE_URL", "postgresql+psycopg://u:secret@127.0.0.1:1/db")
    result = cli("-w", tmp_path / "ws", "movies", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot read the database postgresql+psycopg://u:***@127.0.0.1:1/db: "
        "OperationalError: ")
    assert "secret" not in result.output


def test_help_everywhere(cli):
    for args in ([], ["init"], ["ingest"], ["movies"], ["movies", "list"], ["demo"]):
        result = cli(*args, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout, args


def test_help_imports_nothing_heavy():
    """`dfew-build --help` must start fast: no database, media or ML libraries at import."""
    code = ("import sys; from dfew_build.cli import main\n"
            "heavy = [m for m in ('sqlalchemy', 'alembic', 'pandas', 'numpy', 'cv2', 'av', "
            "'torch', 'statsmodels', 'tqdm') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert main.name == "main"


def test_database_outage_mid_command_is_one_line(cli, tmp_path, monkeypatch):
    """An OperationalError after the workspace opened (e.g. the server went away)."""
    from sqlalchemy.exc import OperationalError

    import dfew_build.media.catalog as catalog

    cli("init", tmp_path / "ws")

    def outage(*_args, **_kwargs):
        raise OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(catalog, "list_movies", outage)
    result = cli("-w", tmp_path / "ws", "movies", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: database error: server closed the connection; check that the database named "
        "by DFEW_DATABASE_URL or dfew.toml is reachable\n")
