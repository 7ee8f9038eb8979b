"""`dfew-build ingest`, `dfew-build movies list` and `dfew-build movies proxy`."""

from __future__ import annotations

import click

from dfew_build.cli.base import (echo_json, echo_listing, format_table, pass_state,
                                 show_progress)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--metadata", "metadata_csv", type=click.Path(dir_okay=False), metavar="CSV",
              help="CSV with a file (or path) column and title, year, genre, country.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: summary, files (one entry per file), problems.")
@click.option("--strict", is_flag=True, help="Exit 1 if any file was rejected or not found.")
@click.option("--jobs", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Files fingerprinted and probed at once.")
@click.option("--proxies", is_flag=True,
              help="Then make H.264 proxies of the new movies a browser cannot play "
                   "(as `movies proxy`).")
@pass_state
def ingest(state, paths, metadata_csv, as_json, strict, jobs, proxies) -> None:
    """Register movie files (or folders of them, searched recursively).

    Each file is fingerprinted (sampled SHA-256; a rename or move keeps the identity) and
    probed for duration, fps, frame count, size and codec. Files that are not readable
    videos are recorded as rejected with the reason and the batch goes on. Re-running is
    a no-op for files already ingested; a moved file gets its new path.

    With --proxies, each newly ingested movie a browser cannot play (MPEG-4 Part 2 AVI,
    MPEG-2 VOB, MKV, HEVC...) then gets its H.264 proxy for the extractor page.

    \b
    Exit status: 0 when at least one movie is in the workspace after the run (new,
    already present or moved); 1 when none is, on a workspace or metadata error, with
    --strict when any file was rejected or not found, or with --proxies when a proxy
    failed (the movies stay ingested).
    """
    from dfew_build.media.ingest import ingest as run_ingest
    from dfew_build.media.metadata import read_metadata

    workspace = state.workspace()
    metadata = read_metadata(metadata_csv) if metadata_csv else None
    report = run_ingest(workspace, paths, metadata, jobs=jobs, progress=show_progress())
    summary = report.summary()
    proxy_report = None
    if proxies:
        from dfew_build.media.proxy import make_proxies

        new = [o.movie_id for o in report.outcomes
               if o.status == "ingested" and o.movie_id is not None]
        if new:
            proxy_report = make_proxies(workspace, new, only_unplayable=True,
                                        progress=show_progress())
    if as_json:
        data = {"summary": summary, "files": [o.as_dict() for o in report.outcomes],
                "problems": report.problems}
        if proxies:
            data["proxies"] = proxy_report.as_dict() if proxy_report else None
        echo_json(data)
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
        if proxy_report is not None:
            _echo_proxies(proxy_report)
    if report.usable == 0:
        raise click.ClickException("nothing could be ingested: no readable video among "
                                   f"{len(report.outcomes)} path(s); see the reasons above")
    if strict and (summary["rejected"] or summary["not_found"]):
        raise click.ClickException(
            f"--strict: {summary['rejected']} rejected, {summary['not_found']} not found")
    if proxy_report is not None and proxy_report.failed:
        ids = " ".join(str(i) for i in proxy_report.failed)
        raise click.ClickException(
            f"--proxies: {len(proxy_report.failed)} proxy(ies) could not be made (the movies "
            f"are ingested); after fixing the reason, retry with: dfew-build movies proxy {ids}")


@click.group()
def movies() -> None:
    """Inspect ingested movies."""


@movies.command("list")
@click.option("--status", type=click.Choice(["ok", "rejected"]), help="Only this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_movies(state, status, as_json) -> None:
    """List ingested and rejected movies.

    SIZE is the display size (rotation applied, square pixels), what every stage sees;
    NOTE says when it differs from the coded picture, when the video is interlaced (it is
    deinterlaced on decoding), when its timestamps start late (shifted to 0 s), and when
    a browser cannot play it.
    """
    from dfew_build.media.catalog import display_notes, list_movies as query

    rows = query(state.workspace(), status=status)
    if not echo_listing(rows, as_json,
                        "no movies yet; add some with: dfew-build ingest PATH..."):
        return
    for row in rows:
        row["size"] = f"{row['width']}x{row['height']}" if row["width"] else ""
        row["duration"] = f"{row['duration_s']:.2f}s" if row["duration_s"] else ""
        row["fps"] = f"{row['fps']:.3f}" if row["fps"] else ""
        if row["status"] == "rejected":
            row["note"] = row["error"]
        else:  # display size above; how it differs from the coded picture here
            row["note"] = "; ".join([t for t in (row["title"],) if t] + display_notes(row))
    click.echo(format_table(rows, ["id", "status", "duration", "fps", "frame_count", "size",
                                   "codec", "path", "note"]))
    ok = sum(r["status"] == "ok" for r in rows)
    click.echo(f"{len(rows)} movies: {ok} ok, {len(rows) - ok} rejected")


@movies.command("proxy")
@click.argument("movie_refs", nargs=-1, metavar="[MOVIE...]")
@click.option("--again", is_flag=True, help="Remake proxies that already exist.")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="FFmpeg processes at once (default 1: each already uses every core).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def proxy(state, movie_refs, again, jobs, as_json) -> None:
    """Make H.264 proxies of movies a browser cannot play, for the extractor page.

    Without MOVIE (ids, file names or paths): every ok movie whose format a browser cannot
    play (MPEG-4 Part 2 / MS-MPEG4 AVI, MPEG-2 VOB, MPEG-TS, MKV, HEVC...). Named movies get
    a proxy whatever their format. Each proxy is WS/proxies/NNNNN.mp4 (H.264 + AAC) on the
    movie's own timeline, checked (frame count, first frame at 0 s) before it is recorded;
    the server plays it in place of the movie. Resumable: a proxy already made is kept
    (--again remakes it). Exit status 1 when a proxy failed (the others are still made).
    """
    from dfew_build.media.proxy import make_proxies

    report = make_proxies(state.workspace(), list(movie_refs) or None, again=again, jobs=jobs,
                          progress=show_progress())
    if as_json:
        echo_json(report.as_dict())
    else:
        _echo_proxies(report)
    if report.failed:
        raise click.ClickException(f"{len(report.failed)} proxy(ies) could not be made"
                                   + ("; see the reasons above" if not as_json else ""))


def _echo_proxies(report) -> None:
    for movie_id, result in report.made.items():
        rate = f", {result.frames_per_s:.0f} frames/s" if result.frames_per_s else ""
        click.echo(f"proxy: movie {movie_id} -> proxies/{movie_id:05d}.mp4 "
                   f"({result.frames} frames{rate})")
        if result.note:
            click.echo(f"note: movie {movie_id}: {result.note}", err=True)
    for movie_id, reason in report.failed.items():
        click.echo(f"failed: movie {movie_id}: {reason}", err=True)
    summary = report.summary()
    click.echo(f"proxies made {summary['made']}, already made {summary['already_made']}, "
               f"playable as they are {summary['playable']}, failed {summary['failed']}")
