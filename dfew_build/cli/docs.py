"""docs/cli.md, generated from the commands' own --help.

Regenerate after changing a command, an option or a help text:

    python -m dfew_build.cli.docs --write

`tests/unit/test_docs_cli.py` fails when docs/cli.md is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import click

WIDTH = 100  # fixed, so the output does not depend on the terminal
CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
REGENERATE = "python -m dfew_build.cli.docs --write"


def walk(command: click.Command, path: tuple[str, ...] = ("dfew-build",)
         ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """(command path, command) for the group and every command below it, sorted by name."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], path + (name,))


def help_text(path: tuple[str, ...], command: click.Command) -> str:
    """The text `PATH --help` prints, at a fixed width (contexts as click builds them, so
    the group's context_settings, e.g. -h, reach every command)."""
    from dfew_build.cli import main

    ctx = None
    current: click.Command = main
    for depth, name in enumerate(path):
        if depth:
            current = current.commands[name]
        ctx = click.Context(current, info_name=name, parent=ctx, terminal_width=WIDTH,
                            max_content_width=WIDTH, **current.context_settings)
    assert current is command
    return command.get_help(ctx).rstrip() + "\n"


def render() -> str:
    """The whole of docs/cli.md."""
    from dfew_build.cli import main

    commands = list(walk(main))
    parts = ["# Command reference\n",
             "<!-- Generated from the commands' --help by `" + REGENERATE + "`; do not edit. "
             "tests/unit/test_docs_cli.py fails when this file is out of date. -->\n",
             "Every `dfew-build` command and option, as `--help` prints them. The guides "
             "(docs/index.md) say when to use which.\n",
             "\n".join(f"- [`{' '.join(p)}`](#{'-'.join(p)})" for p, _ in commands) + "\n"]
    for path, command in commands:
        parts.append(f'<a id="{"-".join(path)}"></a>\n\n## `{" ".join(path)}`\n\n'
                     f"```text\n{help_text(path, command)}```\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Print docs/cli.md, or with --write replace it."""
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--write" in argv:
        CLI_MD.write_text(text, encoding="utf-8")
        print(f"wrote {CLI_MD}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
