"""Adding, confirming, rejecting, retiring and restoring clips under DFEW's rules (rules.py).

Every function takes an open SQLAlchemy session (the caller commits) and raises ClipError
with a message that names the movie, clip or value at fault. Only `accepted` clips count
toward the per-movie limit and the overlap rule; proposed candidates do not until confirmed.
A retired clip (`retire_clip`) stays accepted, with its votes, and keeps its place under the
per-movie limit; it only leaves the campaign (queues, assignment and every analysis).
"""

from __future__ import annotations

import difflib
import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.clips.rules import ClipRules, clip_rules, format_time, overlaps_too_much
from dfew_build.db.models import CLIP_SOURCES, Clip, Movie, Person, Vote, utcnow
from dfew_build.emotions import BY_CODE, Emotion, parse_emotion
from dfew_build.errors import ClipError
from dfew_build.people import find_person, name_variants, normalize_name

# Start/end that differ by less than this are the same clip (re-imports are no-ops).
SAME_SPAN_S = 1e-3
# A span may end this far past the probed duration (container rounding).
END_SLACK_S = 1e-3


class DuplicateClipError(ClipError):
    """The same movie span is already a clip; `clip_id` names it."""

    def __init__(self, message: str, clip_id: int):
        super().__init__(message)
        self.clip_id = clip_id


def movie_label(movie: Movie) -> str:
    return f"movie {movie.id} ({os.path.basename(movie.path)})"


def resolve_movie(session: Session, ref: Movie | int | str, base_dir: Path | None = None,
                  *, require_ok: bool = True) -> Movie:
    """A movie from its id, file name or path (relative paths are taken from base_dir).

    Names and paths are compared after Unicode NFC normalisation, so `Amélie.mp4` typed
    (composed é) finds a file stored under its decomposed macOS name and the reverse; the
    stored path stays as it was found on disk.
    require_ok: refuse a movie that was rejected at ingest (clips need a readable one)."""
    if isinstance(ref, Movie):
        movie = ref
    else:
        text = _nfc(str(ref).strip())
        if not text:
            raise ClipError("the movie is empty: give a movie id, file name or path")
        movie = None
        if text.isdigit():
            movie = session.get(Movie, int(text))
        if movie is None and ("/" in text or os.sep in text):
            path = Path(text).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            movie = _movie_by_path(session, str(path.resolve(strict=False)))
        if movie is None:
            name = os.path.basename(text)
            matches = _movies_by_file_name(session, name)
            if len(matches) > 1:
                ids = ", ".join(str(m.id) for m in matches)
                raise ClipError(f"movie {text!r} matches {len(matches)} movies (ids {ids}); "
                                "give the movie id or path instead")
            movie = matches[0] if matches else None
        if movie is None:
            raise ClipError(f"unknown movie {text!r}: no ingested movie has that id, file name "
                            "or path; ingest it first with: dfew-build ingest PATH")
    if require_ok and movie.status != "ok":
        raise ClipError(f"{movie_label(movie)} was rejected at ingest ({movie.error}); "
                        "clips need a readable movie")
    return movie


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _movie_by_path(session: Session, path: str) -> Movie | None:
    """The movie stored at this path in any Unicode normalisation (NFC or NFD as stored)."""
    path = _nfc(path)
    variants = sorted({path, unicodedata.normalize("NFD", path)})
    matches = list(session.scalars(select(Movie).where(Movie.path.in_(variants))
                                   .order_by(Movie.id)))
    return matches[0] if matches else None


def _movies_by_file_name(session: Session, name: str) -> list[Movie]:
    """Movies whose file name equals name after NFC normalisation.

    The SQL filter uses only the name's ASCII tail (everything after its last non-ASCII
    character, e.g. "lie (2001).mp4"), which every normalisation form of the name ends with;
    the exact comparison is made here."""
    name = _nfc(name)
    tail = name
    for i in range(len(name) - 1, -1, -1):
        if ord(name[i]) > 127:
            tail = name[i + 1:]
            break
    query = select(Movie).order_by(Movie.id)
    if tail:
        query = query.where(Movie.path.like(f"%{tail}"))
    return [m for m in session.scalars(query) if _nfc(os.path.basename(m.path)) == name]


