"""The annotator page: next clip, vote with keys 1-7, revise, report a problem.

An annotator never sees other people's votes or the extractor's intended emotion: the
templates get only the clip id, duration and the annotator's own vote. Clips come in the
queue order of dfew.toml (`[annotation] order`, seeded random per annotator by default).
Retired clips are out of every queue and take no vote; an excluded annotator has an empty
queue and casts no vote (they can still read their history).

The next-clip page and the vote are the hot path: the page comes from the cached queue
(annotating.QueueCache; no database work when it is current) and the vote is one short
write transaction.

Where JavaScript runs (static/annotate.js) the vote is posted with fetch and answered with
JSON (`Accept: application/json`), and the next clip comes from /annotate/upcoming.json (the
person's own queue, so never another annotator's clip) and is prefetched while the current
one plays; without JavaScript the plain form and POST-redirect-GET do the same. CSRF is the
same form field on both.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse

from annotation_server.annotating import (NotAssigned, annotatable_clip, cast_vote, history,
                                          own_vote)
from annotation_server.deps import flash, get_db, require_role
from annotation_server.limits import MAX_TEXT, ClipId, Text
from annotation_server.rendering import render
from annotation_server.routes.guidelines import (SEEN_COOKIE, guidelines_html,
                                                 remember_guidelines_seen)
from annotation_server.security import CSRF_FIELD, csrf_protect
from dfew_build.annotation.assign import queue_order
from dfew_build.annotation.problems import PROBLEM_LABELS, report_problem, reported_clip_ids
from dfew_build.db.models import Clip
from dfew_build.emotions import BY_CODE
from dfew_build.errors import ConfigError
from dfew_build.logins import Login

router = APIRouter(prefix="/annotate", dependencies=[Depends(csrf_protect)])
annotator = require_role("annotator")
NOT_ASSIGNED = "This clip is not assigned to you."
RETIRED = "Clip {id} has been taken out of the campaign; it needs no vote."
EXCLUDED = ("Your annotation on this campaign has ended, so no vote is taken; your earlier "
            "votes are kept. Ask your admin if you think this is a mistake.")


def _refusal(db, clip_id: int, person_id: int) -> str:
    """Why the clip cannot be annotated by the person (read after NotAssigned)."""
    from dfew_build.db.models import Person

    person = db.get(Person, person_id)
    if person is not None and person.excluded_at is not None:
        return EXCLUDED
    clip = db.get(Clip, clip_id)
    if clip is not None and clip.retired_at is not None:
        return RETIRED.format(id=clip_id)
    return NOT_ASSIGNED


def _order(request: Request):
    try:
        return queue_order(request.app.state.settings.config)
    except ConfigError as exc:
        raise HTTPException(500, f"The server is misconfigured: {exc}") from None


def _queue(request: Request, person: Login, order):
    return request.app.state.queues.get(person.person_id, person.queue_version, order,
                                        person.excluded)


def _load_queue(db, request, person, order):
    return request.app.state.queues.fresh(db, person.person_id, person.queue_version, order,
                                          person.excluded)


def wants_json(request: Request) -> bool:
    """The page's fetch asks for JSON; a plain form submission asks for HTML."""
    return "application/json" in request.headers.get("accept", "")


def _upcoming(queue, limit: int = 2) -> dict:
    clips = queue.upcoming[queue.position:queue.position + limit]
    return {"done": queue.done, "total": queue.total,
            "upcoming": [{"id": c, "duration_s": queue.durations.get(c),
                          "video": f"/media/clip/{c}", "page": f"/annotate/clip/{c}"}
                         for c in clips]}


@router.get("/upcoming.json")
async def upcoming(request: Request, person: Login = Depends(annotator)):
    """The next clips of the person's own queue (for prefetching) and the progress."""
    order = _order(request)
    queue = _queue(request, person, order)
    if queue is None:
        queue = await get_db(request).run(_load_queue, request, person, order)
    return JSONResponse(_upcoming(queue), headers={"Cache-Control": "no-store"})


def _load_queue_at(db, request, person, version, order):
    return request.app.state.queues.fresh(db, person.person_id, version, order,
                                          person.excluded)


@router.get("")
async def next_clip(request: Request, person: Login = Depends(annotator)):
    from annotation_server.routes.practice import practice_redirect  # gold practice first

    if (practice := await practice_redirect(request, person)) is not None:
        return practice
    order = _order(request)
    queue = _queue(request, person, order)
    if queue is None:  # changed since it was cached (or never loaded): one query
        queue = await get_db(request).run(_load_queue, request, person, order)
    clip_id = queue.next_clip()
    if clip_id is None:
        return render(request, "done.html", {
            "done": queue.done, "total": queue.total, "excluded": queue.excluded,
            "reported_unvoted": queue.reported_unvoted}, person=person)
    first_time = not request.cookies.get(SEEN_COOKIE)
    response = render(request, "annotate.html", {
        "clip": {"id": clip_id, "duration_s": queue.durations.get(clip_id)},
        "current": None, "revising": False, "return_to": "next", "done": queue.done,
        "total": queue.total, "problem_kinds": PROBLEM_LABELS, "reported": False,
        # The first clip page in this browser shows the guidelines too (once).
        "guidelines": guidelines_html(request) if first_time else None}, person=person)
    if first_time:
        remember_guidelines_seen(request, response)
    return response


