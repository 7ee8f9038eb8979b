"""docs/cli.md is generated from --help and up to date; the docs name only commands and
options that exist; no doc points at a file outside the repository (issue 17 item 8)."""

from __future__ import annotations

import re

import pytest

from dfew_build.cli import main
from dfew_build.cli.docs import CLI_MD, REGENERATE, render
from tests.docs_commands import DOCS, REPO, check, command_lines


def test_cli_reference_is_up_to_date():
    assert CLI_MD.read_text(encoding="utf-8") == render(), \
        f"docs/cli.md is out of date with the commands' --help; regenerate it: {REGENERATE}"


def test_cli_reference_covers_every_command():
    text = render()
    for name, command in main.commands.items():
        assert f"## `dfew-build {name}`" in text
        for sub in getattr(command, "commands", {}):
            assert f"## `dfew-build {name} {sub}`" in text


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_name_only_existing_commands_and_options(doc):
    problems = [f"{doc.relative_to(REPO)}:{line}: {problem}  ({text.strip()})"
                for line, text in command_lines(doc) for problem in check(text, main)]
    assert not problems, "\n".join(problems)


def test_the_checker_catches_what_does_not_exist():
    assert check("dfew-build clips propose --device auto", main) == []
    assert check("dfew-build -w ws report", main) == []
    assert check("dfew-build clips propse", main) == ["no command dfew-build clips propse"]
    assert check("dfew-build preprocess --gpu", main) == ["dfew-build preprocess has no "
                                                          "option --gpu"]
    assert check("dfew-build train --model c3d --fold=1 | tee log", main) == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_cite_no_file_outside_the_repository(doc):
    text = doc.read_text(encoding="utf-8")
    assert "DESIGN.md" not in text, f"{doc.name} cites DESIGN.md, which is not in the repository"
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
