"""Workspaces with people, cut clips and assignments for the annotation server's tests,
browser tests and benchmark. Clip files are real (tiny H.264 MP4s written with PyAV)."""

from __future__ import annotations

import hashlib
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dfew_build.annotation.assign import assign_clips
from dfew_build.db.models import Clip, Movie
from dfew_build.people import add_person
from dfew_build.workspace import init_workspace

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    workspace: object
    tokens: dict[str, str] = field(default_factory=dict)   # name -> login token
    ids: dict[str, int] = field(default_factory=dict)      # name -> person id
    clip_ids: list[int] = field(default_factory=list)
    movie_id: int | None = None


def tiny_video(folder: Path, frames: int = 24) -> Path:
    from tests.videos import write_video

    folder.mkdir(parents=True, exist_ok=True)
    return write_video(folder / "tiny.mp4", frames=frames, width=64, height=48, fps=12,
                       faststart=True)


def build_site(root: Path, *, annotators: int = 3, clips: int = 4, per_clip: int = 2,
               database_url: str | None = None, extractor: bool = True, admin: bool = True,
               video: Path | None = None, movie_duration_s: float = 60.0) -> Site:
    """A workspace with `annotators` annotators, `clips` cut clips of one movie, each
    assigned to `per_clip` of them, plus an extractor and an admin."""
    ws, _ = init_workspace(root, database_url)
    video = video or tiny_video(root / "media")
    site = Site(ws)
    with ws.session() as session:
        movie = Movie(path=str(video), sha256=hashlib.sha256(str(root).encode()).hexdigest(),
                      size_bytes=video.stat().st_size, duration_s=movie_duration_s, fps=12.0,
                      status="ok", title="Tiny movie")
        session.add(movie)
        session.flush()
        site.movie_id = movie.id
        names = [f"ann{i}" for i in range(1, annotators + 1)]
        roles = [(n, "annotator") for n in names]
        roles += [("extractor1", "extractor")] if extractor else []
        roles += [("admin1", "admin")] if admin else []
        for name, role in roles:
            person, token = add_person(session, name, role)
            site.tokens[name], site.ids[name] = token, person.id
        for i in range(clips):
            clip = Clip(movie_id=movie.id, start_s=2.0 * i, end_s=2.0 * i + 1.5, duration_s=1.5,
                        status="accepted", source="manual", intended_emotion=7,
                        extractor_id=site.ids.get("extractor1"))
            session.add(clip)
            session.flush()
            relpath = f"clips/{clip.id:05d}.mp4"
            shutil.copyfile(video, ws.root / relpath)
            clip.path = relpath
            site.clip_ids.append(clip.id)
        if annotators and clips:
            assign_clips(session, per_clip, seed=0)
    return site


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def make_client(site: Site, name: str | None = None):
    """A TestClient on the site's app, logged in as `name` (by their link) if given."""
    from fastapi.testclient import TestClient

    from annotation_server import Settings, create_app

    app = create_app(Settings.from_workspace(site.workspace, secret_key="test-secret"))
    client = TestClient(app, follow_redirects=False)
    if name is not None:
        response = client.get(f"/login/{site.tokens[name]}")
        assert response.status_code == 303, response.text
    return client


def page_csrf(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return csrf_of(response.text)


@contextmanager
def site_on(backend: str, tmp_path: Path, **options):
    """build_site on a throwaway SQLite or PostgreSQL database (tests/databases.py)."""
    from tests.databases import throwaway_url

    with throwaway_url(backend, tmp_path) as url:
        site = build_site(tmp_path / "ws", database_url=None if backend == "sqlite" else url,
                          **options)
        try:
            yield site
        finally:
            site.workspace.close()
