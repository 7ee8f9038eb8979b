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
from sqlalchemy.orm import Session

from annotation_server.annotating import is_assigned
from annotation_server.deps import current_person, get_db
from dfew_build.db.models import Clip, Movie, Person
from dfew_build.media.proxy import playback_source

router = APIRouter(prefix="/media")
_BYTE_RANGE = re.compile(r"^(\d*)-(\d*)$")


def bad_byte_ranges(header: str, size: int) -> bool:
    """True when a `bytes=` Range header is invalid or unsatisfiable (RFC 9110 §14.1.2):
    a spec that is not first-last, first-, or -suffix; last before first; an empty suffix;
    or a first byte past the end of the file."""
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return False  # another unit: FileResponse refuses it on its own
    for spec in specs.split(","):
        match = _BYTE_RANGE.match(spec.strip())
        if not match or match.groups() == ("", ""):
            return True
        first, last = match.groups()
        if first and (int(first) >= size or (last and int(last) < int(first))):
            return True
        if not first and int(last) == 0:
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


@router.api_route("/clip/{clip_id}", methods=["GET", "HEAD"])
def clip_video(clip_id: int, request: Request, db: Session = Depends(get_db),
               person: Person = Depends(current_person)):
    clip = db.get(Clip, clip_id)
    allowed = (person.role == "admin"
               or (clip is not None and clip.extractor_id == person.id)
               or is_assigned(db, clip_id, person.id))
    if not allowed:
        raise HTTPException(403, "This clip is not assigned to you.")
    if clip is not None and clip.retired_at is not None and person.role != "admin":
        # Retired clips leave every queue; only admins still review them.
        raise HTTPException(404, f"Clip {clip_id} was retired and is no longer annotated.")
    if clip is None or not clip.path:
        raise HTTPException(404, f"Clip {clip_id} has no video yet (it is not cut).")
    path = Path(clip.path)
    if not path.is_absolute():
        path = request.app.state.settings.workspace_root / path
    return _file_response(request, path, f"clip {clip_id}")


@router.api_route("/movie/{movie_id}", methods=["GET", "HEAD"])
def movie_video(movie_id: int, request: Request, db: Session = Depends(get_db),
                person: Person = Depends(current_person)):
    if person.role not in ("extractor", "admin"):
        raise HTTPException(403, "Movies are for extractors and admins.")
    movie = db.get(Movie, movie_id)
    if movie is None or movie.status != "ok":
        raise HTTPException(404, f"No playable movie {movie_id}.")
    source = playback_source(movie, request.app.state.settings.workspace_root)
    if source.path is None:
        raise HTTPException(404, source.message)
    what = f"movie {movie_id}" + (" (its playable copy)" if source.kind == "proxy" else "")
    return _file_response(request, source.path, what)
