"""Annotation progress per annotator and per clip: grouped queries, nothing stored.

Per annotator, assigned/voted/remaining count clips still in the campaign (retired clips
are left out; their votes stay stored). Per clip, `counted` is the votes of annotators who
are not excluded, the votes that agreement and labels use (none on a gold check clip,
`gold` true: its votes only measure gold accuracy)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Assignment, Clip, GoldClip, Person, ProblemReport, Vote


def _counts(session: Session, query) -> dict[int, int]:
    return {key: count for key, count in session.execute(query)}


def _in_campaign():
    return select(Clip.id).where(Clip.retired_at.is_(None))


def annotator_progress(session: Session) -> list[dict]:
    """One row per annotator (and anyone holding assignments): assigned, voted, remaining
    (on clips not retired), problems, and whether and why they are excluded.

    Counted as all of a person's rows (an index-only count) less those on retired clips
    (few, found through the retired clips), so the page stays fast at millions of votes."""
    retired = select(Clip.id).where(Clip.retired_at.is_not(None))
    assigned = _counts(session, select(Assignment.annotator_id, func.count())
                       .group_by(Assignment.annotator_id))
    voted = _counts(session, select(Vote.annotator_id, func.count())
                    .group_by(Vote.annotator_id))
    for counts, table in ((assigned, Assignment), (voted, Vote)):
        for pid, n in _counts(session, select(table.annotator_id, func.count())
                              .where(table.clip_id.in_(retired))
                              .group_by(table.annotator_id)).items():
            counts[pid] = counts.get(pid, 0) - n
    problems = _counts(session, select(ProblemReport.reporter_id, func.count())
                       .group_by(ProblemReport.reporter_id))
    people = session.execute(
        select(Person.id, Person.name, Person.active, Person.excluded_reason,
               Person.excluded_at)
        .where((Person.role == "annotator") | Person.id.in_(list(assigned)))
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
    why), and their total. incomplete_only: clips in the campaign still missing votes.

    The page's clips are chosen first and counted one by one through the indexes, so a
    page costs the same at any size; only incomplete_only needs a pass over every clip."""
    if incomplete_only:
        missing = (select(Assignment.clip_id)
                   .outerjoin(Vote, (Vote.clip_id == Assignment.clip_id)
                              & (Vote.annotator_id == Assignment.annotator_id))
                   .where(Vote.id.is_(None)))
        ids_query = (select(Clip.id).where(Clip.id.in_(missing), Clip.retired_at.is_(None)))
    else:
        ids_query = select(Assignment.clip_id.label("id")).distinct()
    total = session.scalar(select(func.count()).select_from(ids_query.subquery()))
    page = ids_query.subquery()
    clip_ids = list(session.scalars(select(page.c.id).order_by(page.c.id)
                                    .limit(limit).offset(offset)))
    if not clip_ids:
        return [], total or 0
    excluded = select(Person.id).where(Person.excluded_at.is_not(None))

    def per_clip(query, column):
        return _counts(session, query.where(column.in_(clip_ids)).group_by(column))

    assigned = per_clip(select(Assignment.clip_id, func.count()), Assignment.clip_id)
    voted = per_clip(select(Vote.clip_id, func.count()), Vote.clip_id)
    counted = per_clip(select(Vote.clip_id, func.count())
                       .where(Vote.annotator_id.not_in(excluded)), Vote.clip_id)
    problems = per_clip(select(ProblemReport.clip_id, func.count()), ProblemReport.clip_id)
    gold = set(session.scalars(select(GoldClip.clip_id).where(GoldClip.clip_id.in_(clip_ids))))
    for cid in gold:
        counted[cid] = 0
    clips = {cid: (duration, retired_at, reason) for cid, duration, retired_at, reason in
             session.execute(select(Clip.id, Clip.duration_s, Clip.retired_at,
                                    Clip.retired_reason).where(Clip.id.in_(clip_ids)))}
    return ([{"clip_id": cid, "duration_s": clips[cid][0], "assigned": assigned.get(cid, 0),
              "voted": voted.get(cid, 0), "counted": counted.get(cid, 0),
              "problems": problems.get(cid, 0), "retired": clips[cid][1] is not None,
              "retired_reason": clips[cid][2], "gold": cid in gold}
             for cid in clip_ids if cid in clips],
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