def clean_name(name: str) -> str:
    """An extractor's name as stored and compared: NFC, runs of whitespace as one space.
    ClipError for a name holding a control or bidi character (dfew_build.names)."""
    from dfew_build.names import check_name

    return check_name(normalize_name(name), "the extractor name", ClipError)


def find_extractor(session: Session, name: str) -> Person | None:
    """The extractor named so, None when nobody is; ClipError if it is someone else's role."""
    cleaned = clean_name(name)
    if not cleaned:
        raise ClipError("the extractor is empty: name the person who cut the clip")
    person = find_person(session, cleaned)
    if person is not None and person.role != "extractor":
        raise ClipError(f"{cleaned!r} is an {person.role}, not an extractor; name an extractor "
                        "(or add one with: dfew-build people add NAME --role extractor)")
    return person


def extractor_names(session: Session) -> list[str]:
    """Every extractor's name, alphabetically."""
    return sorted(session.scalars(select(Person.name).where(Person.role == "extractor")))


def close_names(name: str, known, limit: int = 3) -> list[str]:
    """Known names that look like a typo of `name` (difflib ratio >= 0.6, case-insensitive),
    closest first."""
    by_folded = {}
    for known_name in known:
        by_folded.setdefault(known_name.casefold(), known_name)
    folded = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.6)
    return [by_folded[f] for f in folded if by_folded[f] != name]


def unknown_extractor_message(session: Session, name: str) -> str:
    """Why an unknown extractor name is refused, naming the known extractors it resembles."""
    cleaned = clean_name(name)
    known = extractor_names(session)
    close = close_names(cleaned, known)
    if close:
        hint = "did you mean " + " or ".join(repr(n) for n in close) + "?"
    elif known:
        more = f" and {len(known) - 10} more" if len(known) > 10 else ""
        shown = ", ".join(known[:10]) + more
        hint = f"known extractors: {shown}"
    else:
        hint = "there are no extractors yet"
    return (f"unknown extractor {cleaned!r} ({hint}); pass --new-extractor to add "
            f"{cleaned!r} as a new extractor")


def require_extractor(session: Session, name: str) -> Person:
    """The existing extractor named so; ClipError naming close known names otherwise."""
    person = find_extractor(session, name)
    if person is None:
        raise ClipError(unknown_extractor_message(session, name))
    return person


def get_or_create_extractor(session: Session, name: str) -> tuple[Person, bool]:
    """The extractor person, created without a login token when unknown; (person, created)."""
    person = find_extractor(session, name)
    if person is not None:
        return person, False
    person = Person(name=clean_name(name), role="extractor", token_hash=None, active=True)
    session.add(person)
    session.flush()
    return person, True


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


def _get_clip(session: Session, clip_id: int) -> Clip:
    clip = session.get(Clip, int(clip_id))
    if clip is None:
        raise ClipError(f"no clip {clip_id}; see dfew-build clips list")
    return clip


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
    clip = _get_clip(session, clip_id)
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
    clip = _get_clip(session, clip_id)
    if clip.status == "accepted":
        raise ClipError(f"clip {clip.id} is accepted, not a candidate; only candidates can be "
                        f"rejected (take an accepted clip out of the campaign with: "
                        f"dfew-build clips retire {clip.id} --reason TEXT)")
    clip.status = "rejected"
    session.flush()
    return clip


@dataclass
class BatchOutcome:
    """What happened to each id of a confirm/reject batch."""

    done: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # already in the asked state
    refused: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"done": self.done, "unchanged": self.unchanged,
                "refused": {str(k): v for k, v in self.refused.items()}}


def confirm_clips(session: Session, config: dict, ids, *, extractor: Person | str | None = None,
                  allow_overlap: bool = False, new_extractor: bool = True) -> BatchOutcome:
    """confirm_clip for each id, in order; a refused id does not stop the others.

    An unknown extractor name with new_extractor=False refuses the whole batch (ClipError)
    before any clip changes: it is the same mistake for every id."""
    if isinstance(extractor, str) and not new_extractor:
        extractor = require_extractor(session, extractor)
    outcome = BatchOutcome()
    for clip_id in ids:
        try:
            with session.begin_nested():
                before = _get_clip(session, clip_id).status
                confirm_clip(session, config, clip_id, extractor=extractor,
                             allow_overlap=allow_overlap, new_extractor=new_extractor)
        except ClipError as exc:
            outcome.refused[int(clip_id)] = str(exc)
            continue
        (outcome.unchanged if before == "accepted" else outcome.done).append(int(clip_id))
    return outcome


