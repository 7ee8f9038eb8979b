"""Videos by id only (no paths in URLs), with HTTP Range requests for seeking.

A clip goes to the annotators assigned to it, its extractor and admins; a movie to
extractors and admins. A movie is served as its H.264 proxy when it has one, else as its
own file unless a browser cannot play that (dfew_build.media.playback.playback_source).
"""

from __future__ import annotations

import mimetypes
import os
import re
from email.utils import formatdate
from pathlib import Path

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from sqlalchemy import text

from annotation_server.deps import current_person, get_db
from annotation_server.limits import ClipId, MovieId
from dfew_build.db.models import Movie
from dfew_build.logins import Login
from dfew_build.media.playback import playback_source

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


SMALL_RANGE = 2 * 1024 * 1024  # a single range up to this size is read in one go
_ONE_RANGE = re.compile(r"^bytes=([0-9]{1,18})-([0-9]{0,18})$")


def _read_range(path: Path, first: int, last: int | None):
    """(size, mtime, bytes first..last clamped) in one worker-thread call, or None when the
    file is missing."""
    try:
        with open(path, "rb") as handle:
            stat = os.fstat(handle.fileno())
            end = stat.st_size - 1 if last is None else min(last, stat.st_size - 1)
            data = os.pread(handle.fileno(), max(end - first + 1, 0), first) \
                if first < stat.st_size else b""
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    return stat.st_size, stat.st_mtime, data


async def _file_response(request: Request, path: Path, what: str) -> Response:
    missing = HTTPException(404, f"The video file of {what} is missing on the server; "
                                 "tell your admin.")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    header = request.headers.get("range")
    one = _ONE_RANGE.match(header.strip()) if header is not None and request.method == "GET" \
        else None
    if one is not None:
        first, last = int(one[1]), int(one[2]) if one[2] else None
        if last is None or last - first < SMALL_RANGE:
            # The video element's requests: one small range, read in one thread call
            # (FileResponse spends several on open, stat, read and close).
            got = await anyio.to_thread.run_sync(
                _read_range, path, first, None if last is None else max(last, first))
            if got is None:
                raise missing
            size, mtime, data = got
            if (last is not None and last < first) or first >= size:
                return PlainTextResponse("Requested range not satisfiable", status_code=416,
                                         headers={"Content-Range": f"bytes */{size}"})
            if last is None and size - first > SMALL_RANGE:
                pass  # an open-ended range over a large file: FileResponse streams it
            else:
                return Response(data, status_code=206, media_type=media_type, headers={
                    "Content-Range": f"bytes {first}-{first + len(data) - 1}/{size}",
                    "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600",
                    "Last-Modified": formatdate(mtime, usegmt=True)})
    if not path.is_file():
        raise missing
    size = path.stat().st_size
    if header is not None and bad_byte_ranges(header, size):
        return PlainTextResponse("Requested range not satisfiable", status_code=416,
                                 headers={"Content-Range": f"bytes */{size}"})
    # FileResponse answers valid Range requests with 206 and Content-Range.
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "private, max-age=3600"})


_CLIP_FILE = text(
    "SELECT c.path, c.extractor_id, c.retired_at IS NOT NULL, "
    "EXISTS (SELECT 1 FROM assignment a WHERE a.clip_id = c.id AND a.annotator_id = :p) "
    "FROM clip c WHERE c.id = :c")


def _clip_file(db, clip_id: int, person: Login, root: Path, settings=None):
    """The clip's file if the person may watch it (one prepared statement: every video
    request of the annotate page asks this)."""
    row = db.execute(_CLIP_FILE, {"c": clip_id, "p": person.person_id}).first()
    path, extractor_id, retired, assigned = row if row is not None else (None, None, False,
                                                                         False)
    allowed = (person.role == "admin" or (row is not None and extractor_id == person.person_id)
               or bool(assigned))
    if not allowed and row is not None and person.role == "annotator":
        from annotation_server.routes.practice import may_watch  # a practice (gold) clip

        allowed = may_watch(db, clip_id, person.person_id, settings)
    if not allowed:
        raise HTTPException(403, "This clip is not assigned to you.")
    if retired and person.role != "admin":
        # Retired clips leave every queue; only admins still review them.
        raise HTTPException(404, f"Clip {clip_id} was retired and is no longer annotated.")
    if not path:
        raise HTTPException(404, f"Clip {clip_id} has no video yet (it is not cut).")
    path = Path(path)
    return path if path.is_absolute() else root / path


@router.api_route("/clip/{clip_id}", methods=["GET", "HEAD"])
async def clip_video(clip_id: ClipId, request: Request,
                     person: Login = Depends(current_person)):
    settings = request.app.state.settings
    path = await get_db(request).read_now(_clip_file, clip_id, person,
                                          settings.workspace_root, settings)
    return await _file_response(request, path, f"clip {clip_id}")


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
    return await _file_response(request, path, what)
