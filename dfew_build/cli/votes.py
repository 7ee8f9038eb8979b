"""`dfew-build votes import` and `dfew-build votes export`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, pass_state, show_progress

# Problems printed before "... and N more" (all of them are in --json).
MAX_PRINTED_PROBLEMS = 50


@click.group()
def votes() -> None:
    """Import and export votes (`clip_id,annotator,emotion` CSV files)."""


@votes.command("import")
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=True))
@click.option("--update", "update_existing", is_flag=True,
              help="Replace stored votes whose emotion differs from the file's "
                   "(default: keep them and report the row).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and every problem "
                                                      "as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 if any row had a problem.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), metavar="SECONDS",
              default=60.0, show_default=True,
              help="How long a batch may wait for a database locked by another program "
                   "before the import stops (what it stored stays stored).")
@pass_state
def import_cmd(state, csv_path, update_existing, as_json, strict, wait_s) -> None:
    """Store the votes in CSV (header `clip_id,annotator,emotion`).

    The emotion is a code 1..7 (DFEW order: happy, sad, neutral, angry, surprise, disgust,
    fear) or a name. Rows with an unknown clip, annotator or emotion, duplicates and
    conflicting votes are reported with their line number and skipped; the other rows are
    stored. Votes for clips without an assignment create one (source `imported`).
    Importing the same file again changes nothing.

    Safe while `dfew-build serve` takes votes: rows are written a few hundred per
    transaction, so web votes wait milliseconds; a vote cast on the web before its row is
    written counts as stored (kept, and the row reported, when the emotions differ;
    replaced with --update). An import stopped by a locked database keeps what it wrote;
    running it again does the rest.

    \b
    Exit status: 0 when the file was read and some of its rows are stored now (new or
    already there; rows with problems are reported and skipped); 1 when the file cannot
    be used, when it has data rows but none is stored, when the import stopped part-way,
    or with --strict on any problem.
    """
    from dfew_build.annotation.votes import VoteImportInterrupted, import_votes

    workspace = state.workspace()
    stopped = None
    with workspace.session() as session:
        try:
            report = import_votes(session, csv_path, update_existing=update_existing,
                                  progress=show_progress(), lock_wait_s=wait_s)
        except VoteImportInterrupted as exc:
            report, stopped = exc.report, str(exc)
    summary = report.summary()
    if as_json:
        echo_json({**report.as_dict(), **({"stopped": stopped} if stopped else {})})
    else:
        lines = report.problem_lines()
        for line in lines[:MAX_PRINTED_PROBLEMS]:
            click.echo(line, err=True)
        if len(lines) > MAX_PRINTED_PROBLEMS:
            click.echo(f"... and {len(lines) - MAX_PRINTED_PROBLEMS} more problem(s); "
                       "--json lists them all", err=True)
        updated = f", updated {summary['updated']}" if update_existing else ""
        click.echo(f"{summary['rows']} rows: imported {summary['imported']}{updated}, "
                   f"already stored {summary['unchanged']}, problems {summary['problems']}; "
                   f"{summary['assignments_created']} assignment(s) created")
    if stopped:
        raise click.ClickException(stopped)
    if report.rows and not report.usable:
        raise click.ClickException(f"no vote could be stored from {csv_path}: every one of "
                                   f"its {report.rows} rows has a problem (see above)")
    if strict and report.problems:
        raise click.ClickException(f"--strict: {len(report.problems)} row(s) with problems")


@votes.command("export")
@click.argument("csv_path", metavar="CSV", type=click.Path(allow_dash=True))
@click.option("--names", is_flag=True, help="Write emotion names instead of codes 1..7.")
@pass_state
def export_cmd(state, csv_path, names) -> None:
    """Write every vote to CSV (`-` for stdout) as `clip_id,annotator,emotion`.

    Ordered by clip id, then annotator name; emotions as DFEW codes 1..7 unless --names.
    The file is written to a temporary name and moved into place when complete.
    """
    from dfew_build.annotation.votes import export_votes, write_votes

    workspace = state.workspace()
    with workspace.session() as session:
        if csv_path == "-":
            write_votes(session, click.open_file("-", "w", encoding="utf-8"), names=names)
            return
        count = export_votes(session, csv_path, names=names)
    click.echo(f"exported {count} votes to {csv_path}")
