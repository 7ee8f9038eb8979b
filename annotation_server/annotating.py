"""What the annotator page reads and writes: their queue, progress, votes and history.

A person's queue holds their assignments on clips in the campaign (cut, accepted, not
retired); an excluded annotator's queue is empty. It is shown in the order of
dfew_build.annotation.assign.QueueOrder (seeded random per annotator by default).

The hot path (the next-clip page and the vote) does not recompute the queue or the progress
per request: QueueCache keeps, per annotator, the ordered unvoted clips and the counts,
valid while the person's `queue_version` is unchanged. Database triggers bump that version
on every change that can touch the queue (any program's votes, assignments, problem
reports, a clip's status, cut or retirement; migration 0005), and the gate reads it with the
session on every request, so a cached queue is never stale. A vote cast here updates the
cache in place (its own +1); anything else makes the next page rebuild it with one query.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import DateTime, and_, bindparam, exists, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dfew_build.annotation.assign import QueueOrder
from dfew_build.annotation.problems import reported_clip_ids
from dfew_build.db.models import Assignment, Clip, Person, Vote, utcnow

ID_ORDER = QueueOrder("id")


class NotAssigned(Exception):
    """The clip is not (or no longer) assigned to this annotator."""


def _assigned(person_id: int):
    """The person's assignments on clips that are cut, accepted and not retired; none for
    an excluded annotator."""
    return (select(Assignment.clip_id)
            .join(Clip, Clip.id == Assignment.clip_id)
            .where(Assignment.annotator_id == person_id, Clip.path.is_not(None),
                   Clip.status == "accepted", Clip.retired_at.is_(None),
                   ~exists().where(Person.id == person_id, Person.excluded_at.is_not(None))))


def is_assigned(db: Session, clip_id: int, person_id: int) -> bool:
    return db.scalar(select(Assignment.id).where(
        Assignment.clip_id == clip_id, Assignment.annotator_id == person_id)) is not None


def annotatable_clip(db: Session, clip_id: int, person_id: int) -> Clip:
    if db.scalar(_assigned(person_id).where(Assignment.clip_id == clip_id)) is None:
        raise NotAssigned(clip_id)
    return db.get(Clip, clip_id)


def _unvoted(person_id: int):
    return (_assigned(person_id)
            .outerjoin(Vote, and_(Vote.clip_id == Assignment.clip_id,
                                  Vote.annotator_id == person_id))
            .where(Vote.id.is_(None))
            .order_by(Assignment.clip_id))


def next_clip_id(db: Session, person_id: int, skip: set[int],
                 order: QueueOrder = ID_ORDER) -> int | None:
    """The first clip of the person's queue without their vote, not in `skip`: the
    lowest-numbered one with `id` order, else the one with the smallest queue key (a reload
    gives the same clip; voting moves on to the next)."""
    query = _unvoted(person_id)
    if skip:
        query = query.where(Assignment.clip_id.not_in(skip))
    if order.kind == "id":
        return db.scalar(query.limit(1))
    clip_ids = db.scalars(query).all()
    return min(clip_ids, key=lambda c: order.key(person_id, c)) if clip_ids else None


def queue(db: Session, person_id: int, order: QueueOrder = ID_ORDER) -> list[int]:
    """The person's unvoted clips in the order they will be shown (problem reports aside)."""
    return order.sort(person_id, db.scalars(_unvoted(person_id)).all())


def unvoted_among(db: Session, person_id: int, clip_ids: set[int]) -> list[int]:
    """Those of `clip_ids` the person can still vote on (e.g. clips they reported)."""
    if not clip_ids:
        return []
    return list(db.scalars(_unvoted(person_id).where(Assignment.clip_id.in_(clip_ids))))


def progress(db: Session, person_id: int) -> tuple[int, int]:
    """(voted, assigned) over the person's annotatable clips."""
    assigned = _assigned(person_id).subquery()
    total = db.scalar(select(func.count()).select_from(assigned))
    done = db.scalar(select(func.count()).select_from(Vote).where(
        Vote.annotator_id == person_id, Vote.clip_id.in_(select(assigned.c.clip_id))))
    return done or 0, total or 0


def own_vote(db: Session, clip_id: int, person_id: int) -> int | None:
    return db.scalar(select(Vote.emotion).where(Vote.clip_id == clip_id,
                                                Vote.annotator_id == person_id))


