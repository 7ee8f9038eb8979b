"""Every shell block in docs/ (and README.md) made only of `dfew-build` commands runs, as
written, on a small workspace: the demo's (five sample videos, cut, preprocessed, voted).

A block that cannot run here says why in the doc, just above it:
``<!-- not-run: needs a GPU -->``. The count of such blocks is pinned below, so the skip
list only grows on purpose (issue 17 item 8).
"""

from __future__ import annotations

import shlex

import pytest
from click.testing import CliRunner

from dfew_build.cli import main
from tests.docs_commands import DOCS, REPO, SHELL_LANGUAGES, blocks

MAX_NOT_RUN = 16


def _commands(text: str) -> list[str]:
    """The block's commands, comments dropped, `a && b` split."""
    out = []
    for line in text.splitlines():
        code = line.split(" #", 1)[0].strip()
        if code and not code.startswith("#"):
            out += [part.strip() for part in code.split("&&")]
    return out


def _dfew_only(block) -> bool:
    commands = _commands(block.text)
    return bool(commands) and all(c.startswith("dfew-build ") for c in commands)


SHELL = [b for doc in DOCS for b in blocks(doc) if b.language in SHELL_LANGUAGES]
RUNNABLE = [b for b in SHELL if _dfew_only(b) and b.marker is None]


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A folder holding the demo workspace `ws`, and votes.csv beside it."""
    from dfew_build.demo import run_demo

    root = tmp_path_factory.mktemp("docs")
    run_demo(root / "ws", train=False)
    runner = CliRunner()
    exported = runner.invoke(main, ["-w", str(root / "ws"), "votes", "export",
                                    str(root / "votes.csv")])
    assert exported.exit_code == 0, exported.output
    return root


@pytest.mark.slow
@pytest.mark.parametrize("block", RUNNABLE,
                         ids=lambda b: f"{b.doc.relative_to(REPO)}:{b.line}")
def test_shell_block_runs(block, place, monkeypatch):
    monkeypatch.chdir(place)
    monkeypatch.setenv("DFEW_WORKSPACE", str(place / "ws"))
    runner = CliRunner()
    for command in _commands(block.text):
        result = runner.invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0, (
            f"{block.doc.relative_to(REPO)}:{block.line}: `{command}` exited "
            f"{result.exit_code}:\n{result.output}\n{result.exception!r}")


def test_runnable_blocks_exist_and_the_skip_list_stays_small():
    assert len(RUNNABLE) >= 5
    walkthrough = [b for b in RUNNABLE if b.doc.name == "your-own-movies.md"]
    assert len(walkthrough) >= 3
    not_run = [b for b in SHELL if _dfew_only(b) and b.marker is not None]
    assert all(b.marker.strip() for b in not_run)
    assert len(not_run) <= MAX_NOT_RUN, [f"{b.doc.name}:{b.line}: {b.marker}" for b in not_run]
