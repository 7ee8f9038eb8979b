"""Annotation server under load: simulated annotators against dfew-build serve (uvicorn,
1 worker) and, side by side, against the floor (benchmarks/floor_app.py: a bare Starlette
app doing the same SQLite upsert per vote). Prints JSON. Not a test: numbers depend on the
machine (its load is reported).

    python benchmarks/server_load.py [--scenario all|closed|human|crowd] [--seconds 30]
        [--annotators 50] [--clips 3000] [--per-clip 10] [--double-click 0.2]
        [--database-url postgresql+psycopg://...] [--keep DIR]

Each annotator logs in by link, then loops: GET /annotate (the next-clip page), a Range
request for the first 64 KiB of the clip (what the video element does), POST the vote
with its CSRF token (20% of them twice at once, as a double click does), and the 303 leads
to the next GET /annotate. Scenarios:
- closed: 50 annotators as fast as the server answers, ours and the floor in turn; the
  targets are >= 50% of the floor's votes/s, vote p95 <= 2x the floor's, 0 errors, 0 lost
  or duplicated votes;
- human: 50 annotators voting every 2 s each; target vote p95 <= 50 ms;
- crowd: 200 annotators closed-loop; targets: no request over 5 s, no 5xx.
Each run gets a fresh copy of the same workspace. With --database-url (PostgreSQL) our
server runs on it (a throwaway database created there) and the floor is left out.
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
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CLIP = re.compile(r'data-clip="(\d+)"')


def build_workspace(root: Path, annotators: int, clips: int, per_clip: int,
                    database_url: str | None = None) -> dict[str, str]:
    from dfew_build.annotation.assign import assign_clips
    from dfew_build.db.models import Clip, Movie
    from dfew_build.people import add_person
    from dfew_build.workspace import init_workspace

    ws, _ = init_workspace(root, database_url)
    video = ws.clips_dir / "shared.mp4"  # the server does not decode; any bytes will do
    video.write_bytes(os.urandom(512 * 1024))
    tokens = {}
    with ws.session() as session:
        movie = Movie(path=str(video), sha256="b" * 64, size_bytes=video.stat().st_size,
                      duration_s=36000.0, status="ok")
        session.add(movie)
        session.flush()
        for i in range(1, annotators + 1):
            _, tokens[f"annotator-{i:03d}"] = add_person(session, f"annotator-{i:03d}",
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


def start_server(root: Path, port: int, floor: bool = False) -> subprocess.Popen:
    env = {**os.environ, "DFEW_SERVE_WORKSPACE": str(root), "PYTHONPATH": str(ROOT),
           "DFEW_FLOOR_DB": str(root / "dfew.sqlite"), "DFEW_FLOOR_ROOT": str(root)}
    app = (["benchmarks.floor_app:app"] if floor
           else ["annotation_server.run:app_from_environment", "--factory"])
    command = [sys.executable, "-m", "uvicorn", *app, "--host", "127.0.0.1", "--port",
               str(port), "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "60"]
    process = subprocess.Popen(command, env=env, cwd=ROOT if floor else root)
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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(stats, key, request):
    start = time.perf_counter()
    try:
        response = await request
    except Exception as exc:  # a timeout or a dropped connection is an error, not a crash
        stats["errors"].append(f"{key}: {exc.__class__.__name__}")
        stats[key].append(time.perf_counter() - start)
        return None
    stats[key].append(time.perf_counter() - start)
    if response.status_code >= 500:
        stats["5xx"] += 1
    return response


def make_client(base: str):
    import httpx

    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    return httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=30, limits=limits)


async def annotator(client, token: str, rng: random.Random, double_click: float,
                    deadline: float, pace_s: float, stats: dict, made: dict) -> None:
    async with client:
        if pace_s:  # human pace: people do not start in step
            await asyncio.sleep(rng.uniform(0, pace_s))
        response = await timed(stats, "login", client.get(f"/login/{token}"))
        if response is None or response.status_code != 303:
            stats["errors"].append(f"login {getattr(response, 'status_code', None)}")
            return
        while time.monotonic() < deadline:
            cycle = time.monotonic()
            page = await timed(stats, "page", client.get("/annotate"))
            if page is None:
                continue
            if page.status_code != 200:
                stats["errors"].append(f"GET /annotate {page.status_code}")
                await asyncio.sleep(1)
                continue
            found = CLIP.search(page.text)
            if not found:  # the done page: this annotator has finished
                stats["finished"] += 1
                return
            clip_id, csrf = int(found.group(1)), CSRF.search(page.text).group(1)
            video = await timed(stats, "media", client.get(
                f"/media/clip/{clip_id}", headers={"Range": "bytes=0-65535"}))
            if video is not None and video.status_code != 206:
                stats["errors"].append(f"GET media {video.status_code}")
            emotion = rng.randint(1, 7)
            clicks = 2 if rng.random() < double_click else 1
            start = time.perf_counter()
            answers = await asyncio.gather(*(
                timed(stats, "post", client.post(f"/annotate/clip/{clip_id}/vote",
                                                 data={"emotion": str(emotion),
                                                       "csrf_token": csrf}))
                for _ in range(clicks)))
            stats["vote"].append(time.perf_counter() - start)
            stats["double_clicks"] += clicks - 1
            ok = [a for a in answers if a is not None and a.status_code == 303]
            for answer in answers:
                if answer is not None and answer.status_code != 303:
                    stats["errors"].append(f"POST vote {answer.status_code}")
            if ok:
                made[(token, clip_id)] = emotion
                stats["acknowledged"] += 1
            if pace_s:
                await asyncio.sleep(max(0.0, pace_s - (time.monotonic() - cycle)))


async def run_clients(base: str, tokens: dict[str, str], double_click: float,
                      seconds: float, pace_s: float) -> tuple[dict, dict, float]:
    stats = {"login": [], "page": [], "media": [], "post": [], "vote": [], "errors": [],
             "double_clicks": 0, "acknowledged": 0, "finished": 0, "5xx": 0}
    made: dict = {}
    # The clients first (each builds an SSL context: 10-20 ms of the load generator's CPU),
    # so 200 of them do not weigh on the first requests' latency.
    clients = [make_client(base) for _ in tokens]
    deadline = time.monotonic() + seconds
    start = time.perf_counter()
    await asyncio.gather(*(annotator(client, token, random.Random(i), double_click, deadline,
                                     pace_s, stats, made)
                           for i, (client, token) in enumerate(zip(clients,
                                                                   tokens.values()))))
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
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "max_ms": round(float(ms.max()), 1)}


def one_run(label: str, template: Path, work: Path, tokens: dict[str, str], *, floor: bool,
            annotators: int, seconds: float, pace_s: float, double_click: float,
            reset_url: str | None = None) -> dict:
    """A fresh copy of the workspace, a server on it, the clients, the integrity check."""
    root = work / label
    shutil.copytree(template, root)
    if reset_url:  # PostgreSQL: one database for every run; start each without votes
        from sqlalchemy import create_engine, text

        engine = create_engine(reset_url)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM vote"))
            conn.execute(text("DELETE FROM login_session"))
        engine.dispose()
    chosen = dict(list(tokens.items())[:annotators])
    port = free_port()
    server = start_server(root, port, floor=floor)
    load_before = os.getloadavg()
    try:
        cpu_before = cpu_seconds(server.pid)
        stats, made, wall = asyncio.run(run_clients(f"http://127.0.0.1:{port}", chosen,
                                                    double_click, seconds, pace_s))
        cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    integrity = check_integrity(root, chosen, made)
    everything = stats["login"] + stats["page"] + stats["media"] + stats["post"]
    votes = stats["acknowledged"]
    return {
        "server": "floor (bare Starlette + sqlite3)" if floor else "dfew-build serve",
        "annotators": annotators, "pace_s": pace_s or "closed loop", "wall_s": round(wall, 1),
        "acknowledged_votes": votes, "votes_per_s": round(votes / wall, 1),
        "server_cpu_ms_per_vote": round(1000 * cpu / votes, 2) if votes else None,
        "double_clicks": stats["double_clicks"], "finished_annotators": stats["finished"],
        "errors": len(stats["errors"]), "http_5xx": stats["5xx"],
        "error_samples": stats["errors"][:5],
        "latency": {"vote_round_trip": percentiles(stats["vote"]),
                    "vote_post": percentiles(stats["post"]),
                    "next_clip_page": percentiles(stats["page"]),
                    "video_range": percentiles(stats["media"]),
                    "login": percentiles(stats["login"]),
                    "slowest_request_ms": round(1000 * max(everything), 1)
                    if everything else None},
        "integrity": integrity,
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }


def postgres_database(server_url: str):
    """A throwaway database on the PostgreSQL server of `server_url`: (url, drop)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server_url)
    name = f"dfew_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("all", "closed", "human", "crowd"),
                        default="all")
    parser.add_argument("--annotators", type=int, default=50,
                        help="closed-loop and human-pace annotators")
    parser.add_argument("--crowd", type=int, default=200, help="annotators of the crowd run")
    parser.add_argument("--clips", type=int, default=3000)
    parser.add_argument("--per-clip", type=int, default=10)
    parser.add_argument("--double-click", type=float, default=0.2,
                        help="fraction of votes sent twice at once")
    parser.add_argument("--seconds", type=float, default=30, help="length of each run")
    parser.add_argument("--pace", type=float, default=2.0,
                        help="seconds between one annotator's votes in the human run")
    parser.add_argument("--database-url", help="PostgreSQL server for our server's runs "
                                               "(a throwaway database is created on it)")
    parser.add_argument("--keep", type=Path, help="build the workspaces here and keep them")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="dfew-server-load-"))
    drop = None
    url = None
    if args.database_url:
        url, drop = postgres_database(args.database_url)
    people = max(args.annotators, args.crowd if args.scenario in ("all", "crowd") else 0)
    tokens = build_workspace(work / "template", people, args.clips, args.per_clip, url)
    common = dict(seconds=args.seconds, double_click=args.double_click, reset_url=url)
    result = {"database": "postgresql" if url else "sqlite (WAL)",
              "server": "uvicorn, 1 worker", "cpus": os.cpu_count(),
              "clips": args.clips, "per_clip": args.per_clip, "runs": {}}
    runs = result["runs"]
    try:
        if args.scenario in ("all", "closed"):
            runs["closed_ours"] = one_run("closed-ours", work / "template", work, tokens,
                                          floor=False, annotators=args.annotators, pace_s=0,
                                          **common)
            if url is None:
                runs["closed_floor"] = one_run("closed-floor", work / "template", work, tokens,
                                               floor=True, annotators=args.annotators,
                                               pace_s=0, **common)
                ours, floor = runs["closed_ours"], runs["closed_floor"]
                p95 = ours["latency"]["vote_round_trip"]["p95_ms"]
                floor_p95 = floor["latency"]["vote_round_trip"]["p95_ms"]
                result["closed_vs_floor"] = {
                    "throughput_ratio": round(ours["votes_per_s"] / floor["votes_per_s"], 3),
                    "vote_p95_ratio": round(p95 / floor_p95, 3),
                    "targets": "throughput_ratio >= 0.5, vote_p95_ratio <= 2, 0 errors, "
                               "0 lost, 0 duplicated"}
        if args.scenario in ("all", "human"):
            runs["human_ours"] = one_run("human-ours", work / "template", work, tokens,
                                         floor=False, annotators=args.annotators,
                                         pace_s=args.pace, **common)
            runs["human_ours"]["target"] = "vote_round_trip p95 <= 50 ms"
        if args.scenario in ("all", "crowd"):
            runs["crowd_ours"] = one_run("crowd-ours", work / "template", work, tokens,
                                         floor=False, annotators=args.crowd, pace_s=0,
                                         **common)
            runs["crowd_ours"]["target"] = "slowest request < 5000 ms, 0 http_5xx"
    finally:
        if drop is not None:
            drop()
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
