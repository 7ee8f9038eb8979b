"""`dfew-build assign`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, pass_state


@click.command()
@click.option("--per-clip", type=click.IntRange(1, 1000), metavar="N",
              help="Distinct annotators per clip (default: [annotation] raters_per_clip in "
                   "dfew.toml, 10 as in DFEW).")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed for breaking ties; the same seed and database give the same result.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_state
def assign(state, per_clip, seed, as_json) -> None:
    """Give every cut, accepted clip N distinct active annotators.

    Loads are balanced (assignments per annotator differ by at most one where the pool
    allows). Re-running adds only what is missing. Unvoted assignments of deactivated
    annotators go to others; a clip someone voted on stays theirs. Fails, writing
    nothing, when a clip cannot get N distinct active annotators.
    """
    from dfew_build.annotation.assign import assign_clips

    workspace = state.workspace()
    n = per_clip or workspace.config["annotation"]["raters_per_clip"]
    with workspace.session() as session:
        report = assign_clips(session, n, seed=seed)
    summary = report.as_dict()
    if as_json:
        echo_json(summary)
        return
    if not report.clips:
        click.echo("no clips to assign yet: clips are assignable once cut "
                   "(dfew-build clips cut) and accepted")
        return
    released = f", {report.released} released from deactivated annotators" \
        if report.released else ""
    loads = report.loads.values()
    click.echo(f"{report.added} assignment(s) added{released}; {report.clips} clip(s) with "
               f"{n} annotators each; {len(report.loads)} annotators, "
               f"{min(loads)}-{max(loads)} clips each")
