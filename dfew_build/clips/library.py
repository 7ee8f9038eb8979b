"""Adding, confirming, rejecting, retiring and restoring clips under DFEW's rules (rules.py).

Every function takes an open SQLAlchemy session (the caller commits) and raises ClipError
with a message that names the movie, clip or value at fault. Only `accepted` clips count
toward the per-movie limit and the overlap rule; proposed candidates do not until confirmed.
A retired clip (`retire_clip`) stays accepted, with its votes, and keeps its place under the
per-movie limit; it only leaves the campaign (queues, assignment and every analysis).

Finding movies and clips (lookup.py), extractors (extractors.py), batch outcomes (batch.py)
and retiring (retire.py) live in their own modules; their names are re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.clips.batch import BatchOutcome, each_clip
from dfew_build.clips.extractors import (clean_name, close_names,  # noqa: F401
                                         extractor_names, find_extractor,
                                         get_or_create_extractor, require_extractor,
                                         unknown_extractor_message)
from dfew_build.clips.lookup import get_clip, movie_label, resolve_movie
from dfew_build.clips.retire import (MAX_REASON, clean_reason, restore_clip,  # noqa: F401
                                     restore_clips, retire_clip, retire_clips, retired_clips,
                                     stored_votes)
from dfew_build.clips.rules import ClipRules, clip_rules, format_time, overlaps_too_much
from dfew_build.db.models import CLIP_SOURCES, Clip, Movie, Person
from dfew_build.emotions import BY_CODE, Emotion, parse_emotion
from dfew_build.errors import ClipError
from dfew_build.people import name_variants

# Start/end that differ by less than this are the same clip (re-imports are no-ops).
SAME_SPAN_S = 1e-3
# A span may end this far past the probed duration (container rounding).
END_SLACK_S = 1e-3


class DuplicateClipError(ClipError):
    """The same movie span is already a clip; `clip_id` names it."""

    def __init__(self, message: str, clip_id: int):
        super().__init__(message)
        self.clip_id = clip_id


def accepted_clips(session: Session, movie_id: int, exclude: int | None = None) -> list[Clip]:
    query = select(Clip).where(Clip.movie_id == movie_id, Clip.status == "accepted")
    if exclude is not None:
        query = query.where(Clip.id != exclude)
    return list(session.scalars(query.order_by(Clip.start_s)))


def check_span(movie: Movie, start_s: float, end_s: float, rules: ClipRules) -> None:
    """The span checks that need no other clip: order, inside the movie, duration bounds."""
    if not (start_s == start_s and end_s == end_s):  # NaN
        raise ClipError("start and end must be numbers")
    if end_s <= start_s:
        raise ClipError(f"end {format_time(end_s)} is not after start {format_time(start_s)}")
    if start_s < 0 or (movie.duration_s and end_s > movie.duration_s + END_SLACK_S):
        raise ClipError(f"{format_time(start_s)}-{format_time(end_s)} lies outside "
                        f"{movie_label(movie)}, which is {format_time(movie.duration_s or 0)} "
                        "long")
    duration = end_s - start_s
    if not rules.min_duration_s <= duration <= rules.max_duration_s:
        raise ClipError(f"duration {duration:.3f} s is outside the allowed "
                        f"{rules.min_duration_s:g}-{rules.max_duration_s:g} s "
                        "(clips.min_duration_s/max_duration_s in dfew.toml)")


def check_limit_and_overlap(session: Session, movie: Movie, start_s: float, end_s: float,
                            rules: ClipRules, *, allow_overlap: bool,
                            exclude: int | None = None) -> None:
    """The rules against the movie's accepted clips: per-movie limit, then overlap."""
    others = accepted_clips(session, movie.id, exclude=exclude)
    if len(others) >= rules.max_per_movie:
        raise ClipError(f"{movie_label(movie)} already has {len(others)} clips, the most "
                        f"allowed (clips.max_per_movie = {rules.max_per_movie})")
    if allow_overlap:
        return
    for other in others:
        if overlaps_too_much((start_s, end_s), (other.start_s, other.end_s), rules.max_overlap):
            raise ClipError(
                f"overlaps clip {other.id} ({format_time(other.start_s)}-"
                f"{format_time(other.end_s)}) of {movie_label(movie)} by more than "
                f"{rules.max_overlap:.0%} of the shorter clip; use --allow-overlap to keep it")


