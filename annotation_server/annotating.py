"""What the annotator page reads and writes: their queue, progress, votes and history.

A person's queue holds their assignments on clips in the campaign (cut, accepted, not
retired); an excluded annotator's queue is empty. It is shown in the order of
dfew_build.annotation.assign.QueueOrder (seeded random per annotator by default).
"""

from __future__ import annotations

from sqlalchemy import and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dfew_build.annotation.assign import QueueOrder
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


def record_vote(db: Session, clip_id: int, person_id: int, emotion: int) -> str:
    """Store or revise the person's vote and commit: 'created', 'updated' or 'unchanged'.

    One atomic upsert on the (clip, annotator) unique key, so a double click or two
    tabs end as one vote holding the last choice. The database refuses a vote without
    an assignment (composite foreign key), which is reported as NotAssigned.
    """
    if not 1 <= emotion <= 7:
        raise ValueError(f"emotion {emotion} is not a code 1..7")
    before = own_vote(db, clip_id, person_id)
    if before == emotion:
        return "unchanged"
    now = utcnow()
    insert = _dialect_insert(db)
    statement = insert(Vote).values(clip_id=clip_id, annotator_id=person_id, emotion=emotion,
                                    created_at=now, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[Vote.clip_id, Vote.annotator_id],
        set_={"emotion": statement.excluded.emotion, "updated_at": now})
    try:
        db.execute(statement)
        db.commit()
    except IntegrityError:
        db.rollback()
        raise NotAssigned(clip_id) from None
    return "created" if before is None else "updated"


def _dialect_insert(db: Session):
    name = db.get_bind().dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - dfew-build supports these two databases
        raise RuntimeError(f"votes need SQLite or PostgreSQL, not {name}")
    return insert


def history(db: Session, person_id: int,
            limit: int = 1000) -> list[tuple[int, int, object, bool]]:
    """(clip_id, emotion, updated_at, retired) of the person's votes, newest first; a vote
    on a retired clip is listed but can no longer be changed."""
    return [tuple(row) for row in db.execute(
        select(Vote.clip_id, Vote.emotion, Vote.updated_at, Clip.retired_at.is_not(None))
        .join(Clip, Clip.id == Vote.clip_id)
        .where(Vote.annotator_id == person_id)
        .order_by(Vote.updated_at.desc(), Vote.id.desc()).limit(limit))]