def _clip_view(db, request, person: Login, clip_id: int, order):
    try:
        clip = annotatable_clip(db, clip_id, person.person_id)
    except NotAssigned:
        return _refusal(db, clip_id, person.person_id)
    queue = _load_queue(db, request, person, order)
    return {"clip": {"id": clip.id, "duration_s": clip.duration_s},
            "current": own_vote(db, clip_id, person.person_id),
            "done": queue.done, "total": queue.total,
            "reported": clip_id in reported_clip_ids(db, person.person_id)}


@router.get("/clip/{clip_id}")
async def clip_page(clip_id: ClipId, request: Request, undo: bool = False,
                    person: Login = Depends(annotator)):
    """One clip; with ?undo=1 (the U key) a vote on it goes on to the next clip, not to the
    history page. The page's undo asks for JSON (`Accept: application/json`): the clip, the
    person's own vote on it (code and name, or null) and the progress."""
    view = await get_db(request).run(_clip_view, request, person, clip_id, _order(request))
    if isinstance(view, str):
        raise HTTPException(403, view)
    revising = view["current"] is not None
    if wants_json(request):
        current = view["current"]
        return JSONResponse(
            {"clip": clip_id, "duration_s": view["clip"]["duration_s"],
             "video": f"/media/clip/{clip_id}", "current": current,
             "current_name": BY_CODE[current].name if current else None,
             "done": view["done"], "total": view["total"]},
            headers={"Cache-Control": "no-store", "Vary": "Accept"})
    return render(request, "annotate.html", {
        **view, "revising": revising, "problem_kinds": PROBLEM_LABELS,
        "return_to": "history" if revising and not undo else "next"}, person=person)


@router.post("/clip/{clip_id}/vote")
async def vote(clip_id: ClipId, request: Request, emotion: int = Form(...),
               return_to: str = Form("next", max_length=20),
               person: Login = Depends(annotator)):
    if emotion not in BY_CODE:
        raise HTTPException(422, f"Emotion {emotion} is not one of the seven (codes 1-7).")
    # A 503 (database busy or locked) answers with a page that posts this vote again.
    form = await request.form()
    request.scope["state"]["retry_form"] = {
        "action": f"/annotate/clip/{clip_id}/vote",
        "fields": {"emotion": str(emotion), "return_to": return_to,
                   CSRF_FIELD: str(form.get(CSRF_FIELD, ""))}}
    try:
        done = await get_db(request).write_now(cast_vote, clip_id, person.person_id,
                                               emotion)
    except NotAssigned:
        raise HTTPException(403, await get_db(request).run(_refusal, clip_id,
                                                           person.person_id)) from None
    outcome, before, after = done
    request.app.state.queues.voted(person.person_id, clip_id, outcome == "created", before,
                                   after)
    if wants_json(request):
        order = _order(request)
        queue = request.app.state.queues.get(person.person_id, after, order, person.excluded)
        if queue is None:
            queue = await get_db(request).run(_load_queue_at, request, person, after, order)
        return JSONResponse({"outcome": outcome, "clip": clip_id, "emotion": emotion,
                             **_upcoming(queue)}, headers={"Cache-Control": "no-store"})
    if outcome == "updated":
        flash(request, f"Clip {clip_id}: your vote is now {BY_CODE[emotion].name}.")
    # POST-redirect-GET: reloading the next page never resubmits.
    target = "/annotate/history" if return_to == "history" else "/annotate"
    return RedirectResponse(target, status_code=303)


def _report(db, clip_id: int, person_id: int, kind: str, note: str):
    try:
        annotatable_clip(db, clip_id, person_id)
    except NotAssigned:
        return _refusal(db, clip_id, person_id)
    report_problem(db, clip_id, person_id, kind, note)
    return None


@router.post("/clip/{clip_id}/problem")
async def problem(clip_id: ClipId, request: Request, kind: str = Form(..., max_length=40),
                  note: Text = Form("", max_length=MAX_TEXT), person: Login = Depends(annotator)):
    if kind not in PROBLEM_LABELS:
        raise HTTPException(422, f"Unknown problem {kind!r}.")
    refused = await get_db(request).run(_report, clip_id, person.person_id, kind, note,
                                        write=True)
    if refused:
        raise HTTPException(403, refused)
    flash(request, f"Thank you: clip {clip_id} reported ({PROBLEM_LABELS[kind].lower()}). "
                   "It is not counted as a vote; you can still vote on it from your history.")
    return RedirectResponse("/annotate", status_code=303)


def _history(db, request, person: Login, order):
    queue = _load_queue(db, request, person, order)
    votes = [{"clip_id": c, "emotion": BY_CODE[e], "updated_at": t,
              "changeable": not (retired or queue.excluded), "retired": bool(retired)}
             for c, e, t, retired in history(db, person.person_id)]
    return {"votes": votes, "done": queue.done, "total": queue.total,
            "reported_unvoted": queue.reported_unvoted}


@router.get("/history")
async def history_page(request: Request, person: Login = Depends(annotator)):
    view = await get_db(request).run(_history, request, person, _order(request))
    return render(request, "history.html", view, person=person)
