"""The annotator page: next clip, vote with keys 1-7, revise, report a problem.

An annotator never sees other people's votes or the extractor's intended emotion: the
templates get only the clip id, duration and the annotator's own vote. Clips come in the
queue order of dfew.toml (`[annotation] order`, seeded random per annotator by default).
Retired clips are out of every queue and take no vote; an excluded annotator has an empty
queue and casts no vote (they can still read their history).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from annotation_server.annotating import (NotAssigned, annotatable_clip, history, next_clip_id,
                                          own_vote, progress, record_vote,
                                          unvoted_among)
from annotation_server.deps import flash, get_db, require_role
from annotation_server.rendering import render
from annotation_server.security import csrf_protect
from dfew_build.annotation.assign import queue_order
from dfew_build.annotation.problems import PROBLEM_LABELS, report_problem, reported_clip_ids
from dfew_build.db.models import Clip, Person
from dfew_build.emotions import BY_CODE
from dfew_build.errors import ConfigError

router = APIRouter(prefix="/annotate", dependencies=[Depends(csrf_protect)])
annotator = require_role("annotator")
NOT_ASSIGNED = "This clip is not assigned to you."
RETIRED = "Clip {id} has been taken out of the campaign; it needs no vote."
EXCLUDED = ("Your annotation on this campaign has ended, so no vote is taken; your earlier "
            "votes are kept. Ask your admin if you think this is a mistake.")


def _clip_or_403(db: Session, clip_id: int, person: Person):
    try:
        return annotatable_clip(db, clip_id, person.id)
    except NotAssigned:
        if person.excluded_at is not None:
            raise HTTPException(403, EXCLUDED) from None
        clip = db.get(Clip, clip_id)
        if clip is not None and clip.retired_at is not None:
            raise HTTPException(403, RETIRED.format(id=clip_id)) from None
        raise HTTPException(403, NOT_ASSIGNED) from None


def _order(request: Request):
    try:
        return queue_order(request.app.state.settings.config)
    except ConfigError as exc:
        raise HTTPException(500, f"The server is misconfigured: {exc}") from None


def _clip_page(request, db, person, clip, *, revising: bool):
    done, total = progress(db, person.id)
    reported = reported_clip_ids(db, person.id)
    return render(request, "annotate.html", {
        "clip": {"id": clip.id, "duration_s": clip.duration_s},
        "current": own_vote(db, clip.id, person.id), "revising": revising,
        "done": done, "total": total, "problem_kinds": PROBLEM_LABELS,
        "reported": clip.id in reported}, person=person)


@router.get("")
def next_clip(request: Request, db: Session = Depends(get_db),
              person: Person = Depends(annotator)):
    reported = reported_clip_ids(db, person.id)
    clip_id = next_clip_id(db, person.id, skip=reported, order=_order(request))
    if clip_id is None:
        done, total = progress(db, person.id)
        return render(request, "done.html", {
            "done": done, "total": total, "excluded": person.excluded_at is not None,
            "reported_unvoted": unvoted_among(db, person.id, reported)}, person=person)
    return _clip_page(request, db, person, _clip_or_403(db, clip_id, person), revising=False)


@router.get("/clip/{clip_id}")
def clip_page(clip_id: int, request: Request, db: Session = Depends(get_db),
              person: Person = Depends(annotator)):
    clip = _clip_or_403(db, clip_id, person)
    return _clip_page(request, db, person, clip,
                      revising=own_vote(db, clip_id, person.id) is not None)


@router.post("/clip/{clip_id}/vote")
def vote(clip_id: int, request: Request, emotion: int = Form(...),
         return_to: str = Form("next"), db: Session = Depends(get_db),
         person: Person = Depends(annotator)):
    _clip_or_403(db, clip_id, person)
    if emotion not in BY_CODE:
        raise HTTPException(422, f"Emotion {emotion} is not one of the seven (codes 1-7).")
    try:
        outcome = record_vote(db, clip_id, person.id, emotion)
    except NotAssigned:
        raise HTTPException(403, NOT_ASSIGNED) from None
    if outcome == "updated":
        flash(request, f"Clip {clip_id}: your vote is now {BY_CODE[emotion].name}.")
    # POST-redirect-GET: reloading the next page never resubmits.
    target = "/annotate/history" if return_to == "history" else "/annotate"
    return RedirectResponse(target, status_code=303)


@router.post("/clip/{clip_id}/problem")
def problem(clip_id: int, request: Request, kind: str = Form(...), note: str = Form(""),
            db: Session = Depends(get_db), person: Person = Depends(annotator)):
    _clip_or_403(db, clip_id, person)
    if kind not in PROBLEM_LABELS:
        raise HTTPException(422, f"Unknown problem {kind!r}.")
    report_problem(db, clip_id, person.id, kind, note)
    flash(request, f"Thank you: clip {clip_id} reported ({PROBLEM_LABELS[kind].lower()}). "
                   "It is not counted as a vote; you can still vote on it from your history.")
    return RedirectResponse("/annotate", status_code=303)


@router.get("/history")
def history_page(request: Request, db: Session = Depends(get_db),
                 person: Person = Depends(annotator)):
    done, total = progress(db, person.id)
    frozen = person.excluded_at is not None
    votes = [{"clip_id": c, "emotion": BY_CODE[e], "updated_at": t,
              "changeable": not (retired or frozen), "retired": bool(retired)}
             for c, e, t, retired in history(db, person.id)]
    reported = unvoted_among(db, person.id, reported_clip_ids(db, person.id))
    return render(request, "history.html", {"votes": votes, "done": done, "total": total,
                                            "reported_unvoted": reported}, person=person)
