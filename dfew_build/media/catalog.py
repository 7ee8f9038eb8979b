"""Queries over ingested movies."""

from __future__ import annotations

from sqlalchemy import select

from dfew_build.db.models import Movie

COLUMNS = ("id", "status", "path", "title", "year", "genre", "country", "duration_s", "fps",
           "frame_count", "width", "height", "codec", "size_bytes", "sha256", "error")


def list_movies(workspace, status: str | None = None) -> list[dict]:
    query = select(Movie).order_by(Movie.id)
    if status:
        query = query.where(Movie.status == status)
    with workspace.session() as session:
        return [{c: getattr(m, c) for c in COLUMNS} for m in session.scalars(query)]
