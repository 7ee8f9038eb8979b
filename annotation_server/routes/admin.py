"""The admin page: progress per annotator and per clip, problem reports (and retiring the
clips they are about), votes CSV, agreement.

The votes CSV streams: rows go out in pages of clips, each page read in a database thread
of its own, so a million votes neither sit in memory nor hold a connection between sends.
"""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, StreamingResponse

from annotation_server.deps import flash, get_db, require_role
from annotation_server.limits import MAX_TEXT, ClipId, Page, ReportId, Text
from annotation_server.rendering import render
from annotation_server.security import csrf_protect
from sqlalchemy import func, select

from dfew_build.annotation.gold import accuracy_entry, gold_accuracy
from dfew_build.annotation.problems import list_problems, resolve_problem
from dfew_build.annotation.progress import annotator_progress, clip_progress, totals
from dfew_build.clips.library import restore_clip, retire_clip, retired_clips
from dfew_build.db.models import Clip, GoldClip
from dfew_build.errors import ClipError
from dfew_build.logins import Login

router = APIRouter(prefix="/admin", dependencies=[Depends(csrf_protect)])
admin = require_role("admin")
PAGE = 100
CSV_PAGE_ROWS = 50_000


def _overview(db):
    people = annotator_progress(db)
    accuracy = gold_accuracy(db)  # gold check votes per annotator (they count nowhere else)
    for row in people:
        row.update(accuracy.get(row["annotator_id"], accuracy_entry(0, 0)))
    return {"totals": totals(db), "annotators": people,
            "gold_clips": db.scalar(select(func.count()).select_from(GoldClip)) or 0,
            "problems": list_problems(db, open_only=True, limit=200),
            "retired": retired_clips(db, limit=200)}


@router.get("")
async def overview(request: Request, person: Login = Depends(admin)):
    settings = request.app.state.settings
    view = await get_db(request).run(_overview)
    agreement = await request.app.state.agreement.summary(
        get_db(request), settings.raters_per_clip, view["totals"]["votes"])
    return render(request, "admin.html", {**view, "agreement": agreement,
                                          "raters_per_clip": settings.raters_per_clip},
                  person=person)


@router.get("/clips")
async def clips(request: Request, page: Page = 1, incomplete: bool = False,
                person: Login = Depends(admin)):
    rows, total = await get_db(request).run(
        lambda db: clip_progress(db, limit=PAGE, offset=(page - 1) * PAGE,
                                 incomplete_only=incomplete))
    pages = max(1, -(-total // PAGE))
    return render(request, "admin_clips.html", {
        "rows": rows, "total": total, "page": page, "pages": pages,
        "incomplete": incomplete}, person=person)


@router.get("/votes.csv")
async def votes_csv(request: Request, person: Login = Depends(admin)):
    from dfew_build.annotation.votes import COLUMNS, vote_rows_after

    db = get_db(request)

    async def lines():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        after = None
        while True:
            rows, after = await db.run(vote_rows_after, after, CSV_PAGE_ROWS)
            writer.writerows(rows)
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            if after is None:
                return

    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="votes.csv"', "Cache-Control": "no-store"})


@router.post("/problems/{report_id}/resolve")
async def resolve(report_id: ReportId, request: Request, person: Login = Depends(admin)):
    if not await get_db(request).run(resolve_problem, report_id, write=True):
        raise HTTPException(404, f"No problem report {report_id}.")
    flash(request, f"Problem report {report_id} marked resolved; the clip is back in its "
                   "reporter's queue.")
    return RedirectResponse("/admin", status_code=303)


def _back(return_to: str) -> RedirectResponse:
    # Only our own pages: never a redirect to an address taken from the form.
    target = "/admin/clips" if return_to == "clips" else "/admin"
    return RedirectResponse(target, status_code=303)


def _retire(db, clip_id: int, reason: str):
    if db.get(Clip, clip_id) is None:
        return "missing"
    try:
        return retire_clip(db, clip_id, reason)
    except ClipError as exc:
        db.rollback()
        return exc


@router.post("/clips/{clip_id}/retire")
async def retire(clip_id: ClipId, request: Request, reason: Text = Form("", max_length=MAX_TEXT),
                 return_to: str = Form("admin", max_length=20), person: Login = Depends(admin)):
    """Take a clip out of the campaign (what `dfew-build clips retire` does)."""
    if not reason.strip():
        exists = await get_db(request).run(lambda db: db.get(Clip, clip_id) is not None)
        if not exists:
            raise HTTPException(404, f"No clip {clip_id}.")
        flash(request, f"Clip {clip_id} not retired: give a reason (e.g. no face visible).",
              "error")
        return _back(return_to)
    changed = await get_db(request).run(_retire, clip_id, reason, write=True)
    if changed == "missing":
        raise HTTPException(404, f"No clip {clip_id}.")
    if isinstance(changed, ClipError):
        flash(request, f"Clip {clip_id} not retired: {changed}", "error")
        return _back(return_to)
    flash(request, f"Clip {clip_id} retired: it left every queue and its votes count nowhere "
                   "(they stay stored; restore it to count them again)." if changed else
                   f"Clip {clip_id} was retired already.")
    return _back(return_to)


def _restore(db, clip_id: int):
    if db.get(Clip, clip_id) is None:
        return "missing"
    return restore_clip(db, clip_id)


@router.post("/clips/{clip_id}/restore")
async def restore(clip_id: ClipId, request: Request,
                  return_to: str = Form("admin", max_length=20), person: Login = Depends(admin)):
    """Put a retired clip back in the campaign (`dfew-build clips restore`)."""
    changed = await get_db(request).run(_restore, clip_id, write=True)
    if changed == "missing":
        raise HTTPException(404, f"No clip {clip_id}.")
    flash(request, f"Clip {clip_id} restored: back in its annotators' queues and counted."
          if changed else f"Clip {clip_id} is not retired.")
    return _back(return_to)
