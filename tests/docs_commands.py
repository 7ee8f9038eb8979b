"""The `dfew-build ...` commands the docs name, read from their Markdown (code spans and
fenced blocks), for the docs tests (tests/unit/test_docs_cli.py and
tests/integration/test_docs_shell_blocks.py)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
GLOBAL_WITH_VALUE = {"-w", "--workspace"}
GLOBAL_FLAGS = {"-h", "--help", "--version"}
INVOCATION = re.compile(r"(?:^|[\s;&|(])(dfew-build)(?=\s|$)")
STOP = {"|", "||", "&&", ";", ">", ">>", "2>", "&", "2>&1", "<"}


@dataclass
class Block:
    """A fenced code block of a doc: its language, text, and the line it starts on."""
    doc: Path
    line: int
    language: str
    text: str
    marker: str | None  # the `<!-- not-run: why -->` comment just above it, if any


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip().splitlines()[-1:] or [""]
        marker = re.fullmatch(r"<!--\s*not-run:\s*(.*?)\s*-->", before[0].strip())
        found.append(Block(doc, text.count("\n", 0, match.start()) + 1, match.group(1),
                           match.group(2), marker.group(1) if marker else None))
    return found


def command_lines(doc: Path) -> list[tuple[int, str]]:
    """(line, text from `dfew-build` on) for every mention in shell blocks and code spans."""
    text = doc.read_text(encoding="utf-8")
    found = []
    fenced = []
    for block in blocks(doc):
        start = text.index(block.text, sum(len(l) + 1 for l in text.splitlines()[:block.line - 1]))
        fenced.append((start, start + len(block.text)))
        if block.language in SHELL_LANGUAGES:
            for offset, line in enumerate(block.text.splitlines(), start=block.line + 1):
                code = line.split("#", 1)[0]
                for start in INVOCATION.finditer(code):
                    found.append((offset, code[start.start(1):]))
    for match in SPAN.finditer(text):
        if any(a <= match.start() < b for a, b in fenced):
            continue
        span = match.group(1)
        if span.startswith("dfew-build"):
            found.append((text.count("\n", 0, match.start()) + 1, span))
    return found


def _tokens(command: str) -> list[str]:
    command = command.split(" #", 1)[0]
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()
    out = []
    for token in tokens[1:]:
        if token in STOP or token.startswith(("$(", ")")):
            break
        out.append(token)
    return out


def check(command: str, root: click.Group) -> list[str]:
    """What in one `dfew-build ...` text does not exist: unknown commands and options."""
    problems = []
    current: click.Command = root
    path = ["dfew-build"]
    tokens = _tokens(command)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in GLOBAL_WITH_VALUE and len(path) == 1:
            i += 2
            continue
        if token in GLOBAL_FLAGS:
            i += 1
            continue
        if isinstance(current, click.Group) and not token.startswith("-"):
            if token in current.commands:
                current = current.commands[token]
                path.append(token)
            elif re.fullmatch(r"[a-z][a-z0-9-]*", token):
                problems.append(f"no command {' '.join(path)} {token}")
                return problems
            else:       # a placeholder: COMMAND, ..., <cmd>
                return problems
            i += 1
            continue
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            known = {opt for p in current.params for opt in (*p.opts, *p.secondary_opts)}
            if name not in known | {"--help"}:
                problems.append(f"{' '.join(path)} has no option {name}")
        i += 1
    return problems