# --- the cached queue ---------------------------------------------------------------------

@dataclass
class Queue:
    """One annotator's queue as of `version` (their person.queue_version)."""

    version: int
    order: QueueOrder
    excluded: bool
    total: int                       # annotatable clips assigned
    done: int                        # of those, voted
    upcoming: list[int]              # unvoted, not reported, in queue order
    durations: dict[int, float]      # clip id -> duration of the upcoming clips
    reported_unvoted: list[int]      # reported (open) and not voted
    position: int = 0                # upcoming[:position] were voted since

    def next_clip(self) -> int | None:
        return self.upcoming[self.position] if self.position < len(self.upcoming) else None


def load_queue(db: Session, person_id: int, order: QueueOrder) -> Queue:
    """The queue from scratch: one query over the person's assignments and votes."""
    row = db.execute(select(Person.queue_version, Person.excluded_at)
                     .where(Person.id == person_id)).first()
    version, excluded_at = (row or (0, None))
    if excluded_at is not None:
        return Queue(int(version or 0), order, True, 0, 0, [], {}, [])
    rows = db.execute(
        select(Assignment.clip_id, Clip.duration_s, Vote.id.is_not(None))
        .join(Clip, Clip.id == Assignment.clip_id)
        .outerjoin(Vote, and_(Vote.clip_id == Assignment.clip_id,
                              Vote.annotator_id == person_id))
        .where(Assignment.annotator_id == person_id, Clip.path.is_not(None),
               Clip.status == "accepted", Clip.retired_at.is_(None))).all()
    reported = reported_clip_ids(db, person_id)
    unvoted = {clip_id: duration for clip_id, duration, voted in rows if not voted}
    upcoming = order.sort(person_id, [c for c in unvoted if c not in reported])
    return Queue(int(version or 0), order, False, len(rows), len(rows) - len(unvoted),
                 upcoming, {c: unvoted[c] for c in upcoming},
                 sorted(c for c in unvoted if c in reported))


@dataclass
class QueueCache:
    """Queues per annotator in this server process (see the module docstring)."""

    queues: dict[int, Queue] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    max_people: int = 10_000

    def get(self, person_id: int, version: int, order: QueueOrder,
            excluded: bool = False) -> Queue | None:
        """The cached queue if it is current: same queue version, order and exclusion."""
        found = self.queues.get(person_id)
        if found is not None and found.version == version and found.order == order \
                and found.excluded == excluded:
            return found
        return None

    def fresh(self, db: Session, person_id: int, version: int, order: QueueOrder,
              excluded: bool = False) -> Queue:
        """The cached queue if still current, else one loaded now (in this session)."""
        found = self.get(person_id, version, order, excluded)
        if found is not None:
            return found
        loaded = load_queue(db, person_id, order)
        with self.lock:
            if len(self.queues) >= self.max_people:
                self.queues.clear()
            self.queues[person_id] = loaded
        return loaded

    def voted(self, person_id: int, clip_id: int, created: bool, before: int,
              after: int) -> None:
        """Our own vote moved the person's version from `before` to `after`: keep the cached
        queue if that is all that happened, else drop it."""
        with self.lock:
            found = self.queues.get(person_id)
            if found is None:
                return
            if found.version != before or after != before + (1 if created else 0):
                del self.queues[person_id]
                return
            found.version = after
            if not created:
                return
            found.done += 1
            if clip_id in found.reported_unvoted:
                found.reported_unvoted = [c for c in found.reported_unvoted if c != clip_id]
            if found.next_clip() == clip_id:
                found.position += 1
            elif clip_id in found.durations:
                found.upcoming = [c for c in found.upcoming if c != clip_id]
            found.durations.pop(clip_id, None)

    def forget(self, person_id: int | None = None) -> None:
        with self.lock:
            if person_id is None:
                self.queues.clear()
            else:
                self.queues.pop(person_id, None)


# --- the vote ----------------------------------------------------------------------------