def find_same_span(session: Session, movie_id: int, start_s: float, end_s: float,
                   statuses: tuple[str, ...] = ("accepted",)) -> Clip | None:
    return session.scalar(select(Clip).where(
        Clip.movie_id == movie_id, Clip.status.in_(statuses),
        func.abs(Clip.start_s - start_s) < SAME_SPAN_S,
        func.abs(Clip.end_s - end_s) < SAME_SPAN_S).limit(1))


def add_clip(session: Session, config: dict, *, movie: Movie | int | str, start_s: float,
             end_s: float, extractor: Person | str | None, intended_emotion=None,
             allow_overlap: bool = False, source: str = "manual",
             base_dir: Path | None = None) -> Clip:
    """Store an accepted clip after checking every rule; ClipError names what is wrong.

    extractor: a Person with role extractor, or a name (an unknown name creates the
    extractor, without a login token, once the clip passes every check). The same span of
    the same movie twice raises DuplicateClipError naming the existing clip.
    """
    rules = clip_rules(config)
    if source not in CLIP_SOURCES:
        raise ClipError(f"unknown clip source {source!r}: use one of {', '.join(CLIP_SOURCES)}")
    movie = resolve_movie(session, movie, base_dir)
    start_s, end_s = float(start_s), float(end_s)
    check_span(movie, start_s, end_s, rules)
    emotion = _emotion(intended_emotion)
    person = None
    if isinstance(extractor, Person):
        if extractor.role != "extractor":
            raise ClipError(f"{extractor.name!r} is an {extractor.role}, not an extractor")
        person = extractor
    elif extractor is not None:
        person = find_extractor(session, extractor)
    same = find_same_span(session, movie.id, start_s, end_s)
    if same is not None:
        raise DuplicateClipError(f"{format_time(start_s)}-{format_time(end_s)} of "
                                 f"{movie_label(movie)} is already clip {same.id}", same.id)
    check_limit_and_overlap(session, movie, start_s, end_s, rules, allow_overlap=allow_overlap)
    if person is None and extractor is not None:
        person, _ = get_or_create_extractor(session, extractor)
    clip = Clip(movie_id=movie.id, start_s=start_s, end_s=end_s, duration_s=end_s - start_s,
                extractor_id=person.id if person else None,
                intended_emotion=emotion.code if emotion else None, source=source,
                status="accepted")
    session.add(clip)
    session.flush()
    return clip


def _emotion(value) -> Emotion | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, Emotion):
        return value
    try:
        return parse_emotion(value)
    except ValueError as exc:
        raise ClipError(str(exc)) from None


def confirm_clip(session: Session, config: dict, clip_id: int, *,
                 extractor: Person | str | None = None, allow_overlap: bool = False,
                 new_extractor: bool = True) -> Clip:
    """Turn a proposed candidate (or a rejected one) into an accepted clip.

    The per-movie limit and the overlap rule apply now, as for a new clip. The confirming
    extractor, when given, becomes the clip's extractor. An accepted clip is left as it is.
    new_extractor: an unknown extractor name creates the extractor; with False it raises
    ClipError naming the known extractors it resembles (what `clips confirm` does unless
    --new-extractor is given, so a typo does not become a person).
    """
    rules = clip_rules(config)
    clip = get_clip(session, clip_id)
    if clip.status == "accepted":
        return clip
    if clip.movie is None:
        raise ClipError(f"clip {clip.id} has no movie; it cannot be confirmed")
    person = None
    if isinstance(extractor, Person):
        person = extractor
    elif extractor is not None:
        person = (find_extractor(session, extractor) if new_extractor
                  else require_extractor(session, extractor))
    try:
        check_limit_and_overlap(session, clip.movie, clip.start_s, clip.end_s, rules,
                                allow_overlap=allow_overlap, exclude=clip.id)
    except ClipError as exc:
        raise ClipError(f"clip {clip.id}: {exc}") from None
    if person is None and extractor is not None:
        person, _ = get_or_create_extractor(session, extractor)
    if person is not None:
        clip.extractor_id = person.id
    clip.status = "accepted"
    session.flush()
    return clip


