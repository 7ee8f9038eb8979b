"""The extractor page: play a movie, mark in/out, choose the intended emotion, save; confirm
or reject proposed candidates; own clips and the rare-emotion bonus.

Clip rules and their messages are the clips module's (dfew_build.clips.add_clip). Every
change is checked against the database as it is now, not against what the page showed: an
extractor confirms or rejects only clips that are candidates of this movie at that moment
(a clip an admin rejected, accepted clips and other movies' clips are refused by id).
"""

from __future__ import annotations

import math
import os

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import select

from annotation_server.deps import flash, get_db, require_role
from annotation_server.extracting import (bonus_tally, clip_row, movie_clips, movies_overview,
                                          own_clips)
from annotation_server.limits import FormId, MovieId, Text
from annotation_server.rendering import render
from annotation_server.security import csrf_protect
from dfew_build.clips import add_clip, confirm_clips, format_time, parse_time, reject_clips
from dfew_build.clips.library import DuplicateClipError
from dfew_build.db.models import Clip, Movie, Person
from dfew_build.errors import ClipError
from dfew_build.logins import Login
from dfew_build.media.playback import playback_source

router = APIRouter(prefix="/extract", dependencies=[Depends(csrf_protect)])
extractor = require_role("extractor")
MAX_IDS = 2000
NOT_CANDIDATE = ("not a candidate of this movie now (it may have been confirmed, rejected or "
                 "retired meanwhile); reload the page")


def _settings(request: Request):
    return request.app.state.settings


class NoMovie(Exception):
    pass


def _movie(db, movie_id: int) -> Movie:
    movie = db.get(Movie, movie_id)
    if movie is None or movie.status != "ok":
        raise NoMovie(movie_id)
    return movie


def _index(db, person_id: int, config: dict, root):
    person = db.get(Person, person_id)
    movies = movies_overview(db, person, root)
    titles = {m["id"]: m["title"] for m in movies}
    clips = own_clips(db, person)
    for clip in clips:  # "My clips" names the movie, not its id
        clip["movie_title"] = titles.get(clip["movie_id"])
    return {"movies": movies, "clips": clips, "tally": bonus_tally(db, person, config)}


def in_form_words(message: str) -> str:
    """The clips module speaks to the CLI; this page has a checkbox for the same thing."""
    return message.replace("use --allow-overlap", "tick Allow overlap")


@router.get("")
async def index(request: Request, person: Login = Depends(extractor)):
    settings = _settings(request)
    view = await get_db(request).run(_index, person.person_id, settings.config,
                                     settings.workspace_root)
    return render(request, "extract_index.html", view, person=person)


def _title(movie: Movie) -> str:
    return movie.title or os.path.basename(movie.path)


def _movie_view(db, movie_id: int, root):
    movie = _movie(db, movie_id)
    # The player plays the proxy, or the movie's own file; when neither can play, the page
    # says so instead of showing a black player.
    source = playback_source(movie, root)
    accepted = [{**row, "movie_title": _title(movie)}
                for row in movie_clips(db, movie.id, "accepted")]
    return {"movie": {"id": movie.id, "title": _title(movie),
                      "duration": format_time(movie.duration_s or 0), "fps": movie.fps,
                      "playable": source.path is not None, "unplayable": source.problem,
                      "fix": source.fix},
            "accepted": accepted,
            "candidates": movie_clips(db, movie.id, "candidate")}


async def _movie_page(request, person, movie_id, *, form=None, error=None, status_code=200):
    try:
        view = await get_db(request).run(_movie_view, movie_id,
                                         _settings(request).workspace_root)
    except NoMovie:
        raise HTTPException(404, f"No playable movie {movie_id}.") from None
    return render(request, "extract_movie.html", {**view, "form": form or {}, "error": error},
                  person=person, status_code=status_code)


@router.get("/movie/{movie_id}")
async def movie_page(movie_id: MovieId, request: Request, person: Login = Depends(extractor)):
    return await _movie_page(request, person, movie_id)


def _time(value: str, what: str, movie: Movie) -> float:
    try:
        seconds = parse_time(value, movie.fps)
    except (ValueError, OverflowError) as exc:
        raise ClipError(f"the {what} {exc}" if str(exc) == "is empty"
                        else f"the {what}: {exc}") from None
    if not math.isfinite(seconds) or abs(seconds) > 10**7:
        raise ClipError(f"the {what}: {value[:40]!r} is not a time within a movie")
    return seconds


