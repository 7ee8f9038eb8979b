"""The extractor page: play a movie, mark in/out, choose the intended emotion, save; confirm
or reject proposed candidates; own clips and the rare-emotion bonus.

Clip rules and their messages are the clips module's (dfew_build.clips.add_clip).
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from annotation_server.deps import flash, get_db, require_role
from annotation_server.extracting import bonus_tally, movie_clips, movies_overview, own_clips
from annotation_server.rendering import render
from annotation_server.security import csrf_protect
from dfew_build.clips import add_clip, confirm_clips, format_time, parse_time, reject_clips
from dfew_build.clips.library import DuplicateClipError
from dfew_build.db.models import Clip, Movie, Person
from dfew_build.errors import ClipError
from dfew_build.media.proxy import playback_source

router = APIRouter(prefix="/extract", dependencies=[Depends(csrf_protect)])
extractor = require_role("extractor")


def _settings(request: Request):
    return request.app.state.settings


def _movie_or_404(db: Session, movie_id: int) -> Movie:
    movie = db.get(Movie, movie_id)
    if movie is None or movie.status != "ok":
        raise HTTPException(404, f"No playable movie {movie_id}.")
    return movie


@router.get("")
def index(request: Request, db: Session = Depends(get_db),
          person: Person = Depends(extractor)):
    return render(request, "extract_index.html", {
        "movies": movies_overview(db, person), "clips": own_clips(db, person),
        "tally": bonus_tally(db, person, _settings(request).config)}, person=person)


def _movie_page(request, db, person, movie, *, form=None, error=None, status_code=200):
    # The player plays the proxy, or the movie's own file; when neither can play, the page
    # says so instead of showing a black player.
    source = playback_source(movie, _settings(request).workspace_root)
    return render(request, "extract_movie.html", {
        "movie": {"id": movie.id, "title": movie.title or os.path.basename(movie.path),
                  "duration": format_time(movie.duration_s or 0), "fps": movie.fps,
                  "playable": source.path is not None, "unplayable": source.problem,
                  "fix": source.fix},
        "accepted": movie_clips(db, movie.id, "accepted"),
        "candidates": movie_clips(db, movie.id, "candidate"),
        "form": form or {}, "error": error}, person=person, status_code=status_code)


@router.get("/movie/{movie_id}")
def movie_page(movie_id: int, request: Request, db: Session = Depends(get_db),
               person: Person = Depends(extractor)):
    return _movie_page(request, db, person, _movie_or_404(db, movie_id))


@router.post("/movie/{movie_id}/clips")
def save_clip(movie_id: int, request: Request, start: str = Form(""), end: str = Form(""),
              emotion: str = Form(""), allow_overlap: bool = Form(False),
              db: Session = Depends(get_db), person: Person = Depends(extractor)):
    movie = _movie_or_404(db, movie_id)
    form = {"start": start, "end": end, "emotion": emotion, "allow_overlap": allow_overlap}
    try:
        start_s = _time(start, "in point", movie)
        end_s = _time(end, "out point", movie)
        clip = add_clip(db, _settings(request).config, movie=movie, start_s=start_s,
                        end_s=end_s, extractor=person, intended_emotion=emotion or None,
                        allow_overlap=allow_overlap, source="manual")
        db.commit()
    except DuplicateClipError as exc:
        db.rollback()
        flash(request, f"{exc}; nothing new saved.", "error")
        return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)
    except ClipError as exc:
        db.rollback()
        return _movie_page(request, db, person, movie, form=form,
                           error=f"Not saved: {exc}", status_code=422)
    flash(request, f"Saved clip {clip.id} ({format_time(clip.start_s)}-"
                   f"{format_time(clip.end_s)}). It is annotated once cut and assigned.")
    return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)


def _time(value: str, what: str, movie: Movie) -> float:
    try:
        return parse_time(value, movie.fps)
    except ValueError as exc:
        raise ClipError(f"the {what} {exc}" if str(exc) == "is empty"
                        else f"the {what}: {exc}") from None


@router.post("/movie/{movie_id}/candidates")
def candidates(movie_id: int, request: Request, action: str = Form(...),
               ids: list[int] = Form(default_factory=list), db: Session = Depends(get_db),
               person: Person = Depends(extractor)):
    _movie_or_404(db, movie_id)
    if action not in ("confirm", "reject"):
        raise HTTPException(422, f"Unknown action {action!r}: confirm or reject.")
    if not ids:
        flash(request, "Tick at least one candidate first.", "error")
        return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)
    # Only this movie's candidates: ids of other movies' clips are ignored, not acted on.
    own_movie = set(db.scalars(select(Clip.id).where(Clip.movie_id == movie_id,
                                                     Clip.id.in_(ids))))
    chosen = [i for i in ids if i in own_movie]
    if action == "confirm":
        outcome = confirm_clips(db, _settings(request).config, chosen, extractor=person)
    else:
        outcome = reject_clips(db, chosen)
    db.commit()
    verb = "confirmed" if action == "confirm" else "rejected"
    if outcome.done:
        flash(request, f"{verb} {len(outcome.done)} clip(s): "
                       f"{', '.join(map(str, outcome.done))}")
    for clip_id, reason in outcome.refused.items():
        flash(request, f"clip {clip_id} not {verb}: {reason}", "error")
    return RedirectResponse(f"/extract/movie/{movie_id}", status_code=303)
