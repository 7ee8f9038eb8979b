"""The admin page: progress per annotator and per clip, problem reports (and retiring the
clips they are about), votes CSV, agreement."""

from __future__ import annotations

import io

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from annotation_server.agreement import agreement_summary
from annotation_server.deps import flash, get_db, require_role
from annotation_server.rendering import render
from annotation_server.security import csrf_protect
from dfew_build.annotation.problems import list_problems, resolve_problem
from dfew_build.annotation.progress import annotator_progress, clip_progress, totals
from dfew_build.clips.library import restore_clip, retire_clip, retired_clips
from dfew_build.db.models import Clip, Person
from dfew_build.errors import ClipError

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])
admin = require_role("admin")
PAGE = 100


@router.get("")
def overview(request: Request, db: Session = Depends(get_db), person: Person = Depends(admin)):
    return render(request, "admin.html", {
        "totals": totals(db), "annotators": annotator_progress(db),
        "problems": list_problems(db, open_only=True, limit=200),
        "retired": retired_clips(db, limit=200),
        "agreement": agreement_summary(db, request.app.state.settings.raters_per_clip),
        "raters_per_clip": request.app.state.settings.raters_per_clip}, person=person)


@router.get("/clips")
def clips(request: Request, page: int = Query(1, ge=1), incomplete: bool = False,
          db: Session = Depends(get_db), person: Person = Depends(admin)):
    rows, total = clip_progress(db, limit=PAGE, offset=(page - 1) * PAGE,
                                incomplete_only=incomplete)
    pages = max(1, -(-total // PAGE))
    return render(request, "admin_clips.html", {
        "rows": rows, "total": total, "page": page, "pages": pages,
        "incomplete": incomplete}, person=person)


@router.get("/votes.csv")
def votes_csv(db: Session = Depends(get_db), person: Person = Depends(admin)):
    from dfew_build.annotation.votes import write_votes

    buffer = io.StringIO()
    write_votes(db, buffer)
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="votes.csv"', "Cache-Control": "no-store"})


@router.post("/problems/{report_id}/resolve")
def resolve(report_id: int, request: Request, db: Session = Depends(get_db),
            person: Person = Depends(admin)):
    if not resolve_problem(db, report_id):
        raise HTTPException(404, f"No problem report {report_id}.")
    flash(request, f"Problem report {report_id} marked resolved; the clip is back in its "
                   "reporter's queue.")
    return RedirectResponse("/admin", status_code=303)


def _back(return_to: str) -> RedirectResponse:
    # Only our own pages: never a redirect to an address taken from the form.
    target = "/admin/clips" if return_to == "clips" else "/admin"
    return RedirectResponse(target, status_code=303)


@router.post("/clips/{clip_id}/retire")
def retire(clip_id: int, request: Request, reason: str = Form(""),
           return_to: str = Form("admin"), db: Session = Depends(get_db),
           person: Person = Depends(admin)):
    """Take a clip out of the campaign (what `dfew-build clips retire` does)."""
    if db.get(Clip, clip_id) is None:
        raise HTTPException(404, f"No clip {clip_id}.")
    if not reason.strip():
        flash(request, f"Clip {clip_id} not retired: give a reason (e.g. no face visible).",
              "error")
        return _back(return_to)
    try:
        changed = retire_clip(db, clip_id, reason)
        db.commit()
    except ClipError as exc:
        db.rollback()
        flash(request, f"Clip {clip_id} not retired: {exc}", "error")
        return _back(return_to)
    flash(request, f"Clip {clip_id} retired: it left every queue and its votes count nowhere "
                   "(they stay stored; restore it to count them again)." if changed else
                   f"Clip {clip_id} was retired already.")
    return _back(return_to)


@router.post("/clips/{clip_id}/restore")
def restore(clip_id: int, request: Request, return_to: str = Form("admin"),
            db: Session = Depends(get_db), person: Person = Depends(admin)):
    """Put a retired clip back in the campaign (`dfew-build clips restore`)."""
    if db.get(Clip, clip_id) is None:
        raise HTTPException(404, f"No clip {clip_id}.")
    changed = restore_clip(db, clip_id)
    db.commit()
    flash(request, f"Clip {clip_id} restored: back in its annotators' queues and counted."
          if changed else f"Clip {clip_id} is not retired.")
    return _back(return_to)
