"""What every command shares: the group class that turns library errors into click errors,
the workspace lookup, and output helpers. Only click is imported at start-up."""

from __future__ import annotations

import json
import sys

import click


class DfewGroup(click.Group):
    """A click group that shows library errors as one clear line, never a traceback, and a
    Ctrl-C in a long stage as what finished plus the command that resumes (status 130)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)
        rest = super().parse_args(ctx, args)
        ctx.meta["dfew.argv"] = given  # for the command line that resumes after a Ctrl-C
        # The group's own options (-w PATH …) come before the subcommand's name and the
        # subcommand's arguments (what click returns).
        ctx.meta["dfew.global_args"] = given[:max(0, len(given) - len(rest) - 1)]
        return rest

    def invoke(self, ctx: click.Context):
        from dfew_build.errors import DfewError, Interrupted

        try:
            return super().invoke(ctx)
        except Interrupted as exc:
            click.echo(interrupted_message(ctx, exc), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:  # a stage that does not say more: still no traceback
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)
        except DfewError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            # A database outage in the middle of a command (server gone, disk full) is the
            # user's to fix, not a bug: say so in one line. Other errors keep their traceback.
            if _is_operational(exc):
                raise click.ClickException(
                    f"database error: {getattr(exc, 'orig', exc)}; check that the database "
                    "named by DFEW_DATABASE_URL or dfew.toml is reachable") from None
            raise


def interrupted_message(ctx: click.Context, exc) -> str:
    """'interrupted: WHAT FINISHED' and 'resume with: dfew-build …', the command line as
    given (quoted for a POSIX shell), or with the stage's own resume arguments."""
    import shlex

    meta = ctx.find_root().meta
    args = meta.get("dfew.argv", [])
    if exc.resume is not None:
        args = [*meta.get("dfew.global_args", []), *exc.resume]
    return f"\ninterrupted: {exc}\nresume with: {shlex.join(['dfew-build', *args])}"


def narrow_resume(exc, *, flag: str, ids_option: str, ranges: bool = False) -> None:
    """For a command given ``flag`` (--redo, --again: do the done ones again), running the
    same line again would redo what the interrupted run finished: set ``exc.resume`` to the
    line with ``ids_option`` naming only ``exc.remaining``. ``ranges``: write runs of ids
    as 5-9 (what --clips reads)."""
    meta = click.get_current_context().find_root().meta
    args = meta.get("dfew.argv", [])[len(meta.get("dfew.global_args", [])):]
    if flag not in args or exc.remaining is None or not exc.remaining:
        return
    kept, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == ids_option:
            skip = True
        elif not arg.startswith(ids_option + "="):
            kept.append(arg)
    exc.resume = [*kept, ids_option, format_ids(exc.remaining, ranges=ranges)]


def format_ids(ids: list[int], *, ranges: bool = False) -> str:
    """[1, 2, 3, 5] -> '1-3,5' (ranges) or '1,2,3,5'."""
    ids = sorted(set(ids))
    if not ranges:
        return ",".join(map(str, ids))
    parts, start = [], None
    for i, value in enumerate(ids):
        if start is None:
            start = value
        if i + 1 == len(ids) or ids[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def _is_operational(exc: Exception) -> bool:
    if not type(exc).__module__.startswith("sqlalchemy"):
        return False
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)


class CliState:
    def __init__(self, workspace: str | None):
        self.workspace_option = workspace
        self._workspace = None

    def workspace(self):
        """The workspace named by -w/DFEW_WORKSPACE or found from the current folder."""
        if self._workspace is None:
            from dfew_build.workspace import open_workspace

            self._workspace = open_workspace(self.workspace_option, warn=warn)
        return self._workspace


pass_state = click.make_pass_decorator(CliState)


def warn(line: str) -> None:
    """A warning from opening the workspace (unknown dfew.toml keys, a password others may
    read): once per command, on stderr so --json output stays clean."""
    click.echo(line, err=True)


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def echo_listing(rows: list[dict], as_json: bool, empty: str) -> bool:
    """What every `list` command prints first: the rows as JSON with --json, or `empty`
    (what to run to get some) when there are none. True when the caller prints its table."""
    if as_json:
        echo_json(rows)
        return False
    if not rows:
        click.echo(empty)
        return False
    return True


def show_progress() -> bool:
    """Progress bars go to stderr, and only when a person is watching it."""
    return sys.stderr.isatty()


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of `rows` under `columns` (None prints empty), two spaces between
    columns. Cells are padded by terminal display width, not len(): a decomposed name
    ("e" + U+0301) or a CJK one (two columns a character) keeps the next columns aligned."""
    from dfew_build.markdown import display_width

    def pad(text: str, width: int) -> str:
        return text + " " * (width - display_width(text))

    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([display_width(c)] + [display_width(row[i]) for row in cells])
              for i, c in enumerate(columns)]
    lines = ["  ".join(pad(c, w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(pad(v, w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)
