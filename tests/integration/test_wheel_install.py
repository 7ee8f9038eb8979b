"""`pip wheel .` + install into a fresh venv: the installed package (not the checkout) runs.

The venv sees the system site-packages so torch & co. are not downloaded again, but the
wheel's dfew_build must be the one imported (checked through ``dfew_build.__file__``) and
must find the Alembic migrations it ships (``dfew_build/_migrations``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A venv with the repository's wheel installed (no dependencies re-downloaded)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(root / "dist")], check=True)
    wheels = list((root / "dist").glob("dfew_build-*.whl"))
    assert len(wheels) == 1, wheels
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(root / "venv")],
                   check=True)
    python = root / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed",
                    str(wheels[0])], check=True)
    return root / "venv"


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DFEW_WORKSPACE", "DFEW_DATABASE_URL")}
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_wheel_ships_migrations_and_runs(venv, tmp_path, sample_media):
    python = str(venv / "bin" / "python")
    where = _run(venv, python, "-c", "import dfew_build, dfew_build.db.migrate as m; "
                 "print(dfew_build.__file__); print(m.MIGRATIONS_DIR)", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    module, migrations = where.stdout.split()
    assert Path(module).is_relative_to(venv), module      # not the checkout's editable copy
    assert Path(migrations) == Path(module).parent / "_migrations"
    assert len(list(Path(migrations, "versions").glob("*.py"))) >= 5

    cli = str(venv / "bin" / "dfew-build")
    ws = tmp_path / "ws"
    init = _run(venv, cli, "init", str(ws), cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    ingest = _run(venv, cli, "-w", str(ws), "ingest", str(sample_media / "single_face.mp4"),
                  "--json", cwd=tmp_path)
    assert ingest.returncode == 0, ingest.stderr
    movies = json.loads(_run(venv, cli, "-w", str(ws), "movies", "list", "--json",
                             cwd=tmp_path).stdout)
    assert [Path(m["path"]).name for m in movies] == ["single_face.mp4"]


@pytest.mark.slow
def test_wheel_runs_the_demo(venv, tmp_path, sample_media):
    result = _run(venv, str(venv / "bin" / "dfew-build"), "demo", str(tmp_path / "demo"),
                  cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[train]" in result.stdout and (tmp_path / "demo" / "reports" / "report.html").is_file()
