"""`dfew-build clips import|propose|confirm|reject|retire|restore|cut|list|stats`."""

from __future__ import annotations

import click

from dfew_build.cli.base import (echo_json, echo_listing, format_table, narrow_resume,
                                 pass_state, show_progress)

STATUSES = ("candidate", "accepted", "rejected")
SOURCES = ("manual", "proposed", "imported")


def executor_options(command):
    """--executor local|ray and --ray-address, for the stages that run per clip or movie
    (preprocess, clips propose, clips cut); see docs/scaling.md."""
    command = click.option(
        "--ray-address", metavar="ADDRESS",
        help="With --executor ray: the cluster to run on, `auto` (the one `ray start` runs "
             "here) or ray://HOST:10001 (default: $RAY_ADDRESS, else a new local Ray "
             "instance).")(command)
    return click.option(
        "--executor", type=click.Choice(["local", "ray"]), default="local",
        show_default=True,
        help="Where the work runs: this machine, or Ray tasks on a cluster (this process "
             "still writes the database; the workspace and movies must be on a filesystem "
             "every node mounts at the same path).")(command)


def make_executor(name: str, address: str | None):
    from dfew_build.executors import create_executor

    return create_executor(name, address=address)


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
    """Clips cut from movies: import, propose, confirm/reject, retire/restore, cut, list,
    stats.

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

    workspace = state.workspace()
    report = import_clips(workspace, csv_path, allow_overlap=allow_overlap)
    summary = report.summary()
    if as_json:
        echo_json(report.as_dict())
    else:
        for message in report.messages():
            click.echo(message, err=True)
        for message in _typo_warnings(workspace, report.new_extractors):
            click.echo(message, err=True)
        extractors = (f"; new extractors: {', '.join(report.new_extractors)}"
                      if report.new_extractors else "")
        click.echo(f"imported {summary['imported']}, already present "
                   f"{summary['already_present']}, refused {summary['refused']}{extractors}")
    stored = summary["imported"] + summary["already_present"]
    if summary["refused"] and (strict or not stored):
        raise click.ClickException(f"{summary['refused']} of {summary['rows']} rows refused"
                                   + ("; see the reasons above" if not as_json else ""))


def _typo_warnings(workspace, new_names: list[str]) -> list[str]:
    """A warning for each new extractor whose name is close to another extractor's."""
    if not new_names:
        return []
    from dfew_build.clips.library import close_names, extractor_names

    with workspace.session() as session:
        known = extractor_names(session)
    warnings = []
    for name in new_names:
        close = close_names(name, [k for k in known if k != name])
        if close:
            warnings.append(f"warning: new extractor {name!r} looks like "
                            + " or ".join(repr(c) for c in close)
                            + f"; if it is a typo, see its clips with: dfew-build clips list "
                            f"--extractor {name!r}")
    return warnings


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
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def propose(state, movies, again, detector, model_dir, device, executor, ray_address,
            as_json) -> None:
    """Propose candidate clips: one-face windows inside detected shots.

    Candidates get status `candidate`; confirm them with `clips confirm IDS` (or on the
    extractor web page) before they count as clips. Ctrl-C keeps the movies done and says
    the command that does the rest.
    """
    from dfew_build.errors import Interrupted

    workspace = state.workspace()
    movie_refs = [ref for value in movies for ref in value.split(",") if ref.strip()]
    try:
        report = _propose(workspace, movie_refs, again, detector, model_dir, device, executor,
                          ray_address)
    except Interrupted as exc:  # --again again would redo the movies just done
        narrow_resume(exc, flag="--again", ids_option="--movies")
        raise
    _propose_output(report, as_json)


def _propose(workspace, movie_refs, again, detector, model_dir, device, executor,
             ray_address):
    from dfew_build.clips.propose import propose_clips, proposal_detector

    with make_executor(executor, ray_address) as runner:
        if runner.distributed:
            return propose_clips(workspace, movie_refs or None, again=again,
                                 progress=show_progress(), executor=runner,
                                 detector_options={"name": detector, "model_dir": model_dir,
                                                   "device": device})
        return propose_clips(
            workspace, movie_refs or None, again=again, progress=show_progress(),
            make_detector=lambda: proposal_detector(workspace, detector,
                                                    model_dir=model_dir, device=device))


def _propose_output(report, as_json: bool) -> None:
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


def _batch_output(outcome, verb: str, as_json: bool, extra: dict | None = None) -> None:
    if as_json:
        echo_json({**outcome.as_dict(), **(extra or {})})
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
@click.option("--extractor", metavar="NAME", help="The extractor who confirms (credited); "
              "must be a known extractor unless --new-extractor is given.")
