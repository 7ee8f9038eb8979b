"""Ingest throughput: movies/s and MB/s of fingerprinting, on the real sample media and on a
generated 2 GiB movie. Prints JSON. Not a test: numbers depend on the machine.

    python benchmarks/ingest.py [--size-gib 2] [--keep DIR]

The full-file SHA-256 of the big file is timed in the same run, so the ratio between the
sampled fingerprint and reading every byte is measured on the same disk and cache state.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from dfew_build import samples
from dfew_build.media.fingerprint import bytes_read, file_sha256, fingerprint
from dfew_build.media.ingest import ingest
from dfew_build.media.probe import probe
from dfew_build.workspace import init_workspace

MB = 1_000_000


def make_big_movie(path: Path, size_bytes: int) -> Path:
    """An uncompressed 1080p AVI (OpenDML) of about size_bytes: written at disk speed."""
    import av

    width, height = 1920, 1080
    frame_bytes = width * height * 3 // 2  # yuv420p
    frames = max(1, size_bytes // frame_bytes)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("rawvideo", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.roll(base, i * 8, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return value, time.perf_counter() - start


def bench_samples(work: Path) -> dict:
    media = samples.sample_media()
    videos = [media / name for name in samples.SAMPLE_VIDEOS]
    total = sum(v.stat().st_size for v in videos)
    _, fp_seconds = timed(lambda: [fingerprint(v) for v in videos])
    workspace, _ = init_workspace(work / "ws-samples")
    report, seconds = timed(ingest, workspace, videos)
    _, again = timed(ingest, workspace, videos)
    workspace.close()
    return {"movies": len(videos), "bytes": total,
            "ingest_seconds": round(seconds, 3),
            "movies_per_s": round(len(videos) / seconds, 2),
            "reingest_seconds": round(again, 3),
            "fingerprint_mb_per_s": round(total / MB / fp_seconds, 1),
            "summary": report.summary()}


def bench_big(work: Path, size_gib: float) -> dict:
    path = make_big_movie(work / "big.avi", int(size_gib * (1 << 30)))
    size = path.stat().st_size
    cold = drop_page_cache()
    _, fp_seconds = timed(fingerprint, path)
    probe_result, probe_seconds = timed(probe, path)
    drop_page_cache()
    _, sha_seconds = timed(file_sha256, path)
    workspace, _ = init_workspace(work / "ws-big")
    drop_page_cache()
    report, ingest_seconds = timed(ingest, workspace, [path])
    workspace.close()
    return {"bytes": size, "cold_cache": cold,
            "fingerprint_seconds": round(fp_seconds, 4),
            "fingerprint_bytes_read": bytes_read(size),
            "fingerprint_effective_mb_per_s": round(size / MB / fp_seconds, 1),
            "full_sha256_seconds": round(sha_seconds, 3),
            "full_sha256_mb_per_s": round(size / MB / sha_seconds, 1),
            "full_hash_over_fingerprint_time": round(sha_seconds / fp_seconds, 1),
            "probe_seconds": round(probe_seconds, 3),
            "frame_count": probe_result.frame_count,
            "ingest_seconds": round(ingest_seconds, 3),
            "movies_per_s": round(1 / ingest_seconds, 2),
            "summary": report.summary()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp dir)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="dfew-bench-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = {"benchmark": "ingest", "cpus": os.cpu_count(),
                  "sample_media": bench_samples(work),
                  "generated_movie": bench_big(work, args.size_gib)}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