def reject_clip(session: Session, clip_id: int) -> Clip:
    """Mark a candidate rejected (kept, so a re-run of `propose` does not offer it again)."""
    clip = get_clip(session, clip_id)
    if clip.status == "accepted":
        raise ClipError(f"clip {clip.id} is accepted, not a candidate; only candidates can be "
                        f"rejected (take an accepted clip out of the campaign with: "
                        f"dfew-build clips retire {clip.id} --reason TEXT)")
    clip.status = "rejected"
    session.flush()
    return clip


def confirm_clips(session: Session, config: dict, ids, *, extractor: Person | str | None = None,
                  allow_overlap: bool = False, new_extractor: bool = True) -> BatchOutcome:
    """confirm_clip for each id, in order; a refused id does not stop the others.

    An unknown extractor name with new_extractor=False refuses the whole batch (ClipError)
    before any clip changes: it is the same mistake for every id."""
    if isinstance(extractor, str) and not new_extractor:
        extractor = require_extractor(session, extractor)

    def confirm(clip_id: int) -> bool:
        # A savepoint per id: a refused id's changes roll back, the others' stay.
        with session.begin_nested():
            before = get_clip(session, clip_id).status
            confirm_clip(session, config, clip_id, extractor=extractor,
                         allow_overlap=allow_overlap, new_extractor=new_extractor)
        return before != "accepted"

    return each_clip(ids, confirm)


def reject_clips(session: Session, ids) -> BatchOutcome:
    """reject_clip for each id, in order; a refused id does not stop the others."""

    def reject(clip_id: int) -> bool:
        before = get_clip(session, clip_id).status
        reject_clip(session, clip_id)
        return before != "rejected"

    return each_clip(ids, reject)


def clip_dict(clip: Clip) -> dict:
    movie = clip.movie
    return {
        "id": clip.id, "movie_id": clip.movie_id,
        "movie": os.path.basename(movie.path) if movie else None,
        "start_s": clip.start_s, "end_s": clip.end_s, "duration_s": clip.duration_s,
        "start": format_time(clip.start_s), "end": format_time(clip.end_s),
        "extractor": clip.extractor.name if clip.extractor else None,
        "intended_emotion": BY_CODE[clip.intended_emotion].name
        if clip.intended_emotion else None,
        "source": clip.source, "status": clip.status, "path": clip.path, "sha256": clip.sha256,
        "retired_at": clip.retired_at, "retired_reason": clip.retired_reason,
    }


def list_clips(session: Session, *, movie: Movie | int | str | None = None,
               status: str | None = None, extractor: str | None = None,
               source: str | None = None, cut: bool | None = None,
               retired: bool | None = None) -> list[Clip]:
    """Clips by id; each filter left None keeps every clip (retired: True only retired
    clips, False only clips in the campaign)."""
    query = select(Clip).order_by(Clip.id)
    if retired is not None:
        query = query.where(Clip.retired_at.is_not(None) if retired
                            else Clip.retired_at.is_(None))
    if movie is not None:
        query = query.where(Clip.movie_id == resolve_movie(session, movie, require_ok=False).id)
    if status:
        query = query.where(Clip.status == status)
    if source:
        query = query.where(Clip.source == source)
    if extractor:
        query = query.join(Person, Clip.extractor_id == Person.id).where(
            Person.name.in_(name_variants(clean_name(extractor))))
    if cut is not None:
        query = query.where(Clip.path.is_not(None) if cut else Clip.path.is_(None))
    return list(session.scalars(query))
