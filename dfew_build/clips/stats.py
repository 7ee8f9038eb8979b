"""`clips stats`: accepted clips per movie, extractor, intended emotion and duration bin, and
each extractor's rare-emotion bonus (an accepted clip whose intended emotion is one of
clips.rare_emotions earns clips.rare_bonus)."""

from __future__ import annotations

import os

from sqlalchemy import select

from dfew_build.clips.rules import clip_rules, duration_bin
from dfew_build.labels.subset import BIN_NAMES
from dfew_build.db.models import CLIP_STATUSES, Clip, Movie, Person
from dfew_build.emotions import BY_CODE, EMOTIONS

UNSPECIFIED = "unspecified"


def clip_stats(workspace) -> dict:
    rules = clip_rules(workspace.config)
    with workspace.session() as session:
        clips = list(session.scalars(select(Clip)))
        movies = {m.id: m for m in session.scalars(select(Movie))}
        people = {p.id: p for p in session.scalars(select(Person))}
    by_status = {status: 0 for status in CLIP_STATUSES}
    per_movie: dict[int, dict] = {}
    per_extractor: dict[str, dict] = {}
    per_emotion = {e.name: 0 for e in EMOTIONS} | {UNSPECIFIED: 0}
    per_bin = {name: 0 for name in BIN_NAMES}
    cut = 0
    for clip in clips:
        by_status[clip.status] = by_status.get(clip.status, 0) + 1
        if clip.movie_id is not None:
            movie = movies[clip.movie_id]
            entry = per_movie.setdefault(movie.id, {
                "movie_id": movie.id, "movie": os.path.basename(movie.path),
                "accepted": 0, "candidate": 0, "rejected": 0})
            entry[clip.status] += 1
        if clip.status != "accepted":
            continue
        cut += clip.path is not None
        name = people[clip.extractor_id].name if clip.extractor_id else UNSPECIFIED
        extractor = per_extractor.setdefault(name, {
            "extractor": name, "clips": 0, "proposed": 0, "rare_clips": 0, "bonus": 0,
            **{e.name: 0 for e in EMOTIONS}})
        extractor["clips"] += 1
        extractor["proposed"] += clip.source == "proposed"
        emotion = BY_CODE[clip.intended_emotion].name if clip.intended_emotion else UNSPECIFIED
        per_emotion[emotion] += 1
        if clip.intended_emotion:
            extractor[emotion] += 1
        if clip.intended_emotion in rules.rare_codes:
            extractor["rare_clips"] += 1
            extractor["bonus"] += rules.rare_bonus
        per_bin[duration_bin(clip.duration_s)] += 1
    return {
        "total": len(clips), "by_status": by_status, "accepted_cut": cut,
        "max_per_movie": rules.max_per_movie,
        "rare_emotions": [e.name for e in rules.rare_emotions], "rare_bonus": rules.rare_bonus,
        "per_movie": [per_movie[k] for k in sorted(per_movie)],
        "per_extractor": [per_extractor[k] for k in sorted(per_extractor)],
        "per_emotion": per_emotion,
        "per_duration_bin": per_bin,
    }
