"""What the extractor page reads: movies, clips on a movie, own clips and the bonus tally."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.clips import clip_rules, format_time
from dfew_build.db.models import Clip, Movie, Person
from dfew_build.emotions import BY_CODE, EMOTIONS
from dfew_build.media.playback import format_label, playback_file, playback_problem, proxy_command


def movie_playback(movie: Movie, workspace_root: Path) -> dict:
    """Whether the extractor page can play a movie, in words for the movie list.

    Returns {"state", "words", "fix"}: state "direct" (the browser plays the file), "proxy"
    (it plays the movie's H.264 proxy), "needs-proxy" (neither; fix is the admin's command)
    or "missing" (the file the player would get is gone). The same choice as the player
    (media.playback.playback_file): one stat per movie, nothing decoded."""
    path, kind = playback_file(movie, workspace_root)
    if kind == "proxy":
        return {"state": "proxy", "fix": None,
                "words": "Plays, from a browser copy (same times as the movie)"}
    if kind == "original":
        if not os.path.isfile(path):
            return {"state": "missing", "fix": None,
                    "words": "Cannot play: the movie file is missing on the server; tell an admin"}
        return {"state": "direct", "words": "Plays in the browser", "fix": None}
    # Without decoding, an H.264 file's pixel format is unknown: name the format only when
    # the container and codec alone explain it.
    known = movie.container and movie.codec and playback_problem(movie.container, movie.codec)
    why = (f"its format ({format_label(movie.container, movie.codec)}) does not play in "
           "browsers" if known else "browsers cannot play this file")
    return {"state": "needs-proxy", "fix": proxy_command(movie.id),
            "words": f"Cannot play yet: {why}. An admin can make a browser copy with"}


def movies_overview(db: Session, person: Person, workspace_root: Path) -> list[dict]:
    """The ok movies by id: title, length, accepted clips (all, the person's), candidates,
    and how the page plays each (movie_playback)."""
    accepted = dict(db.execute(select(Clip.movie_id, func.count()).where(
        Clip.status == "accepted").group_by(Clip.movie_id)).all())
    mine = dict(db.execute(select(Clip.movie_id, func.count()).where(
        Clip.status == "accepted", Clip.extractor_id == person.id)
        .group_by(Clip.movie_id)).all())
    candidates = dict(db.execute(select(Clip.movie_id, func.count()).where(
        Clip.status == "candidate").group_by(Clip.movie_id)).all())
    return [{"id": m.id, "title": m.title or os.path.basename(m.path),
             "duration": format_time(m.duration_s or 0), "accepted": accepted.get(m.id, 0),
             "mine": mine.get(m.id, 0), "candidates": candidates.get(m.id, 0),
             "playback": movie_playback(m, workspace_root)}
            for m in db.scalars(select(Movie).where(Movie.status == "ok").order_by(Movie.id))]


def clip_row(clip: Clip) -> dict:
    return {"id": clip.id, "movie_id": clip.movie_id, "start": format_time(clip.start_s),
            "end": format_time(clip.end_s), "start_s": clip.start_s, "end_s": clip.end_s,
            "duration_s": clip.duration_s, "status": clip.status, "source": clip.source,
            "cut": clip.path is not None,
            "intended": BY_CODE[clip.intended_emotion].name if clip.intended_emotion else ""}


def movie_clips(db: Session, movie_id: int, status: str) -> list[dict]:
    return [clip_row(c) for c in db.scalars(select(Clip).where(
        Clip.movie_id == movie_id, Clip.status == status).order_by(Clip.start_s))]


def own_clips(db: Session, person: Person, limit: int = 500) -> list[dict]:
    return [clip_row(c) for c in db.scalars(
        select(Clip).where(Clip.extractor_id == person.id)
        .order_by(Clip.id.desc()).limit(limit))]


def bonus_tally(db: Session, person: Person, config: dict) -> dict:
    """The person's accepted clips per intended emotion and their rare-emotion bonus, by the
    rule of `dfew-build clips stats` (clips.rare_emotions, clips.rare_bonus)."""
    rules = clip_rules(config)
    counts = dict(db.execute(select(Clip.intended_emotion, func.count()).where(
        Clip.extractor_id == person.id, Clip.status == "accepted")
        .group_by(Clip.intended_emotion)).all())
    rare = sum(n for code, n in counts.items() if code in rules.rare_codes)
    return {"clips": sum(counts.values()), "rare_clips": rare, "bonus": rare * rules.rare_bonus,
            "rare_emotions": [e.name for e in rules.rare_emotions],
            "per_emotion": [(e.name, counts.get(e.code, 0)) for e in EMOTIONS],
            "unspecified": counts.get(None, 0)}
