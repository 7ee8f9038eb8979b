"""`dfew-build ingest` and `dfew-build movies list`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state, show_progress



@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--metadata", "metadata_csv", type=click.Path(dir_okay=False), metavar="CSV",
              help="CSV with a file (or path) column and title, year, genre, country.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
@click.option("--strict", is_flag=True, help="Exit 1 if any file was rejected or not found.")
@click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Files fingerprinted and probed at once.")
@pass_state
def ingest(state, paths, metadata_csv, as_json, strict, jobs) -> None:
    """Register movie files (or folders of them, searched recursively).

    Each file is fingerprinted (sampled SHA-256; a rename or move keeps the identity) and
    probed for duration, fps, frame count, size and codec. Files that are not readable
    videos are recorded as rejected with the reason and the batch goes on. Re-running is
    a no-op for files already ingested; a moved file gets its new path.

    \b
    Exit status: 0 when at least one movie is in the workspace after the run (new,
    already present or moved); 1 when none is, on a workspace or metadata error, or
    with --strict when any file was rejected or not found.
    """
    from dfew_build.media.ingest import ingest as run_ingest
    from dfew_build.media.metadata import read_metadata

    workspace = state.workspace()
    metadata = read_metadata(metadata_csv) if metadata_csv else None
    report = run_ingest(workspace, paths, metadata, jobs=jobs, progress=show_progress())
    summary = report.summary()
    if as_json:
        echo_json({"summary": summary, "files": [o.as_dict() for o in report.outcomes],
                   "problems": report.problems})
    else:
        for outcome in report.outcomes:
            if outcome.status in ("rejected", "not_found"):
                click.echo(f"{outcome.status.replace('_', ' ')}: {outcome.path}: "
                           f"{outcome.message}", err=True)
            elif outcome.status == "moved":
                click.echo(f"moved: movie {outcome.movie_id} {outcome.message} to {outcome.path}")
        for problem in report.problems:
            click.echo(f"metadata: {problem}", err=True)
        moved = f" ({summary['moved']} moved)" if summary["moved"] else ""
        missing = f", {summary['not_found']} not found" if summary["not_found"] else ""
        click.echo(f"ingested {summary['ingested']}, already present "
                   f"{summary['already_present']}{moved}, rejected {summary['rejected']}"
                   f"{missing}")
    if report.usable == 0:
        raise click.ClickException("nothing could be ingested: no readable video among "
                                   f"{len(report.outcomes)} path(s); see the reasons above")
    if strict and (summary["rejected"] or summary["not_found"]):
        raise click.ClickException(
            f"--strict: {summary['rejected']} rejected, {summary['not_found']} not found")


@click.group()
def movies() -> None:
    """Inspect ingested movies."""


@movies.command("list")
@click.option("--status", type=click.Choice(["ok", "rejected"]), help="Only this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_movies(state, status, as_json) -> None:
    """List ingested and rejected movies."""
    from dfew_build.media.catalog import list_movies as query

    rows = query(state.workspace(), status=status)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no movies yet; add some with: dfew-build ingest PATH...")
        return
    for row in rows:
        row["size"] = f"{row['width']}x{row['height']}" if row["width"] else ""
        row["duration"] = f"{row['duration_s']:.2f}s" if row["duration_s"] else ""
        row["fps"] = f"{row['fps']:.3f}" if row["fps"] else ""
        row["note"] = row["error"] if row["status"] == "rejected" else row["title"]
    click.echo(format_table(rows, ["id", "status", "duration", "fps", "frame_count", "size",
                                   "codec", "path", "note"]))
    ok = sum(r["status"] == "ok" for r in rows)
    click.echo(f"{len(rows)} movies: {ok} ok, {len(rows) - ok} rejected")
