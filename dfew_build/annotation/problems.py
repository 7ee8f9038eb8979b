"""Problem reports: "no face", "several faces", "broken video". Stored apart from votes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dfew_build.db.models import PROBLEM_KINDS, Clip, Person, ProblemReport, utcnow
from dfew_build.errors import VoteError

PROBLEM_LABELS = {"no_face": "No face visible", "several_faces": "Several faces, unclear whose",
                  "broken_video": "Video broken or does not play"}
MAX_NOTE = 2000


def report_problem(session: Session, clip_id: int, reporter_id: int, kind: str,
                   note: str | None = None) -> bool:
    """Store a report; True if new. The same person reporting the same kind again only
    updates the note (a double click stores one report)."""
    if kind not in PROBLEM_KINDS:
        raise VoteError(f"unknown problem {kind!r}: use one of {', '.join(PROBLEM_KINDS)}")
    # No NUL or other control characters (PostgreSQL refuses NUL in text).
    note = "".join(ch for ch in (note or "") if ch >= " " or ch in "\t\n")
    note = note.strip()[:MAX_NOTE] or None
    existing = _find(session, clip_id, reporter_id, kind)
    if existing is None:
        session.add(ProblemReport(clip_id=clip_id, reporter_id=reporter_id, kind=kind, note=note))
        try:
            session.commit()
            return True
        except IntegrityError:  # the same report from a second tab won the race
            session.rollback()
            existing = _find(session, clip_id, reporter_id, kind)
            if existing is None:
                raise
    if note:
        existing.note = note
    existing.resolved_at = None
    session.commit()
    return False


def _find(session, clip_id, reporter_id, kind) -> ProblemReport | None:
    return session.scalar(select(ProblemReport).where(
        ProblemReport.clip_id == clip_id, ProblemReport.reporter_id == reporter_id,
        ProblemReport.kind == kind))


def reported_clip_ids(session: Session, reporter_id: int) -> set[int]:
    return set(session.scalars(select(ProblemReport.clip_id).where(
        ProblemReport.reporter_id == reporter_id, ProblemReport.resolved_at.is_(None))))


def list_problems(session: Session, *, open_only: bool = True, limit: int = 500) -> list[dict]:
    """Problem reports, newest first, with whether their clip is retired (and why) and how
    many open reports the clip has: what an admin needs to decide on retiring it."""
    query = (select(ProblemReport, Person.name, Clip.retired_at, Clip.retired_reason)
             .join(Person, Person.id == ProblemReport.reporter_id)
             .join(Clip, Clip.id == ProblemReport.clip_id)
             .order_by(ProblemReport.created_at.desc(), ProblemReport.id.desc()).limit(limit))
    if open_only:
        query = query.where(ProblemReport.resolved_at.is_(None))
    rows = [{"id": r.id, "clip_id": r.clip_id, "reporter": name, "kind": r.kind,
             "label": PROBLEM_LABELS[r.kind], "note": r.note, "created_at": r.created_at,
             "resolved_at": r.resolved_at, "clip_retired": retired_at is not None,
             "clip_retired_reason": reason}
            for r, name, retired_at, reason in session.execute(query)]
    open_per_clip = dict(session.execute(
        select(ProblemReport.clip_id, func.count()).where(
            ProblemReport.resolved_at.is_(None),
            ProblemReport.clip_id.in_({row["clip_id"] for row in rows}))
        .group_by(ProblemReport.clip_id)).all()) if rows else {}
    for row in rows:
        row["clip_open_reports"] = open_per_clip.get(row["clip_id"], 0)
    return rows


def resolve_problem(session: Session, report_id: int) -> bool:
    """Mark a report resolved; False if there is no such report."""
    report = session.get(ProblemReport, report_id)
    if report is None:
        return False
    if report.resolved_at is None:
        report.resolved_at = utcnow()
    session.commit()
    return True
