"""The floor for benchmarks/server_load.py: the least a web server can do for the same
protocol on the same SQLite database, to compare dfew-build serve with.

A bare Starlette app (no FastAPI, no middleware, no templates): GET /login/TOKEN looks the
person up by the token's SHA-256 and keeps the session in memory; GET /annotate answers the
lowest unvoted assigned clip in a few bytes of HTML with a CSRF field; GET /media/clip/ID is
a FileResponse (Range requests); POST /annotate/clip/ID/vote checks the CSRF field and does
the same atomic upsert as the real server, then 303. One SQLite connection (WAL), used
directly from the event loop: nothing is faster in Python.

    DFEW_FLOOR_DB=ws/dfew.sqlite DFEW_FLOOR_ROOT=ws uvicorn benchmarks.floor_app:app
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

ROOT = Path(os.environ.get("DFEW_FLOOR_ROOT", "."))
connection = sqlite3.connect(os.environ.get("DFEW_FLOOR_DB", "dfew.sqlite"),
                             isolation_level=None, check_same_thread=False)
connection.execute("PRAGMA journal_mode=WAL")
connection.execute("PRAGMA synchronous=NORMAL")
connection.execute("PRAGMA busy_timeout=3000")
sessions: dict[str, tuple[int, str]] = {}  # cookie -> (person id, csrf token)
NEXT = ("SELECT a.clip_id FROM assignment a LEFT JOIN vote v ON v.clip_id = a.clip_id AND "
        "v.annotator_id = a.annotator_id WHERE a.annotator_id = ? AND v.id IS NULL "
        "ORDER BY a.clip_id LIMIT 1")
UPSERT = ("INSERT INTO vote (clip_id, annotator_id, emotion, created_at, updated_at) "
          "VALUES (?, ?, ?, ?, ?) ON CONFLICT (clip_id, annotator_id) DO UPDATE SET "
          "emotion = excluded.emotion, updated_at = excluded.updated_at")


def _session(request):
    return sessions.get(request.cookies.get("floor", ""))


async def login(request):
    token_hash = hashlib.sha256(request.path_params["token"].encode()).hexdigest()
    row = connection.execute("SELECT id FROM person WHERE token_hash = ?",
                             (token_hash,)).fetchone()
    if row is None:
        return Response("bad link", 403)
    cookie = secrets.token_urlsafe(32)
    sessions[cookie] = (row[0], secrets.token_urlsafe(32))
    response = RedirectResponse("/annotate", 303)
    response.set_cookie("floor", cookie, httponly=True, samesite="lax")
    return response


async def annotate(request):
    found = _session(request)
    if found is None:
        return RedirectResponse("/login", 303)
    row = connection.execute(NEXT, (found[0],)).fetchone()
    if row is None:
        return HTMLResponse("<p>All done</p>")
    return HTMLResponse(f'<video data-clip="{row[0]}" src="/media/clip/{row[0]}"></video>'
                        f'<form method="post"><input type="hidden" name="csrf_token" '
                        f'value="{found[1]}"></form>')


async def media(request):
    if _session(request) is None:
        return Response("log in", 401)
    row = connection.execute("SELECT path FROM clip WHERE id = ?",
                             (int(request.path_params["clip_id"]),)).fetchone()
    if row is None or row[0] is None:
        return Response("no clip", 404)
    return FileResponse(ROOT / row[0], media_type="video/mp4")


async def vote(request):
    found = _session(request)
    form = await request.form()
    if found is None or form.get("csrf_token") != found[1]:
        return Response("forbidden", 403)
    now = datetime.now(timezone.utc).isoformat(sep=" ")
    try:
        connection.execute(UPSERT, (int(request.path_params["clip_id"]), found[0],
                                    int(form["emotion"]), now, now))
    except sqlite3.IntegrityError:
        return Response("not assigned", 403)
    return RedirectResponse("/annotate", 303)


app = Starlette(routes=[
    Route("/login/{token}", login), Route("/annotate", annotate),
    Route("/media/clip/{clip_id:int}", media, methods=["GET", "HEAD"]),
    Route("/annotate/clip/{clip_id:int}/vote", vote, methods=["POST"]),
])
