"""Problem reports: "no face", "several faces", "broken video". Stored apart from votes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dfew_build.db.models import PROBLEM_KINDS, Person, ProblemReport, utcnow
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
    note = (note or "").strip()[:MAX_NOTE] or None
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
    query = (select(ProblemReport, Person.name)
             .join(Person, Person.id == ProblemReport.reporter_id)
             .order_by(ProblemReport.created_at.desc(), ProblemReport.id.desc()).limit(limit))
    if open_only:
        query = query.where(ProblemReport.resolved_at.is_(None))
    return [{"id": r.id, "clip_id": r.clip_id, "reporter": name, "kind": r.kind,
             "label": PROBLEM_LABELS[r.kind], "note": r.note, "created_at": r.created_at,
             "resolved_at": r.resolved_at}
            for r, name in session.execute(query)]


def resolve_problem(session: Session, report_id: int) -> bool:
    """Mark a report resolved; False if there is no such report."""
    report = session.get(ProblemReport, report_id)
    if report is None:
        return False
    if report.resolved_at is None:
        report.resolved_at = utcnow()
    session.commit()
    return True
