"""Gold (check) clips: real clips whose answer the admin knows (issue 15).

The counting rule (docs/annotation.md, "Gold clips"): a clip marked gold is a *check*
clip. Its votes give each annotator's gold accuracy and count nowhere else: not in
kappa, alpha, labels, the single-label subset, Dawid-Skene, folds, exports, or the
raters-per-clip top-ups of `assign` (labels.matrix.counted_filter leaves them out, like a
retired clip's). Unlike a retired clip it stays in the queues: `assign` gives each
annotator gold clips at `[annotation] gold_rate` of their work (gold_assignments below),
ordinary assignments, so every vote keeps its assignment foreign key and the annotator
page shows nothing that tells a gold clip apart. Removing the mark (`clips gold --remove`)
makes its votes count again.

Practice (`[annotation] practice_clips = N`): before real work a new annotator votes on
N gold clips and sees the answer after each; those votes are `practice_vote` rows, counted
nowhere, not even in gold accuracy. A person's practice clips are never among their mixed-in
gold checks (they have seen those answers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from dfew_build.annotation.assign import assignable_clips_query, queue_key
from dfew_build.csvinput import read_user_csv
from dfew_build.db.models import (Assignment, Clip, GoldClip, Person, PracticeVote, Vote,
                                  utcnow)
from dfew_build.emotions import BY_CODE, parse_emotion
from dfew_build.errors import GoldError

# Practice picks use a seed of their own, so practice and check orders are unrelated.
PRACTICE_SALT = 7_919


@dataclass
class GoldOutcome:
    """What a batch of marks did: ids set (new or changed answer), unchanged, refused
    {id or 'line N': why}."""

    done: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"done": self.done, "unchanged": self.unchanged, "refused": self.refused}


def gold_clip_ids():
    """SELECT of the ids of gold clips (for IN / NOT IN)."""
    return select(GoldClip.clip_id)


def gold_answers(session: Session) -> dict[int, int]:
    """clip id -> known emotion code (1..7) of every gold clip."""
    return dict(session.execute(select(GoldClip.clip_id, GoldClip.emotion)).all())


def set_gold(session: Session, clip_id: int, emotion, set_by: str | None = None) -> bool:
    """Mark one clip gold with the known `emotion` (code 1..7 or name); True if stored or
    changed, False if it already had that answer. GoldError when the clip does not exist,
    is not accepted, or the emotion is unknown."""
    try:
        code = parse_emotion(emotion).code
    except ValueError as exc:
        raise GoldError(str(exc)) from None
    clip = session.get(Clip, int(clip_id))
    if clip is None:
        raise GoldError(f"no clip {clip_id}; see the ids with: dfew-build clips list")
    if clip.status != "accepted":
        raise GoldError(f"clip {clip_id} is {clip.status}; only accepted clips can be gold "
                        f"(confirm it first: dfew-build clips confirm {clip_id})")
    row = session.scalar(select(GoldClip).where(GoldClip.clip_id == clip.id))
    if row is not None and row.emotion == code:
        return False
    if row is None:
        session.add(GoldClip(clip_id=clip.id, emotion=code, set_by=set_by, set_at=utcnow()))
    else:
        row.emotion, row.set_by, row.set_at = code, set_by, utcnow()
    session.flush()
    return True


def set_gold_many(session: Session, ids, emotion, set_by: str | None = None) -> GoldOutcome:
    """set_gold for each id; a refused id does not stop the others. An unknown emotion
    refuses the whole batch (GoldError) before anything changes."""
    try:
        parse_emotion(emotion)
    except ValueError as exc:
        raise GoldError(f"--emotion: {exc}") from None
    outcome = GoldOutcome()
    for clip_id in ids:
        try:
            changed = set_gold(session, clip_id, emotion, set_by)
        except GoldError as exc:
            outcome.refused[str(clip_id)] = str(exc)
            continue
        (outcome.done if changed else outcome.unchanged).append(int(clip_id))
    return outcome


def set_gold_from_csv(session: Session, path: Path, set_by: str | None = None) -> GoldOutcome:
    """Gold answers from a CSV file with header `clip_id,emotion` (emotion as code or
    name; extra columns, e.g. a votes file's `annotator`, are ignored and the last row of a
    clip wins). A bad row is refused as 'line N' with the reason; the others are applied.
    GoldError when the file cannot be read or lacks the two columns."""
    header, reader = read_user_csv(Path(path), what="gold file", needs="clip_id,emotion",
                                   error=GoldError)
    names = [h.strip().lower() for h in header]
    if "clip_id" not in names or "emotion" not in names:
        raise GoldError(f"{path}: the header is {','.join(header)!s}; it needs the columns "
                        "clip_id,emotion (emotion as a code 1..7 or a name)")
    at_clip, at_emotion = names.index("clip_id"), names.index("emotion")
    outcome = GoldOutcome()
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        where = f"line {reader.line_num}"
        cells = row + [""] * (len(names) - len(row))
        raw_id, raw_emotion = cells[at_clip].strip(), cells[at_emotion].strip()
        if not raw_id.isdigit():
            outcome.refused[where] = (f"clip_id {raw_id!r} is not a clip id (a whole "
                                      "number)")
            continue
        try:
            changed = set_gold(session, int(raw_id), raw_emotion, set_by)
        except GoldError as exc:
            outcome.refused[where] = f"clip {raw_id}: {exc}"
            continue
        (outcome.done if changed else outcome.unchanged).append(int(raw_id))
    return outcome


def remove_gold(session: Session, ids) -> GoldOutcome:
    """Unmark gold clips; their votes count again. Ids that were not gold are refused."""
    outcome = GoldOutcome()
    for clip_id in ids:
        row = session.scalar(select(GoldClip).where(GoldClip.clip_id == int(clip_id)))
        if row is None:
            outcome.refused[str(clip_id)] = f"clip {clip_id} is not a gold clip"
            continue
        session.delete(row)
        outcome.done.append(int(clip_id))
    session.flush()
    return outcome


def list_gold(session: Session) -> list[dict]:
    """Every gold clip: clip_id, emotion (name), set_by, set_at, votes (stored check
    votes), correct (of those, matching the answer)."""
    votes = (select(Vote.clip_id, func.count(Vote.id).label("n"),
                    func.sum(case((Vote.emotion == GoldClip.emotion, 1), else_=0)).label("ok"))
             .join(GoldClip, GoldClip.clip_id == Vote.clip_id).group_by(Vote.clip_id)
             .subquery())
    rows = session.execute(
        select(GoldClip.clip_id, GoldClip.emotion, GoldClip.set_by, GoldClip.set_at,
               func.coalesce(votes.c.n, 0), func.coalesce(votes.c.ok, 0))
        .outerjoin(votes, votes.c.clip_id == GoldClip.clip_id).order_by(GoldClip.clip_id))
    return [{"clip_id": c, "emotion": BY_CODE[e].name, "set_by": by,
             "set_at": at.isoformat() if at is not None else None, "votes": int(n),
             "correct": int(ok)} for c, e, by, at, n, ok in rows]


def gold_accuracy(session: Session) -> dict[int, dict]:
    """Per annotator id: gold_votes (their votes on gold clips), gold_correct (matching the
    known answer) and gold_accuracy (correct / votes, a fraction 0..1; None without gold
    votes). Every person with at least one gold vote appears; practice votes are not used."""
    rows = session.execute(
        select(Vote.annotator_id, func.count(Vote.id),
               func.sum(case((Vote.emotion == GoldClip.emotion, 1), else_=0)))
        .join(GoldClip, GoldClip.clip_id == Vote.clip_id).group_by(Vote.annotator_id))
    return {pid: accuracy_entry(int(n), int(ok or 0)) for pid, n, ok in rows}


def accuracy_entry(votes: int, correct: int) -> dict:
    """{'gold_votes', 'gold_correct', 'gold_accuracy'} with accuracy None when votes = 0."""
    return {"gold_votes": votes, "gold_correct": correct,
            "gold_accuracy": (correct / votes) if votes else None}


# --- practice -----------------------------------------------------------------------------

def _playable_gold(session: Session) -> list[int]:
    """Gold clips that can be shown: cut, accepted, not retired; ascending ids."""
    return list(session.scalars(assignable_clips_query(include_gold=True)
                                .where(Clip.id.in_(gold_clip_ids())).order_by(Clip.id)))


def practice_clip_ids(session: Session, person_id: int, n: int, seed: int = 0) -> list[int]:
    """The person's practice clips, in order: those they already practised on (in the order
    they did), then playable gold clips by a seeded per-person key, up to `n` in all (fewer
    when there are fewer gold clips)."""
    if n <= 0:
        return []
    done = list(session.scalars(select(PracticeVote.clip_id)
                                .where(PracticeVote.person_id == person_id)
                                .order_by(PracticeVote.id)))
    rest = sorted((c for c in _playable_gold(session) if c not in set(done)),
                  key=lambda c: (queue_key(seed + PRACTICE_SALT, person_id, c), c))
    return (done + rest)[:max(n, len(done))]


def practice_state(session: Session, person_id: int, n: int, seed: int = 0) -> dict:
    """{'total': clips in the person's practice round, 'done': practised, 'next': the next
    practice clip id or None when the round is over (or there is none)}."""
    picks = practice_clip_ids(session, person_id, n, seed)
    done = set(session.scalars(select(PracticeVote.clip_id)
                               .where(PracticeVote.person_id == person_id)))
    upcoming = [c for c in picks if c not in done]
    return {"total": len(picks), "done": len(picks) - len(upcoming),
            "next": upcoming[0] if upcoming else None}


def record_practice(session: Session, person_id: int, clip_id: int, emotion: int) -> dict:
    """Store a practice vote (the first one per clip is kept) and return the feedback:
    {'clip_id', 'emotion', 'gold_emotion', 'matched'} (codes 1..7). GoldError when the clip
    is not gold or the emotion is not a code 1..7."""
    if emotion not in BY_CODE:
        raise GoldError(f"emotion {emotion} is not a code 1..7")
    answer = session.scalar(select(GoldClip.emotion).where(GoldClip.clip_id == clip_id))
    if answer is None:
        raise GoldError(f"clip {clip_id} is not a practice clip")
    stored = session.scalar(select(PracticeVote).where(PracticeVote.person_id == person_id,
                                                       PracticeVote.clip_id == clip_id))
    if stored is None:
        stored = PracticeVote(person_id=person_id, clip_id=clip_id, emotion=emotion,
                              gold_emotion=answer, created_at=utcnow())
        session.add(stored)
        session.flush()
    return {"clip_id": clip_id, "emotion": stored.emotion, "gold_emotion": stored.gold_emotion,
            "matched": stored.emotion == stored.gold_emotion}


# --- mixing gold checks into queues --------------------------------------------------------

def gold_target(real: int, rate: float) -> int:
    """Gold checks for an annotator with `real` ordinary assignments so that gold makes up
    `rate` of their queue: ceil(real * rate / (1 - rate)), 0 when rate is 0 or real is 0."""
    if rate <= 0 or real <= 0:
        return 0
    return math.ceil(real * rate / (1.0 - rate) - 1e-9)


def gold_assignments(session: Session, rate: float, seed: int = 0,
                     practice_clips: int = 0, practice_seed: int = 0) -> int:
    """Give every active, non-excluded annotator gold-check assignments so that they make
    up `rate` (0..0.5) of their assignments on clips in the campaign; returns how many were
    added. Picks are deterministic per annotator (a seeded key of annotator and clip, as
    the queue order), never one of their practice clips, never removed later; capped by the
    gold clips there are. `practice_seed`: the seed of the practice picks (the server uses
    `[annotation] order_seed`). Run by `assign` after the ordinary top-up."""
    if rate <= 0:
        return 0
    gold = _playable_gold(session)
    if not gold:
        return 0
    gold_set = set(gold)
    campaign = set(session.scalars(assignable_clips_query()))
    annotators = list(session.scalars(
        select(Person.id).where(Person.role == "annotator", Person.active.is_(True),
                                Person.excluded_at.is_(None)).order_by(Person.id)))
    held: dict[int, set[int]] = {pid: set() for pid in annotators}
    for clip_id, pid in session.execute(select(Assignment.clip_id, Assignment.annotator_id)):
        if pid in held:
            held[pid].add(clip_id)
    rows = []
    now = utcnow()
    for pid in annotators:
        real = len(held[pid] & campaign)
        have = len(held[pid] & gold_set)
        missing = gold_target(real, rate) - have
        if missing <= 0:
            continue
        practised = set(practice_clip_ids(session, pid, practice_clips, practice_seed))
        free = sorted((c for c in gold if c not in held[pid] and c not in practised),
                      key=lambda c: (queue_key(seed, pid, c), c))
        rows.extend({"clip_id": c, "annotator_id": pid, "source": "assigned",
                     "assigned_at": now} for c in free[:missing])
    if rows:
        session.execute(insert(Assignment), rows)
    return len(rows)


__all__ = ["GoldOutcome", "accuracy_entry", "gold_accuracy", "gold_answers",
           "gold_assignments", "gold_clip_ids", "gold_target", "list_gold",
           "practice_clip_ids", "practice_state", "record_practice", "remove_gold",
           "set_gold", "set_gold_from_csv", "set_gold_many"]
