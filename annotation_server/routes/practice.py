"""The practice round (issue 15): before real work, a new annotator votes on
`[annotation] practice_clips` gold clips and sees after each vote whether it matched the
known answer, and that answer.

Practice votes are `practice_vote` rows: they count nowhere (not in agreement, labels or
gold accuracy). Who must practise: an annotator with no ordinary vote yet whose practice
round is not over; /annotate sends them here first (practice_redirect). Someone who
already voted before practice was switched on may still open /practice. Practice clips
are gold clips (dfew-build clips gold) drawn per person with a seeded key
(gold.practice_clip_ids); with fewer gold clips than asked the round is shorter, with none
there is no practice.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from annotation_server.deps import get_db, require_role
from annotation_server.limits import MAX_ID, ClipId
from annotation_server.rendering import render
from annotation_server.routes.guidelines import (SEEN_COOKIE, guidelines_html,
                                                 remember_guidelines_seen)
from annotation_server.security import csrf_protect
from dfew_build.annotation.assign import queue_order
from dfew_build.annotation.gold import practice_clip_ids, practice_state, record_practice
from dfew_build.db.models import PracticeVote, Vote
from dfew_build.emotions import BY_CODE
from dfew_build.errors import ConfigError, GoldError
from dfew_build.logins import Login

router = APIRouter(prefix="/practice", dependencies=[Depends(csrf_protect)])
annotator = require_role("annotator")

_lock = threading.Lock()


def _finished(request: Request) -> set[tuple[int, int]]:
    """(person id, N) of the people whose practice round is over (or who need none), per
    app: /annotate asks only until it is over, so the hot path pays nothing afterwards."""
    state = request.app.state
    with _lock:
        if not hasattr(state, "practice_finished"):
            state.practice_finished = set()
        return state.practice_finished


def practice_settings(settings) -> tuple[int, int]:
    """(practice clips N, seed) from dfew.toml: `[annotation] practice_clips` (default 0)
    and `[annotation] order_seed`. HTTPException 500 naming a bad value."""
    section = (settings.config or {}).get("annotation", {}) or {}
    n = section.get("practice_clips", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise HTTPException(500, f"The server is misconfigured: dfew.toml: "
                                 f"annotation.practice_clips = {n!r} should be 0 or more")
    try:
        seed = queue_order(settings.config or {}).seed
    except ConfigError as exc:
        raise HTTPException(500, f"The server is misconfigured: {exc}") from None
    return n, seed


def _must_practise(db, person_id: int, n: int, seed: int) -> bool:
    if db.scalar(select(Vote.id).where(Vote.annotator_id == person_id).limit(1)) is not None:
        return False
    return practice_state(db, person_id, n, seed)["next"] is not None


async def practice_redirect(request: Request, person: Login) -> RedirectResponse | None:
    """A redirect to /practice while the person must still practise, else None (and no
    database work once their round is over; never for an excluded annotator)."""
    n, seed = practice_settings(request.app.state.settings)
    if n <= 0 or person.excluded or (person.person_id, n) in _finished(request):
        return None
    if await get_db(request).run(_must_practise, person.person_id, n, seed):
        return RedirectResponse("/practice", status_code=303)
    _finished(request).add((person.person_id, n))
    return None


def may_watch(db, clip_id: int, person_id: int, settings) -> bool:
    """Whether the clip is one of the person's practice clips (so its video may be shown to
    them although it is not assigned). `db`: a Session or Connection."""
    if settings is None:
        return False
    n, seed = practice_settings(settings)
    return n > 0 and clip_id in practice_clip_ids(db, person_id, n, seed)


def _page(db, person_id: int, n: int, seed: int, after: int | None) -> dict:
    state = practice_state(db, person_id, n, seed)
    feedback = None
    if after is not None:
        row = db.execute(select(PracticeVote.emotion, PracticeVote.gold_emotion)
                         .where(PracticeVote.person_id == person_id,
                                PracticeVote.clip_id == after)).first()
        if row is not None:
            feedback = {"clip_id": after, "emotion": BY_CODE[row[0]],
                        "gold": BY_CODE[row[1]], "matched": row[0] == row[1]}
    return {**state, "feedback": feedback}


@router.get("")
async def practice_page(request: Request, after: int | None = Query(None, ge=1, le=MAX_ID),
                        person: Login = Depends(annotator)):
    n, seed = practice_settings(request.app.state.settings)
    if n <= 0:
        return RedirectResponse("/annotate", status_code=303)
    view = await get_db(request).run(_page, person.person_id, n, seed, after)
    if view["next"] is None:
        _finished(request).add((person.person_id, n))
        return render(request, "practice_done.html", view, person=person)
    # A new annotator's first page is this one: it shows the guidelines (once) as the
    # first annotate page would.
    first_time = not request.cookies.get(SEEN_COOKIE)
    response = render(request, "practice.html", {
        **view, "clip": {"id": view["next"]},
        "guidelines": guidelines_html(request) if first_time else None}, person=person)
    if first_time:
        remember_guidelines_seen(request, response)
    return response


def _vote(db, person_id: int, clip_id: int, emotion: int, n: int, seed: int):
    if clip_id not in practice_clip_ids(db, person_id, n, seed):
        return None
    return record_practice(db, person_id, clip_id, emotion)


@router.post("/clip/{clip_id}/vote")
async def practice_vote(clip_id: ClipId, request: Request, emotion: int = Form(...),
                        person: Login = Depends(annotator)):
    if emotion not in BY_CODE:
        raise HTTPException(422, f"Emotion {emotion} is not one of the seven (codes 1-7).")
    n, seed = practice_settings(request.app.state.settings)
    if n <= 0:
        raise HTTPException(404, "There is no practice round on this campaign.")
    try:
        done = await get_db(request).run(_vote, person.person_id, clip_id, emotion, n, seed,
                                         write=True)
    except GoldError as exc:
        raise HTTPException(403, str(exc)) from None
    if done is None:
        raise HTTPException(403, f"Clip {clip_id} is not one of your practice clips.")
    # POST-redirect-GET: the next practice page shows this vote's feedback.
    return RedirectResponse(f"/practice?after={clip_id}", status_code=303)