_VERSION = "SELECT queue_version, excluded_at IS NOT NULL FROM person WHERE id = :p"
_VOTE_SQL = {
    # Allowed (assigned, cut, accepted, not retired) and the person's vote so far, at once.
    "allowed": text(
        "SELECT (SELECT v.emotion FROM vote v WHERE v.clip_id = :c AND v.annotator_id = :p) "
        "FROM assignment a JOIN clip c ON c.id = a.clip_id WHERE a.clip_id = :c "
        "AND a.annotator_id = :p AND c.path IS NOT NULL AND c.status = 'accepted' "
        "AND c.retired_at IS NULL"),
    "upsert": text(
        "INSERT INTO vote (clip_id, annotator_id, emotion, created_at, updated_at) "
        "VALUES (:c, :p, :e, :now, :now) ON CONFLICT (clip_id, annotator_id) DO UPDATE "
        "SET emotion = excluded.emotion, updated_at = excluded.updated_at"
    ).bindparams(bindparam("now", type_=DateTime(timezone=True))),
    "version": text("SELECT queue_version FROM person WHERE id = :p"),
    # The person's row first: the vote's trigger updates it, and taking it before the vote
    # row means a concurrent writer (votes import) and this vote never wait on each other in
    # opposite orders (no deadlock on PostgreSQL). SQLite's BEGIN IMMEDIATE holds it all.
    "lock_postgresql": text(_VERSION + " FOR UPDATE"),
    "lock_sqlite": text(_VERSION),
}


def _dialect(db) -> str:
    bind = db.get_bind() if isinstance(db, Session) else db
    return bind.dialect.name


def cast_vote(db, clip_id: int, person_id: int, emotion: int) -> tuple[str, int, int]:
    """Store or revise the person's vote in one short transaction (the caller's): (outcome,
    queue version before, after), outcome 'created', 'updated' or 'unchanged'. `db` is a
    Session or a Connection.

    The clip must be annotatable for the person now (assigned, cut, accepted, not retired,
    the person not excluded), checked in the same transaction as the write; else
    NotAssigned. One atomic upsert on the (clip, annotator) unique key, so a double click or
    two tabs end as one vote holding the last choice. Prepared statements, no ORM: this is
    the server's hot path.
    """
    if not 1 <= emotion <= 7:
        raise ValueError(f"emotion {emotion} is not a code 1..7")
    dialect = _dialect(db)
    person = db.execute(_VOTE_SQL["lock_postgresql" if dialect == "postgresql"
                                  else "lock_sqlite"], {"p": person_id}).first()
    if person is None or person[1]:
        raise NotAssigned(clip_id)
    before_version = int(person[0] or 0)
    allowed = db.execute(_VOTE_SQL["allowed"], {"c": clip_id, "p": person_id}).first()
    if allowed is None:
        raise NotAssigned(clip_id)
    before = allowed[0]
    if before == emotion:
        return "unchanged", before_version, before_version
    try:
        db.execute(_VOTE_SQL["upsert"], {"c": clip_id, "p": person_id, "e": emotion,
                                         "now": utcnow()})
    except IntegrityError:
        raise NotAssigned(clip_id) from None
    after = int(db.execute(_VOTE_SQL["version"], {"p": person_id}).scalar() or 0)
    return ("created" if before is None else "updated"), before_version, after


def record_vote(db: Session, clip_id: int, person_id: int, emotion: int) -> str:
    """cast_vote and commit: 'created', 'updated' or 'unchanged' (library use, tests)."""
    outcome, _, _ = cast_vote(db, clip_id, person_id, emotion)
    db.commit()
    return outcome


def history(db: Session, person_id: int,
            limit: int = 1000) -> list[tuple[int, int, object, bool]]:
    """(clip_id, emotion, updated_at, retired) of the person's votes, newest first; a vote
    on a retired clip is listed but can no longer be changed."""
    return [tuple(row) for row in db.execute(
        select(Vote.clip_id, Vote.emotion, Vote.updated_at, Clip.retired_at.is_not(None))
        .join(Clip, Clip.id == Vote.clip_id)
        .where(Vote.annotator_id == person_id)
        .order_by(Vote.updated_at.desc(), Vote.id.desc()).limit(limit))]


__all__ = ["NotAssigned", "Queue", "QueueCache", "annotatable_clip", "cast_vote", "history",
           "is_assigned", "load_queue", "next_clip_id", "own_vote", "progress",
           "queue", "record_vote", "unvoted_among"]