def _save(db, movie_id, person_id, config, start, end, emotion, allow_overlap):
    movie = _movie(db, movie_id)
    try:
        start_s = _time(start, "in point", movie)
        end_s = _time(end, "out point", movie)
        clip = add_clip(db, config, movie=movie, start_s=start_s, end_s=end_s,
                        extractor=db.get(Person, person_id), intended_emotion=emotion or None,
                        allow_overlap=allow_overlap, source="manual")
    except DuplicateClipError as exc:
        db.rollback()
        return "duplicate", str(exc)
    except ClipError as exc:
        db.rollback()
        return "refused", in_form_words(str(exc))
    # The row the page adds to "Clips on this movie" (a save in place does not reload it).
    row = {**clip_row(clip), "movie_title": _title(movie)}
    return "saved", (clip.id, clip.start_s, clip.end_s, row)


@router.post("/movie/{movie_id}/clips")
async def save_clip(movie_id: MovieId, request: Request,
                    start: Text = Form("", max_length=400),
                    end: Text = Form("", max_length=400),
                    emotion: Text = Form("", max_length=20), allow_overlap: bool = Form(False),
                    person: Login = Depends(extractor)):
    form = {"start": start, "end": end, "emotion": emotion, "allow_overlap": allow_overlap}
    try:
        outcome, detail = await get_db(request).run(
            _save, movie_id, person.person_id, _settings(request).config, start, end, emotion,
            allow_overlap, write=True)
    except NoMovie:
        raise HTTPException(404, f"No playable movie {movie_id}.") from None
    if request.headers.get("accept", "").startswith("application/json"):
        # static/extract.js: answered in place, so the player keeps its position.
        if outcome == "saved":
            clip_id, start_s, end_s, row = detail
            return JSONResponse({"saved": True, "clip": clip_id, "row": row, "message": (
                f"Saved clip {clip_id} ({format_time(start_s)}-{format_time(end_s)}). "
                "It is annotated once cut and assigned.")})
        message = f"{detail}; nothing new saved." if outcome == "duplicate" \
            else f"Not saved: {detail}"
        return JSONResponse({"saved": False, "error": message}, status_code=422)
    if outcome == "duplicate":
        flash(request, f"{detail}; nothing new saved.", "error")
        return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)
    if outcome == "refused":
        return await _movie_page(request, person, movie_id, form=form,
                                 error=f"Not saved: {detail}", status_code=422)
    clip_id, start_s, end_s, _row = detail
    flash(request, f"Saved clip {clip_id} ({format_time(start_s)}-{format_time(end_s)}). "
                   "It is annotated once cut and assigned.")
    return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)


def _decide(db, movie_id, person_id, config, action, ids):
    _movie(db, movie_id)
    # Only what is a candidate of this movie now: ids of other movies' clips, of accepted
    # clips, and of clips rejected meanwhile (by an admin's `clips reject`, say) are refused
    # by id, never acted on.
    open_now = set(db.scalars(select(Clip.id).where(Clip.movie_id == movie_id,
                                                    Clip.status == "candidate",
                                                    Clip.retired_at.is_(None),
                                                    Clip.id.in_(ids))))
    chosen = [i for i in ids if i in open_now]
    refused = {i: NOT_CANDIDATE for i in ids if i not in open_now}
    if action == "confirm":
        outcome = confirm_clips(db, config, chosen, extractor=db.get(Person, person_id))
    else:
        outcome = reject_clips(db, chosen)
    return outcome.done, {**refused, **outcome.refused}


@router.post("/movie/{movie_id}/candidates")
async def candidates(movie_id: MovieId, request: Request, action: str = Form(..., max_length=20),
                     ids: list[FormId] = Form(default_factory=list, max_length=MAX_IDS),
                     person: Login = Depends(extractor)):
    if action not in ("confirm", "reject"):
        raise HTTPException(422, f"Unknown action {action!r}: confirm or reject.")
    if not ids:
        flash(request, "Tick at least one candidate first.", "error")
        return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)
    ids = list(dict.fromkeys(ids))
    try:
        done, refused = await get_db(request).run(
            _decide, movie_id, person.person_id, _settings(request).config, action, ids,
            write=True)
    except NoMovie:
        raise HTTPException(404, f"No playable movie {movie_id}.") from None
    verb = "confirmed" if action == "confirm" else "rejected"
    if done:
        flash(request, f"{verb} {len(done)} clip(s): {', '.join(map(str, done))}")
    for clip_id, reason in refused.items():
        flash(request, f"clip {clip_id} not {verb}: {reason}", "error")
    return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)
