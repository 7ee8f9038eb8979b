"""The admin page and the votes CSV at DFEW-and-beyond scale: a workspace with 1.3 M votes
(130,000 clips x 10 annotators by default, on SQLite), then the time of GET /admin (the
first view, while the agreement figure is computed in the background, and a later one),
GET /admin/clips, and GET /admin/votes.csv (time to the first byte, to the last, and the
server's peak memory growth while it streams). Prints JSON. Not a test.

    python benchmarks/admin_scale.py [--clips 130000] [--annotators 12] [--per-clip 10]
                                     [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _triggers():
    path = ROOT / "migrations" / "versions" / "20261202_0005_login_sessions.py"
    spec = importlib.util.spec_from_file_location("migration_0005", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SQLITE_TRIGGERS


def build(root: Path, clips: int, annotators: int, per_clip: int) -> dict[str, str]:
    """The workspace through the library (schema, people), the bulk rows with sqlite3 (the
    queue triggers are set aside meanwhile and put back, as a bulk load would)."""
    from dfew_build.people import add_person
    from dfew_build.workspace import init_workspace

    ws, _ = init_workspace(root)
    tokens = {}
    with ws.session() as session:
        for i in range(1, annotators + 1):
            _, tokens[f"ann{i:02d}"] = add_person(session, f"ann{i:02d}", "annotator")
        _, tokens["admin"] = add_person(session, "admin", "admin")
    ws.close()
    triggers = _triggers()
    db = sqlite3.connect(root / "dfew.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for name in triggers:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("BEGIN")
    db.execute("INSERT INTO movie (id, path, sha256, size_bytes, duration_s, status, "
               "ingested_at) VALUES (1, '/m.mp4', ?, 1, 999999, 'ok', '2026-01-01 00:00:00')",
               (hashlib.sha256(b"m").hexdigest(),))
    now = "2026-01-01 00:00:00.000000"
    db.executemany(
        "INSERT INTO clip (id, movie_id, start_s, end_s, duration_s, path, source, status, "
        "created_at) VALUES (?, 1, ?, ?, 2.0, 'clips/x.mp4', 'manual', 'accepted', ?)",
        ((c, 3.0 * c, 3.0 * c + 2, now) for c in range(1, clips + 1)))
    pairs = [(c, 1 + (c + k) % annotators) for c in range(1, clips + 1) for k in range(per_clip)]
    db.executemany("INSERT INTO assignment (clip_id, annotator_id, source, assigned_at) "
                   "VALUES (?, ?, 'assigned', ?)", ((c, a, now) for c, a in pairs))
    db.executemany("INSERT INTO vote (clip_id, annotator_id, emotion, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?)",
                   ((c, a, 1 + (c * 7 + a) % 7 if a % 3 else 1 + c % 7, now, now)
                    for c, a in pairs))
    db.execute("COMMIT")
    for name, body in triggers.items():
        db.execute(f"CREATE TRIGGER {name} {body}")
    db.execute("ANALYZE")
    db.close()
    return tokens


def _rss_mb() -> float:
    """This process's resident memory now (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed(client, path):
    started = time.perf_counter()
    response = client.get(path)
    return response, round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=130_000)
    parser.add_argument("--annotators", type=int, default=12)
    parser.add_argument("--per-clip", type=int, default=10)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from annotation_server import Settings, create_app
    from dfew_build.workspace import open_workspace

    work = args.keep or Path(tempfile.mkdtemp(prefix="dfew-admin-scale-"))
    started = time.perf_counter()
    tokens = build(work / "ws", args.clips, args.annotators, args.per_clip)
    built = time.perf_counter() - started
    ws = open_workspace(work / "ws")
    app = create_app(Settings.from_workspace(ws, secret_key="bench"))
    result = {"votes": args.clips * args.per_clip, "clips": args.clips,
              "annotators": args.annotators, "database": "sqlite (WAL)",
              "build_s": round(built, 1), "load_average_1m": round(os.getloadavg()[0], 2)}
    with TestClient(app, follow_redirects=False) as client:
        assert client.get(f"/login/{tokens['admin']}").status_code == 303
        page, result["admin_first_view_s"] = timed(client, "/admin")
        result["admin_first_view_agreement"] = (
            "being computed" if "being computed" in page.text else "shown")
        deadline = time.monotonic() + 300
        while app.state.agreement.running is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        page, result["admin_later_view_s"] = timed(client, "/admin")
        result["admin_later_view_shows_kappa"] = "Fleiss" in page.text and \
            "being computed" not in page.text
        _, result["admin_clips_page_s"] = timed(client, "/admin/clips?page=500")
        memory = peak = _rss_mb()
        started = time.perf_counter()
        first = None
        size = rows = 0
        with client.stream("GET", "/admin/votes.csv") as response:
            for chunk in response.iter_bytes():
                if first is None:
                    first = time.perf_counter() - started
                size += len(chunk)
                rows += chunk.count(b"\n")
                peak = max(peak, _rss_mb())
        result["votes_csv"] = {
            "first_byte_s": round(first, 3), "all_s": round(time.perf_counter() - started, 2),
            "rows": rows - 1, "mb": round(size / 1e6, 1),
            "rss_growth_while_streaming_mb": round(peak - memory, 1)}
    ws.close()
    print(json.dumps(result, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
