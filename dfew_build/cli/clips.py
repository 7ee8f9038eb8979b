"""`dfew-build clips import|propose|confirm|reject|cut|list|stats`."""

from __future__ import annotations

import click

from dfew_build.cli.base import echo_json, format_table, pass_state, show_progress

STATUSES = ("candidate", "accepted", "rejected")
SOURCES = ("manual", "proposed", "imported")


def _parse_ids(values: tuple[str, ...]) -> list[int]:
    """Clip ids from `12`, `12,13` or ranges `12-20`."""
    ids: list[int] = []
    for value in values:
        for part in value.replace(",", " ").split():
            low, dash, high = part.partition("-")
            try:
                if dash:
                    first, last = int(low), int(high)
                    if last < first:
                        raise ValueError
                    ids.extend(range(first, last + 1))
                else:
                    ids.append(int(part))
            except ValueError:
                raise click.BadParameter(f"{part!r} is not a clip id or a range like 12-20",
                                         param_hint="IDS") from None
    return list(dict.fromkeys(ids))


@click.group()
def clips() -> None:
    """Clips cut from movies: import, propose, confirm/reject, cut, list, stats.

    DFEW's rules (dfew.toml [clips]): at most 20 accepted clips per movie, clip
    lengths within 0.5-10 s, no clip overlapping another of the same movie by more than
    half of the shorter one. See docs/clips.md.
    """


@clips.command("import")
@click.argument("csv_path", metavar="CSV", type=click.Path(dir_okay=False))
@click.option("--allow-overlap", is_flag=True,
              help="Keep clips that overlap another clip of the same movie.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 if any row was refused.")
@pass_state
def import_(state, csv_path, allow_overlap, as_json, strict) -> None:
    """Import extractors' clips from CSV (one clip per row).

    \b
    Columns: movie (id, file name or path), start, end, extractor, and optionally
    emotion (code 1..7 or name). Times: seconds (12.5), HH:MM:SS.mmm, or frame
    numbers with their unit (300f). Unknown extractor names are added as extractors.
    Refused rows are reported by line number; the valid rows are stored. Rows that
    repeat a stored clip are reported as already present.

    Exit status 1 when rows were refused and none was stored (or with --strict when
    any was refused).
    """
    from dfew_build.clips.importer import import_clips

    report = import_clips(state.workspace(), csv_path, allow_overlap=allow_overlap)
    summary = report.summary()
    if as_json:
        echo_json(report.as_dict())
    else:
        for message in report.messages():
            click.echo(message, err=True)
        extractors = (f"; new extractors: {', '.join(report.new_extractors)}"
                      if report.new_extractors else "")
        click.echo(f"imported {summary['imported']}, already present "
                   f"{summary['already_present']}, refused {summary['refused']}{extractors}")
    stored = summary["imported"] + summary["already_present"]
    if summary["refused"] and (strict or not stored):
        raise click.ClickException(f"{summary['refused']} of {summary['rows']} rows refused"
                                   + ("; see the reasons above" if not as_json else ""))


@clips.command("propose")
@click.option("--movies", "movies", multiple=True, metavar="MOVIE",
              help="Only these movies (id, file name or path; repeatable). Default: all.")
@click.option("--again", is_flag=True,
              help="Look again at movies that already have proposals.")
@click.option("--detector", default="auto", show_default=True,
              type=click.Choice(["auto", "mtcnn", "insightface"]), help="Face detector.")
@click.option("--model-dir", type=click.Path(file_okay=True), metavar="DIR",
              help="insightface model pack (for --detector insightface/auto).")
