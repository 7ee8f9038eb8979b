"""Clip cutting throughput on the real sample media: clips/s of `clips cut` (frame-accurate
re-encode, probe, SHA-256, database record) against FFmpeg stream copy (`-c copy`, not
frame-accurate: it starts at the keyframe before the span) of the same spans, timed in the
same run with the same number of parallel jobs. Prints JSON. Not a test.

    python benchmarks/cut.py [--clip-s 2.0] [--jobs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from dfew_build import samples
from dfew_build.clips.cut import cut_clips, default_jobs, ffmpeg_exe
from dfew_build.db.models import Clip, Movie
from dfew_build.media.ingest import ingest
from dfew_build.workspace import init_workspace


def make_spans(workspace, clip_s: float) -> list[tuple[int, str, float, float]]:
    """Back-to-back clips of clip_s seconds over every sample movie, as accepted clips."""
    spans = []
    with workspace.session() as session:
        for movie in session.scalars(select(Movie).where(Movie.status == "ok")):
            start = 0.0
            while start + clip_s <= movie.duration_s:
                clip = Clip(movie_id=movie.id, start_s=start, end_s=start + clip_s,
                            duration_s=clip_s, source="manual", status="accepted")
                session.add(clip)
                session.flush()
                spans.append((clip.id, movie.path, start, start + clip_s))
                start += clip_s
    return spans


def stream_copy(ffmpeg: str, spans, out: Path, jobs: int) -> float:
    def copy(span):
        clip_id, path, start, end = span
        subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-ss", f"{start:.6f}",
                        "-i", path, "-t", f"{end - start:.6f}", "-map", "0:v:0",
                        "-map", "0:a:0?", "-c", "copy", "-f", "mp4",
                        str(out / f"{clip_id:05d}.mp4")], check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(copy, spans))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip-s", type=float, default=2.0, help="clip length (seconds)")
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="dfew-bench-cut-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        media = samples.sample_media()
        workspace, _ = init_workspace(work / "ws")
        ingest(workspace, [media / name for name in samples.SAMPLE_VIDEOS])
        spans = make_spans(workspace, args.clip_s)
        ffmpeg = ffmpeg_exe()
        copy_dir = work / "copy"
        copy_dir.mkdir(exist_ok=True)
        stream_copy(ffmpeg, spans[:1], copy_dir, 1)  # warm the page cache for both runs
        copy_seconds = stream_copy(ffmpeg, spans, copy_dir, args.jobs)
        started = time.perf_counter()
        report = cut_clips(workspace, jobs=args.jobs)
        cut_seconds = time.perf_counter() - started
        workspace.close()
        cut_rate, copy_rate = len(spans) / cut_seconds, len(spans) / copy_seconds
        result = {
            "benchmark": "cut", "cpus": os.cpu_count(), "jobs": args.jobs,
            "clips": len(spans), "clip_seconds": args.clip_s, "summary": report.summary(),
            "cut_seconds": round(cut_seconds, 3), "cut_clips_per_s": round(cut_rate, 2),
            "copy_seconds": round(copy_seconds, 3), "copy_clips_per_s": round(copy_rate, 2),
            "cut_over_copy_speed": round(cut_rate / copy_rate, 3),
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
