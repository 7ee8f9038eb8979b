"""The movie or clip a user names: an id, a file name or a path (Unicode-normalised), with
ClipError naming what was not found and how to fix it."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.db.models import Clip, Movie
from dfew_build.errors import ClipError


def movie_label(movie: Movie) -> str:
    return f"movie {movie.id} ({os.path.basename(movie.path)})"


def resolve_movie(session: Session, ref: Movie | int | str, base_dir: Path | None = None,
                  *, require_ok: bool = True) -> Movie:
    """A movie from its id, file name or path (relative paths are taken from base_dir).

    Names and paths are compared after Unicode NFC normalisation, so `Amélie.mp4` typed
    (composed é) finds a file stored under its decomposed macOS name and the reverse; the
    stored path stays as it was found on disk.
    require_ok: refuse a movie that was rejected at ingest (clips need a readable one)."""
    if isinstance(ref, Movie):
        movie = ref
    else:
        text = _nfc(str(ref).strip())
        if not text:
            raise ClipError("the movie is empty: give a movie id, file name or path")
        movie = None
        if text.isdigit():
            movie = session.get(Movie, int(text))
        if movie is None and ("/" in text or os.sep in text):
            path = Path(text).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            movie = _movie_by_path(session, str(path.resolve(strict=False)))
        if movie is None:
            name = os.path.basename(text)
            matches = _movies_by_file_name(session, name)
            if len(matches) > 1:
                ids = ", ".join(str(m.id) for m in matches)
                raise ClipError(f"movie {text!r} matches {len(matches)} movies (ids {ids}); "
                                "give the movie id or path instead")
            movie = matches[0] if matches else None
        if movie is None:
            raise ClipError(f"unknown movie {text!r}: no ingested movie has that id, file name "
                            "or path; ingest it first with: dfew-build ingest PATH")
    if require_ok and movie.status != "ok":
        raise ClipError(f"{movie_label(movie)} was rejected at ingest ({movie.error}); "
                        "clips need a readable movie")
    return movie


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _movie_by_path(session: Session, path: str) -> Movie | None:
    """The movie stored at this path in any Unicode normalisation (NFC or NFD as stored)."""
    path = _nfc(path)
    variants = sorted({path, unicodedata.normalize("NFD", path)})
    matches = list(session.scalars(select(Movie).where(Movie.path.in_(variants))
                                   .order_by(Movie.id)))
    return matches[0] if matches else None


def _movies_by_file_name(session: Session, name: str) -> list[Movie]:
    """Movies whose file name equals name after NFC normalisation.

    The SQL filter uses only the name's ASCII tail (everything after its last non-ASCII
    character, e.g. "lie (2001).mp4"), which every normalisation form of the name ends with;
    the exact comparison is made here."""
    name = _nfc(name)
    tail = name
    for i in range(len(name) - 1, -1, -1):
        if ord(name[i]) > 127:
            tail = name[i + 1:]
            break
    query = select(Movie).order_by(Movie.id)
    if tail:
        query = query.where(Movie.path.like(f"%{tail}"))
    return [m for m in session.scalars(query) if _nfc(os.path.basename(m.path)) == name]


def get_clip(session: Session, clip_id: int) -> Clip:
    clip = session.get(Clip, int(clip_id))
    if clip is None:
        raise ClipError(f"no clip {clip_id}; see dfew-build clips list")
    return clip
