"""Faces-stage throughput on the real sample clips. Prints JSON. Not a test.

    python benchmarks/preprocess.py [--videos single_face.mp4,no_face.mp4] [--detector mtcnn]
                                    [--skip-jobs2]

Measured in one run, on the same clips and detector settings:
* decode only: every frame through dfew_build.media.decode (the stage's decoder), frames/s;
* detection only: the detector on the already-decoded frames, in the stage's batches;
* the whole stage (`preprocess --jobs 1`: decode, detect, align, track, JPEG, TIM, tensor
  store, database), and its ratio to decode + detection (target <= 1.3: everything the
  stage adds to the two unavoidable costs);
* `--jobs 2` against `--jobs 1` on fresh workspaces (the speed-up of the process pool).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from dfew_build import samples
from dfew_build.db.models import Clip
from dfew_build.media.decode import decode_all
from dfew_build.faces.detectors import create_detector
from dfew_build.faces.pipeline import preprocess
from dfew_build.workspace import init_workspace

BATCH = 16  # the stage's detection batch size


def bench_decode(videos: list[Path]) -> tuple[dict, dict]:
    start = time.perf_counter()
    decoded = {video: decode_all(video)[0] for video in videos}
    seconds = time.perf_counter() - start
    frames = sum(len(f) for f in decoded.values())
    return decoded, {"frames": frames, "seconds": round(seconds, 3),
                     "frames_per_s": round(frames / seconds, 1)}


def bench_detect(detector, decoded: dict) -> dict:
    detector.detect(next(iter(decoded.values()))[:BATCH])  # warm-up: session allocation
    start = time.perf_counter()
    frames = 0
    for clip in decoded.values():
        for s in range(0, len(clip), BATCH):
            detector.detect(clip[s:s + BATCH])
        frames += len(clip)
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": round(seconds, 3),
            "frames_per_s": round(frames / seconds, 1)}


def bench_stage(videos: list[Path], work: Path, name: str, jobs: int, detector: str,
                detector_instance=None) -> dict:
    workspace, _ = init_workspace(work / name)
    with workspace.session() as session:
        for clip_id, video in enumerate(videos, start=1):
            session.add(Clip(id=clip_id, start_s=0.0, end_s=1.0, duration_s=1.0,
                             path=str(video)))
    start = time.perf_counter()
    report = preprocess(workspace, detector=detector, jobs=jobs,
                        detector_instance=detector_instance)
    seconds = time.perf_counter() - start
    summary = report.summary()
    workspace.close()
    return {"jobs": jobs, "frames": summary["frames"], "seconds": round(seconds, 3),
            "frames_per_s": round(summary["frames"] / seconds, 1),
            "kept": summary["kept"], "dropped": summary["dropped_low_face_rate"],
            "failed": summary["failed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", default=",".join(samples.SAMPLE_VIDEOS),
                        help="comma-separated sample video names")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--skip-jobs2", action="store_true", help="skip the --jobs 2 run")
    args = parser.parse_args()
    media = samples.sample_media()
    videos = [media / name for name in args.videos.split(",")]
    # The stage's --jobs 1 detector: onnxruntime's default thread count, in this process.
    detector = create_detector(args.detector)
    decoded, decode = bench_decode(videos)
    detect = bench_detect(detector, decoded)
    del decoded
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        whole = bench_stage(videos, work, "jobs1", 1, args.detector, detector)
        jobs2 = None if args.skip_jobs2 else bench_stage(videos, work, "jobs2", 2,
                                                         args.detector)
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
        "detector": detector.name,
        "videos": [v.name for v in videos],
        "decode_only": decode,
        "detection_only": detect,
        "whole_stage_jobs1": whole,
        "ratio_whole_over_decode_plus_detection": round(
            whole["seconds"] / (decode["seconds"] + detect["seconds"]), 3),
        "ratio_target": 1.3,
    }
    if jobs2 is not None:
        result["whole_stage_jobs2"] = jobs2
        result["speedup_jobs2_over_jobs1"] = round(whole["seconds"] / jobs2["seconds"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
