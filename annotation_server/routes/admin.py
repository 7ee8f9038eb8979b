"""The admin page: progress per annotator and per clip, problem reports, votes CSV, agreement."""

from __future__ import annotations

import io

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from annotation_server.agreement import agreement_summary
from annotation_server.deps import flash, get_db, require_role
from annotation_server.rendering import render
from annotation_server.security import csrf_protect
from dfew_build.annotation.problems import list_problems, resolve_problem
from dfew_build.annotation.progress import annotator_progress, clip_progress, totals
from dfew_build.db.models import Person

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])
admin = require_role("admin")
PAGE = 100


@router.get("")
def overview(request: Request, db: Session = Depends(get_db), person: Person = Depends(admin)):
    return render(request, "admin.html", {
        "totals": totals(db), "annotators": annotator_progress(db),
        "problems": list_problems(db, open_only=True, limit=200),
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