def reject_clips(session: Session, ids) -> BatchOutcome:
    outcome = BatchOutcome()
    for clip_id in ids:
        try:
            before = _get_clip(session, clip_id).status
            reject_clip(session, clip_id)
        except ClipError as exc:
            outcome.refused[int(clip_id)] = str(exc)
            continue
        (outcome.unchanged if before == "rejected" else outcome.done).append(int(clip_id))
    return outcome


MAX_REASON = 2000


def clean_reason(reason: str | None, what: str) -> str:
    """A retire/exclude reason as stored: stripped, at most MAX_REASON characters; ClipError
    when empty (campaign state always says why)."""
    # No NUL or other control characters (PostgreSQL refuses NUL in text).
    text = " ".join("".join(ch if ch >= " " else " " for ch in str(reason or "")).split())
    if not text:
        raise ClipError(f"the reason is empty: say why {what} (e.g. --reason "
                        "'no face visible')")
    return text[:MAX_REASON]


def retire_clip(session: Session, clip_id: int, reason: str) -> bool:
    """Take an accepted clip out of the campaign; True if it changes, False if it was retired
    already (its first reason and time are kept).

    The clip keeps its row, status, file, assignments and votes (DESIGN.md §3: campaign state
    is data); it leaves annotator queues and assignment, and the analyses count none of its
    votes. Candidates are rejected, not retired; ClipError says so.
    """
    reason = clean_reason(reason, "the clip is retired")
    clip = _get_clip(session, clip_id)
    if clip.status == "candidate":
        raise ClipError(f"clip {clip.id} is a candidate, not an accepted clip; reject "
                        f"candidates with: dfew-build clips reject {clip.id}")
    if clip.status != "accepted":
        raise ClipError(f"clip {clip.id} is {clip.status}; only accepted clips can be retired")
    if clip.retired_at is not None:
        return False
    clip.retired_at, clip.retired_reason = utcnow(), reason
    session.flush()
    return True


def restore_clip(session: Session, clip_id: int) -> bool:
    """Put a retired clip back in the campaign; True if it changes, False if it was not
    retired. Its votes count again and its unvoted assignments are back in their queues."""
    clip = _get_clip(session, clip_id)
    if clip.retired_at is None:
        return False
    clip.retired_at = clip.retired_reason = None
    session.flush()
    return True


def retire_clips(session: Session, ids, reason: str) -> BatchOutcome:
    """retire_clip for each id, in order; a refused id does not stop the others. An empty
    reason refuses the whole batch (ClipError) before any clip changes."""
    reason = clean_reason(reason, "the clips are retired")
    return _each(ids, lambda clip_id: retire_clip(session, clip_id, reason))


def restore_clips(session: Session, ids) -> BatchOutcome:
    return _each(ids, lambda clip_id: restore_clip(session, clip_id))


def _each(ids, change) -> BatchOutcome:
    outcome = BatchOutcome()
    for clip_id in map(int, ids):
        try:
            changed = change(clip_id)
        except ClipError as exc:
            outcome.refused[clip_id] = str(exc)
            continue
        (outcome.done if changed else outcome.unchanged).append(clip_id)
    return outcome


def stored_votes(session: Session, clip_ids) -> int:
    """How many votes are stored on these clips (a retired clip keeps them)."""
    ids = [int(c) for c in clip_ids]
    if not ids:
        return 0
    return session.scalar(select(func.count()).select_from(Vote)
                          .where(Vote.clip_id.in_(ids))) or 0


def retired_clips(session: Session, limit: int = 500) -> list[dict]:
    """Retired clips, most recently retired first: id, reason, when, votes stored."""
    votes = (select(Vote.clip_id, func.count().label("n")).group_by(Vote.clip_id).subquery())
    rows = session.execute(
        select(Clip.id, Clip.retired_reason, Clip.retired_at, func.coalesce(votes.c.n, 0))
        .outerjoin(votes, votes.c.clip_id == Clip.id)
        .where(Clip.retired_at.is_not(None))
        .order_by(Clip.retired_at.desc(), Clip.id.desc()).limit(limit)).all()
    return [{"clip_id": cid, "reason": reason, "retired_at": when, "votes": n}
            for cid, reason, when, n in rows]


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
