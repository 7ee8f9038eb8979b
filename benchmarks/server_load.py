"""Annotation server under load: N simulated annotators against a real uvicorn server on
SQLite (WAL). Prints JSON. Not a test: numbers depend on the machine.

    python benchmarks/server_load.py [--annotators 12] [--clips 60] [--per-clip 10]
                                     [--double-click 0.2] [--seconds 120] [--keep DIR]

Each annotator logs in by link, then loops: GET /annotate (the next-clip page), a Range
request for the first 64 KiB of the clip (what the video element does), POST the vote
(some of them twice at once, as a double click does), follow the redirect. Reported:
votes/s, p50/p95 latency of the vote POST, the next-clip page and the video request, and
the integrity check: every vote a client made is stored exactly once with its emotion
(lost and duplicated votes must both be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CLIP = re.compile(r'data-clip="(\d+)"')


def build_workspace(root: Path, annotators: int, clips: int, per_clip: int) -> dict[str, str]:
    from dfew_build.annotation.assign import assign_clips
    from dfew_build.db.models import Clip, Movie
    from dfew_build.people import add_person
    from dfew_build.workspace import init_workspace

    ws, _ = init_workspace(root)
    video = ws.clips_dir / "shared.mp4"  # the server does not decode; any bytes will do
    video.write_bytes(os.urandom(512 * 1024))
    tokens = {}
    with ws.session() as session:
        movie = Movie(path=str(video), sha256="b" * 64, size_bytes=video.stat().st_size,
                      duration_s=3600.0, status="ok")
        session.add(movie)
        session.flush()
        for i in range(1, annotators + 1):
            _, tokens[f"annotator-{i:02d}"] = add_person(session, f"annotator-{i:02d}",
                                                         "annotator")
        session.add_all(Clip(movie_id=movie.id, start_s=3.0 * i, end_s=3.0 * i + 2,
                             duration_s=2.0, path="clips/shared.mp4", status="accepted")
                        for i in range(clips))
        session.flush()
        assign_clips(session, per_clip, seed=0)
    ws.close()
    return tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(root: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "DFEW_SERVE_WORKSPACE": str(root), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "annotation_server.run:app_from_environment",
         "--factory", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
         "--log-level", "warning"], env=env, cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with {process.returncode}")
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start within 60 s")


async def annotator(base: str, token: str, rng: random.Random, double_click: float,
                    deadline: float, stats: dict, made: dict) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=60) as client:
        response = await client.get(f"/login/{token}")
        assert response.status_code == 303, response.status_code
        while time.monotonic() < deadline:
            start = time.perf_counter()
            page = await client.get("/annotate")
            stats["page"].append(time.perf_counter() - start)
            found = CLIP.search(page.text)
            if page.status_code != 200:
                stats["errors"].append(f"GET /annotate {page.status_code}")
                return
            if not found:  # the done page: this annotator has finished
                return
            clip_id, csrf = int(found.group(1)), CSRF.search(page.text).group(1)
            start = time.perf_counter()
            video = await client.get(f"/media/clip/{clip_id}", headers={"Range": "bytes=0-65535"})
            stats["media"].append(time.perf_counter() - start)
            if video.status_code != 206:
                stats["errors"].append(f"GET media {video.status_code}")
            emotion = rng.randint(1, 7)
            clicks = 2 if rng.random() < double_click else 1
            start = time.perf_counter()
            answers = await asyncio.gather(*(
                client.post(f"/annotate/clip/{clip_id}/vote",
                            data={"emotion": str(emotion), "csrf_token": csrf})
                for _ in range(clicks)))
            stats["vote"].append(time.perf_counter() - start)
            stats["double_clicks"] += clicks - 1
            for answer in answers:
                if answer.status_code != 303:
                    stats["errors"].append(f"POST vote {answer.status_code}")
            made[(token, clip_id)] = emotion


async def run_clients(base: str, tokens: dict[str, str], double_click: float,
                      seconds: float) -> tuple[dict, dict, float]:
    stats = {"page": [], "media": [], "vote": [], "errors": [], "double_clicks": 0}
    made: dict = {}
    deadline = time.monotonic() + seconds
    start = time.perf_counter()
    await asyncio.gather(*(annotator(base, token, random.Random(i), double_click, deadline,
                                     stats, made)
                           for i, token in enumerate(tokens.values())))
    return stats, made, time.perf_counter() - start


def check_integrity(root: Path, tokens: dict[str, str], made: dict) -> dict:
    from sqlalchemy import func, select

    from dfew_build.db.models import Person, Vote
    from dfew_build.workspace import open_workspace

    ws = open_workspace(root)
    names = {token: name for name, token in tokens.items()}
    with ws.session() as session:
        stored = {(name, clip): emotion for name, clip, emotion in session.execute(
            select(Person.name, Vote.clip_id, Vote.emotion)
            .join(Person, Person.id == Vote.annotator_id))}
        duplicates = session.scalar(select(func.count()).select_from(
            select(Vote.clip_id, Vote.annotator_id).group_by(Vote.clip_id, Vote.annotator_id)
            .having(func.count() > 1).subquery()))
    ws.close()
    expected = {(names[token], clip): emotion for (token, clip), emotion in made.items()}
    lost = [key for key in expected if key not in stored]
    wrong = [key for key, emotion in expected.items() if stored.get(key, emotion) != emotion]
    unexpected = [key for key in stored if key not in expected]
    return {"votes_made": len(expected), "votes_stored": len(stored), "lost": len(lost),
            "duplicated": int(duplicates or 0), "wrong_emotion": len(wrong),
            "unexpected": len(unexpected)}


def percentiles(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0}
    ms = np.asarray(samples) * 1000
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "max_ms": round(float(ms.max()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=12)
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--per-clip", type=int, default=10)
    parser.add_argument("--double-click", type=float, default=0.2,
                        help="fraction of votes sent twice at once")
    parser.add_argument("--seconds", type=float, default=120, help="stop after this long")
    parser.add_argument("--keep", type=Path, help="build the workspace here and keep it")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="dfew-server-load-"))
    tokens = build_workspace(root / "ws", args.annotators, args.clips, args.per_clip)
    port = free_port()
    server = start_server(root / "ws", port)
    try:
        stats, made, wall = asyncio.run(run_clients(f"http://127.0.0.1:{port}", tokens,
                                                    args.double_click, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
    integrity = check_integrity(root / "ws", tokens, made)
    result = {
        "database": "sqlite (WAL)", "server": "uvicorn, 1 worker",
        "annotators": args.annotators, "clips": args.clips, "per_clip": args.per_clip,
        "wall_s": round(wall, 2), "votes_per_s": round(integrity["votes_stored"] / wall, 1),
        "double_clicks": stats["double_clicks"], "errors": len(stats["errors"]),
        "error_samples": stats["errors"][:5],
        "latency": {"vote_post": percentiles(stats["vote"]),
                    "next_clip_page": percentiles(stats["page"]),
                    "video_range": percentiles(stats["media"])},
        "integrity": integrity,
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