@click.option("--new-extractor", is_flag=True,
              help="Add --extractor NAME as a new extractor if nobody has that name.")
@click.option("--allow-overlap", is_flag=True, help="Confirm despite overlapping clips.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def confirm(state, ids, extractor, new_extractor, allow_overlap, as_json) -> None:
    """Accept candidate clips IDS (like `3 5 8-12`); the per-movie limit applies.

    An unknown --extractor name is refused (naming the known extractors it resembles), so
    a typo does not become a new extractor with a bonus of its own; --new-extractor adds it.
    """
    from dfew_build.clips.library import confirm_clips

    if new_extractor and not extractor:
        raise click.UsageError("--new-extractor needs --extractor NAME")
    workspace = state.workspace()
    ids = _parse_ids(ids)
    with workspace.session() as session:
        outcome = confirm_clips(session, workspace.config, ids, extractor=extractor,
                                allow_overlap=allow_overlap, new_extractor=new_extractor)
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


@clips.command("retire")
@click.argument("ids", nargs=-1, required=True)
@click.option("--reason", required=True, metavar="TEXT",
              help="Why (stored with the time), e.g. 'no face visible'.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def retire(state, ids, reason, as_json) -> None:
    """Take accepted clips IDS out of the campaign (like `3 5 8-12`).

    A retired clip keeps its row, file, assignments and votes, with the reason and the
    time; it leaves the annotators' queues and `assign`, and agreement, labels, folds and
    exports count none of its votes. `clips restore IDS` puts it back. Candidates are
    rejected (`clips reject`), not retired.
    """
    from dfew_build.clips.library import retire_clips, stored_votes

    workspace = state.workspace()
    ids = _parse_ids(ids)
    with workspace.session() as session:
        outcome = retire_clips(session, ids, reason)
        votes = stored_votes(session, outcome.done)
    _batch_output(outcome, "retired", as_json, extra={"votes_kept": votes})
    if outcome.done and not as_json:
        click.echo(f"{votes} vote(s) on the retired clip(s) stay stored and count nowhere; "
                   "undo with: dfew-build clips restore IDS")


@clips.command("restore")
@click.argument("ids", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def restore(state, ids, as_json) -> None:
    """Put retired clips IDS back in the campaign: their votes count again and their
    unvoted assignments return to the annotators' queues."""
    from dfew_build.clips.library import restore_clips

    workspace = state.workspace()
    ids = _parse_ids(ids)
    with workspace.session() as session:
        outcome = restore_clips(session, ids)
    _batch_output(outcome, "restored", as_json)


@clips.command("cut")
@click.option("--jobs", type=click.IntRange(1, 64), default=None,
              help="FFmpeg processes at once (default: CPU cores, at most 4); with "
                   "--executor ray it only sets FFmpeg's threads per clip (cores / jobs).")
@executor_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_state
def cut(state, jobs, executor, ray_address, as_json) -> None:
    """Cut every accepted clip that has no file yet into WS/clips/NNNNN.mp4.

    Frame-accurate re-encode (H.264, audio kept), verified by probing the output;
    resumable: re-running cuts only what is missing. Exit status 1 when a clip failed
    (the others are still cut). Ctrl-C stops FFmpeg, keeps the clips cut and says so (exit
    status 130); FFmpeg never outlives a killed run.
    """
    from dfew_build.clips.cut import cut_clips

    workspace = state.workspace()
    with make_executor(executor, ray_address) as runner:
        report = cut_clips(workspace, jobs=jobs, progress=show_progress(), executor=runner)
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
@click.option("--retired/--not-retired", default=None,
              help="Only retired clips / only clips still in the campaign (default: both).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def list_(state, movie, status, source, extractor, retired, as_json) -> None:
    """List clips with their movie, span, extractor, status, file and retirement."""
    from dfew_build.clips.library import clip_dict, list_clips

    workspace = state.workspace()
    with workspace.session() as session:
        rows = [clip_dict(c) for c in list_clips(session, movie=movie, status=status,
                                                 source=source, extractor=extractor,
                                                 retired=retired)]
    if not echo_listing(rows, as_json, "no clips; add some with: dfew-build clips import CSV "
                        "(or clips propose)"):
        return
    for row in rows:
        row["duration"] = f"{row['duration_s']:.3f}s"
        row["emotion"] = row["intended_emotion"]
        row["retired"] = row["retired_reason"]
    click.echo(format_table(rows, ["id", "movie_id", "movie", "start", "end", "duration",
                                   "extractor", "emotion", "source", "status", "path",
                                   "retired"]))
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
