"""The `dfew-build` command: a click group of thin commands (parse, call the library, print).

Library modules are imported inside each command so `dfew-build --help` stays fast.
"""

from __future__ import annotations

import click

from dfew_build import __version__
from dfew_build.cli.assign import assign
from dfew_build.cli.base import CliState, DfewGroup
from dfew_build.cli.bench import evaluate, models, train
from dfew_build.cli.clips import clips
from dfew_build.cli.demo import demo
from dfew_build.cli.faces import faces, preprocess
from dfew_build.cli.folds import folds
from dfew_build.cli.gold import gold
from dfew_build.cli.formats import export, import_dfew_command
from dfew_build.cli.labels import annotators, kappa, labels, report
from dfew_build.cli.movies import ingest, movies
from dfew_build.cli.people import people
from dfew_build.cli.serve import serve
from dfew_build.cli.votes import votes
from dfew_build.cli.workspace import init


@click.group(cls=DfewGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-w", "--workspace", envvar="DFEW_WORKSPACE", metavar="PATH",
              help="Workspace folder (default: DFEW_WORKSPACE, else the folder holding "
                   "dfew.toml at or above the current one).")
@click.version_option(__version__, prog_name="dfew-build")
@click.pass_context
def main(ctx: click.Context, workspace: str | None) -> None:
    """Build and benchmark dynamic facial expression datasets the way DFEW was built.

    Start with `dfew-build init PATH`, or `dfew-build demo` for a tour on sample media.
    """
    ctx.obj = CliState(workspace)


for command in (init, ingest, movies, clips, folds, export, import_dfew_command, people, assign,
                serve, votes, kappa, labels, annotators, report, preprocess, faces, models, train,
                evaluate, demo):
    main.add_command(command)
clips.add_command(gold)  # `dfew-build clips gold`