@click.option("--device", default="cpu", show_default=True,
              type=click.Choice(["cpu", "cuda", "auto"]), help="Where the detector runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def propose(state, movies, again, detector, model_dir, device, as_json) -> None:
    """Propose candidate clips: one-face windows inside detected shots.

    Candidates get status `candidate`; confirm them with `clips confirm IDS` (or on the
    extractor web page) before they count as clips.
    """
    from dfew_build.clips.propose import propose_clips
    from dfew_build.faces.detectors import create_detector

    workspace = state.workspace()
    movie_refs = [ref for value in movies for ref in value.split(",") if ref.strip()]
    report = propose_clips(
        workspace, movie_refs or None, again=again, progress=show_progress(),
        make_detector=lambda: create_detector(detector, model_dir=model_dir, device=device))
    if as_json:
        echo_json(report.as_dict())
        return
    for movie in report.movies:
        if movie.status == "failed":
            click.echo(f"failed: movie {movie.movie_id} ({movie.movie}): {movie.message}",
                       err=True)
        elif movie.status == "proposed":
            click.echo(f"movie {movie.movie_id} ({movie.movie}): {movie.shots} shots, "
                       f"{movie.samples} frames checked, {len(movie.candidates)} new "
                       "candidates")
    summary = report.summary()
    click.echo(f"{summary['candidates']} new candidates from {summary['proposed']} movies "
               f"({summary['skipped']} skipped: already proposed, {summary['failed']} failed)")
    if summary["candidates"]:
        click.echo("review them with: dfew-build clips list --status candidate")


def _batch_output(outcome, verb: str, as_json: bool) -> None:
    if as_json:
        echo_json(outcome.as_dict())
    else:
        for clip_id, reason in outcome.refused.items():
            click.echo(f"refused: {reason}" if reason.startswith("clip ")
                       else f"refused: clip {clip_id}: {reason}", err=True)
        click.echo(f"{verb} {len(outcome.done)}, unchanged {len(outcome.unchanged)}, "
                   f"refused {len(outcome.refused)}")
    if outcome.refused and not outcome.done and not outcome.unchanged:
        raise click.ClickException(f"no clip {verb}")


@clips.command("confirm")
@click.argument("ids", nargs=-1, required=True)
@click.option("--extractor", metavar="NAME", help="The extractor who confirms (credited).")
@click.option("--allow-overlap", is_flag=True, help="Confirm despite overlapping clips.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def confirm(state, ids, extractor, allow_overlap, as_json) -> None:
    """Accept candidate clips IDS (like `3 5 8-12`); the per-movie limit applies."""
    from dfew_build.clips.library import confirm_clips

    workspace = state.workspace()
    with workspace.session() as session:
        outcome = confirm_clips(session, workspace.config, _parse_ids(ids),
                                extractor=extractor, allow_overlap=allow_overlap)
    _batch_output(outcome, "confirmed", as_json)


@clips.command("reject")
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def reject(state, ids, as_json) -> None:
    """Reject candidate clips IDS; they stay recorded so they are not proposed again."""
    from dfew_build.clips.library import reject_clips

    workspace = state.workspace()
    with workspace.session() as session:
        outcome = reject_clips(session, _parse_ids(ids))
    _batch_output(outcome, "rejected", as_json)


@clips.command("cut")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="FFmpeg processes at once (default: CPU cores, at most 4).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def cut(state, jobs, as_json) -> None:
    """Cut every accepted clip that has no file yet into WS/clips/NNNNN.mp4.

    Frame-accurate re-encode (H.264, audio kept), verified by probing the output;
    resumable: re-running cuts only what is missing. Exit status 1 when a clip failed
    (the others are still cut).
    """
    from dfew_build.clips.cut import cut_clips

    report = cut_clips(state.workspace(), jobs=jobs, progress=show_progress())
    summary = report.summary()
    if as_json:
        echo_json(report.as_dict())
    else:
        for clip_id, reason in sorted(report.failed.items()):
            click.echo(f"failed: clip {clip_id}: {reason}", err=True)
        click.echo(f"cut {summary['cut']}, already cut {summary['already_cut']}, "
                   f"failed {summary['failed']}")
    if report.failed:
        raise click.ClickException(f"{summary['failed']} clip(s) could not be cut"
                                   + ("; see the reasons above" if not as_json else ""))


@clips.command("list")
@click.option("--movie", metavar="MOVIE", help="Only this movie (id, file name or path).")
@click.option("--status", type=click.Choice(STATUSES), help="Only this status.")
@click.option("--source", type=click.Choice(SOURCES), help="Only this source.")
@click.option("--extractor", metavar="NAME", help="Only this extractor's clips.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_(state, movie, status, source, extractor, as_json) -> None:
    """List clips with their movie, span, extractor, status and file."""
    from dfew_build.clips.library import clip_dict, list_clips

    workspace = state.workspace()
    with workspace.session() as session:
        rows = [clip_dict(c) for c in list_clips(session, movie=movie, status=status,
                                                 source=source, extractor=extractor)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("no clips; add some with: dfew-build clips import CSV (or clips propose)")
        return
    for row in rows:
        row["duration"] = f"{row['duration_s']:.3f}s"
        row["emotion"] = row["intended_emotion"]
    click.echo(format_table(rows, ["id", "movie_id", "movie", "start", "end", "duration",
                                   "extractor", "emotion", "source", "status", "path"]))
    click.echo(f"{len(rows)} clips")


@clips.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def stats(state, as_json) -> None:
    """Accepted clips per movie, extractor, intended emotion and duration bin, and each
    extractor's rare-emotion bonus."""
    from dfew_build.clips.stats import clip_stats

    data = clip_stats(state.workspace())
    if as_json:
        echo_json(data)
        return
    status = ", ".join(f"{k} {v}" for k, v in data["by_status"].items())
    click.echo(f"{data['total']} clips: {status}; {data['accepted_cut']} accepted cut")
    if data["per_movie"]:
        click.echo("\nper movie (max accepted: %d)" % data["max_per_movie"])
        click.echo(format_table(data["per_movie"],
                                ["movie_id", "movie", "accepted", "candidate", "rejected"]))
    if data["per_extractor"]:
        rare = ", ".join(data["rare_emotions"]) or "none"
        click.echo(f"\nper extractor (rare emotions: {rare}; bonus {data['rare_bonus']} each)")
        click.echo(format_table(data["per_extractor"],
                                ["extractor", "clips", "proposed", "rare_clips", "bonus"]))
    click.echo("\nper intended emotion")
    click.echo(format_table([{"emotion": k, "clips": v} for k, v in data["per_emotion"].items()],
                            ["emotion", "clips"]))
    click.echo("\nper duration")
    click.echo(format_table([{"duration": k, "clips": v}
                             for k, v in data["per_duration_bin"].items()],
                            ["duration", "clips"]))
