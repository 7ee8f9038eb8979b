"""Annotation progress per annotator and per clip: grouped queries, nothing stored."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Assignment, Clip, Person, ProblemReport, Vote


def _counts(session: Session, query) -> dict[int, int]:
    return {key: count for key, count in session.execute(query)}


def annotator_progress(session: Session) -> list[dict]:
    """One row per annotator (and anyone holding assignments): assigned, voted, problems."""
    assigned = _counts(session, select(Assignment.annotator_id, func.count())
                       .group_by(Assignment.annotator_id))
    voted = _counts(session, select(Vote.annotator_id, func.count()).group_by(Vote.annotator_id))
    problems = _counts(session, select(ProblemReport.reporter_id, func.count())
                       .group_by(ProblemReport.reporter_id))
    people = session.execute(
        select(Person.id, Person.name, Person.active, Person.role)
        .where((Person.role == "annotator") | Person.id.in_(list(assigned)))
        .order_by(Person.name)).all()
    return [{"annotator_id": pid, "name": name, "active": active,
             "assigned": assigned.get(pid, 0), "voted": voted.get(pid, 0),
             "remaining": assigned.get(pid, 0) - voted.get(pid, 0),
             "problems": problems.get(pid, 0)}
            for pid, name, active, _role in people]


def clip_progress(session: Session, *, limit: int = 200, offset: int = 0,
                  incomplete_only: bool = False) -> tuple[list[dict], int]:
    """Rows per clip that has assignments (assigned, voted, problems), and their total."""
    assigned_q = (select(Assignment.clip_id.label("clip_id"), func.count().label("n"))
                  .group_by(Assignment.clip_id).subquery())
    voted_q = (select(Vote.clip_id.label("clip_id"), func.count().label("n"))
               .group_by(Vote.clip_id).subquery())
    problems_q = (select(ProblemReport.clip_id.label("clip_id"), func.count().label("n"))
                  .group_by(ProblemReport.clip_id).subquery())
    voted_n = func.coalesce(voted_q.c.n, 0)
    query = (select(Clip.id, Clip.duration_s, assigned_q.c.n, voted_n,
                    func.coalesce(problems_q.c.n, 0))
             .join(assigned_q, assigned_q.c.clip_id == Clip.id)
             .outerjoin(voted_q, voted_q.c.clip_id == Clip.id)
             .outerjoin(problems_q, problems_q.c.clip_id == Clip.id))
    if incomplete_only:
        query = query.where(voted_n < assigned_q.c.n)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(query.order_by(Clip.id).limit(limit).offset(offset)).all()
    return ([{"clip_id": cid, "duration_s": duration, "assigned": n_assigned,
              "voted": n_voted, "problems": n_problems}
             for cid, duration, n_assigned, n_voted, n_problems in rows], total or 0)


def totals(session: Session) -> dict[str, int]:
    return {
        "clips_assigned": session.scalar(select(func.count(func.distinct(Assignment.clip_id)))),
        "assignments": session.scalar(select(func.count()).select_from(Assignment)),
        "votes": session.scalar(select(func.count()).select_from(Vote)),
        "open_problems": session.scalar(select(func.count()).select_from(ProblemReport)
                                        .where(ProblemReport.resolved_at.is_(None))),
    }
