"""Videos by id only (no paths in URLs), with HTTP Range requests for seeking.

A clip goes to the annotators assigned to it, its extractor and admins; a movie to
extractors and admins. A movie is served as its H.264 proxy when it has one, else as its
own file unless a browser cannot play that (dfew_build.media.proxy.playback_source).
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from annotation_server.annotating import is_assigned
from annotation_server.deps import current_person, get_db
from annotation_server.limits import ClipId, MovieId
from dfew_build.db.models import Clip, Movie
from dfew_build.logins import Login
from dfew_build.media.proxy import playback_source

router = APIRouter(prefix="/media")
_BYTE_RANGE = re.compile(r"^([0-9]*)-([0-9]*)$")
MAX_RANGE_HEADER = 1000
_HUGE = 10**18  # past the end of any file


def _offset(digits: str) -> int:
    """A byte position of a Range header; a number longer than 18 digits is past any end
    (and is never given to int(), which refuses 4,300 digits and more)."""
    return int(digits) if len(digits) <= 18 else _HUGE


def bad_byte_ranges(header: str, size: int) -> bool:
    """True when a `bytes=` Range header is invalid or unsatisfiable (RFC 9110 §14.1.2):
    a spec that is not first-last, first-, or -suffix; last before first; an empty suffix;
    or a first byte past the end of the file."""
    if len(header) > MAX_RANGE_HEADER:
        return True
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return False  # another unit: FileResponse refuses it on its own
    for spec in specs.split(","):
        match = _BYTE_RANGE.match(spec.strip())
        if not match or match.groups() == ("", ""):
            return True
        first, last = match.groups()
        if first and (_offset(first) >= size or (last and _offset(last) < _offset(first))):
            return True
        if not first and _offset(last) == 0:
            return True
    return False


def _file_response(request: Request, path: Path, what: str) -> Response:
    if not path.is_file():
        raise HTTPException(404, f"The video file of {what} is missing on the server; "
                                 "tell your admin.")
    size = path.stat().st_size
    header = request.headers.get("range")
    if header is not None and bad_byte_ranges(header, size):
        return PlainTextResponse("Requested range not satisfiable", status_code=416,
                                 headers={"Content-Range": f"bytes */{size}"})
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # FileResponse answers valid Range requests with 206 and Content-Range.
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "private, max-age=3600"})


def _clip_file(db, clip_id: int, person: Login, root: Path):
    clip = db.get(Clip, clip_id)
    allowed = (person.role == "admin"
               or (clip is not None and clip.extractor_id == person.person_id)
               or is_assigned(db, clip_id, person.person_id))
    if not allowed:
        raise HTTPException(403, "This clip is not assigned to you.")
    if clip is not None and clip.retired_at is not None and person.role != "admin":
        # Retired clips leave every queue; only admins still review them.
        raise HTTPException(404, f"Clip {clip_id} was retired and is no longer annotated.")
    if clip is None or not clip.path:
        raise HTTPException(404, f"Clip {clip_id} has no video yet (it is not cut).")
    path = Path(clip.path)
    return path if path.is_absolute() else root / path


@router.api_route("/clip/{clip_id}", methods=["GET", "HEAD"])
async def clip_video(clip_id: ClipId, request: Request,
                     person: Login = Depends(current_person)):
    path = await get_db(request).run(_clip_file, clip_id, person,
                                     request.app.state.settings.workspace_root)
    return _file_response(request, path, f"clip {clip_id}")


def _movie_file(db, movie_id: int, root: Path):
    movie = db.get(Movie, movie_id)
    if movie is None or movie.status != "ok":
        raise HTTPException(404, f"No playable movie {movie_id}.")
    source = playback_source(movie, root)
    if source.path is None:
        raise HTTPException(404, source.message)
    return source.path, source.kind


@router.api_route("/movie/{movie_id}", methods=["GET", "HEAD"])
async def movie_video(movie_id: MovieId, request: Request,
                      person: Login = Depends(current_person)):
    if person.role not in ("extractor", "admin"):
        raise HTTPException(403, "Movies are for extractors and admins.")
    path, kind = await get_db(request).run(_movie_file, movie_id,
                                           request.app.state.settings.workspace_root)
    what = f"movie {movie_id}" + (" (its playable copy)" if kind == "proxy" else "")
    return _file_response(request, path, what)
