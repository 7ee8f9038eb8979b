"""Annotation progress per annotator and per clip: grouped queries, nothing stored.

Per annotator, assigned/voted/remaining count clips still in the campaign (retired clips
are left out; their votes stay stored). Per clip, `counted` is the votes of annotators who
are not excluded, the votes that agreement and labels use."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Assignment, Clip, Person, ProblemReport, Vote


def _counts(session: Session, query) -> dict[int, int]:
    return {key: count for key, count in session.execute(query)}


def _in_campaign():
    return select(Clip.id).where(Clip.retired_at.is_(None))


def annotator_progress(session: Session) -> list[dict]:
    """One row per annotator (and anyone holding assignments): assigned, voted, remaining
    (on clips not retired), problems, and whether and why they are excluded."""
    assigned = _counts(session, select(Assignment.annotator_id, func.count())
                       .where(Assignment.clip_id.in_(_in_campaign()))
                       .group_by(Assignment.annotator_id))
    voted = _counts(session, select(Vote.annotator_id, func.count())
                    .where(Vote.clip_id.in_(_in_campaign())).group_by(Vote.annotator_id))
    problems = _counts(session, select(ProblemReport.reporter_id, func.count())
                       .group_by(ProblemReport.reporter_id))
    holders = select(Assignment.annotator_id).distinct()
    people = session.execute(
        select(Person.id, Person.name, Person.active, Person.excluded_reason,
               Person.excluded_at)
        .where((Person.role == "annotator") | Person.id.in_(holders))
        .order_by(Person.name)).all()
    return [{"annotator_id": pid, "name": name, "active": active,
             "excluded": excluded_at is not None, "excluded_reason": reason,
             "assigned": assigned.get(pid, 0), "voted": voted.get(pid, 0),
             "remaining": assigned.get(pid, 0) - voted.get(pid, 0),
             "problems": problems.get(pid, 0)}
            for pid, name, active, reason, excluded_at in people]


def clip_progress(session: Session, *, limit: int = 200, offset: int = 0,
                  incomplete_only: bool = False) -> tuple[list[dict], int]:
    """Rows per clip that has assignments (assigned, voted, counted, problems, retired and
    why), and their total. incomplete_only: clips in the campaign still missing votes."""
    excluded = select(Person.id).where(Person.excluded_at.is_not(None))
    assigned_q = (select(Assignment.clip_id.label("clip_id"), func.count().label("n"))
                  .group_by(Assignment.clip_id).subquery())
    voted_q = (select(Vote.clip_id.label("clip_id"), func.count().label("n"))
               .group_by(Vote.clip_id).subquery())
    counted_q = (select(Vote.clip_id.label("clip_id"), func.count().label("n"))
                 .where(Vote.annotator_id.not_in(excluded))
                 .group_by(Vote.clip_id).subquery())
    problems_q = (select(ProblemReport.clip_id.label("clip_id"), func.count().label("n"))
                  .group_by(ProblemReport.clip_id).subquery())
    voted_n = func.coalesce(voted_q.c.n, 0)
    query = (select(Clip.id, Clip.duration_s, assigned_q.c.n, voted_n,
                    func.coalesce(counted_q.c.n, 0), func.coalesce(problems_q.c.n, 0),
                    Clip.retired_at, Clip.retired_reason)
             .join(assigned_q, assigned_q.c.clip_id == Clip.id)
             .outerjoin(voted_q, voted_q.c.clip_id == Clip.id)
             .outerjoin(counted_q, counted_q.c.clip_id == Clip.id)
             .outerjoin(problems_q, problems_q.c.clip_id == Clip.id))
    if incomplete_only:
        query = query.where(voted_n < assigned_q.c.n, Clip.retired_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(query.order_by(Clip.id).limit(limit).offset(offset)).all()
    return ([{"clip_id": cid, "duration_s": duration, "assigned": n_assigned,
              "voted": n_voted, "counted": n_counted, "problems": n_problems,
              "retired": retired_at is not None, "retired_reason": reason}
             for cid, duration, n_assigned, n_voted, n_counted, n_problems, retired_at, reason
             in rows],
            total or 0)


def totals(session: Session) -> dict[str, int]:
    return {
        "clips_assigned": session.scalar(select(func.count(func.distinct(Assignment.clip_id)))),
        "assignments": session.scalar(select(func.count()).select_from(Assignment)),
        "votes": session.scalar(select(func.count()).select_from(Vote)),
        "open_problems": session.scalar(select(func.count()).select_from(ProblemReport)
                                        .where(ProblemReport.resolved_at.is_(None))),
        "retired_clips": session.scalar(select(func.count()).select_from(Clip)
                                        .where(Clip.retired_at.is_not(None))),
        "excluded_annotators": session.scalar(select(func.count()).select_from(Person)
                                              .where(Person.excluded_at.is_not(None))),
    }
