"""Queries over ingested movies."""

from __future__ import annotations

from sqlalchemy import select

from dfew_build.db.models import Movie

COLUMNS = ("id", "status", "path", "title", "year", "genre", "country", "duration_s", "fps",
           "frame_count", "width", "height", "codec", "size_bytes", "sha256", "error",
           "coded_width", "coded_height", "rotation", "sar", "interlaced", "field_order",
           "start_s", "video_delay_s", "container", "browser_playable", "proxy_path")


def display_notes(movie: dict) -> list[str]:
    """Short remarks on how a movie is decoded for display (the `movies list` note column):
    rotation, non-square pixels, interlacing, a timeline that does not start at 0, and
    browser playability."""
    notes = []
    if movie.get("rotation"):
        notes.append(f"rotated {movie['rotation']}° (coded {movie['coded_width']}x"
                     f"{movie['coded_height']})")
    if movie.get("sar") and movie["sar"] != "1:1":
        notes.append(f"SAR {movie['sar']} (coded {movie['coded_width']}x{movie['coded_height']})")
    if movie.get("interlaced"):
        notes.append(f"interlaced {movie.get('field_order') or ''}, deinterlaced (bwdif)".replace(
            "  ", " "))
    if movie.get("start_s"):
        notes.append(f"starts at {movie['start_s']:.3f} s (shifted to 0)")
    if movie.get("browser_playable") is False:
        notes.append("proxy" if movie.get("proxy_path") else
                     "not browser-playable (dfew-build movies proxy)")
    return notes


def list_movies(workspace, status: str | None = None) -> list[dict]:
    query = select(Movie).order_by(Movie.id)
    if status:
        query = query.where(Movie.status == status)
    with workspace.session() as session:
        return [{c: getattr(m, c) for c in COLUMNS} for m in session.scalars(query)]
