"""The batched faces path (`preprocess --device cuda`, and `--batched` on the CPU): many
clips at once, so a GPU never waits on one clip's decoder or on the disk.

* Decoding: `decoders` threads, one clip each (FFmpeg releases the GIL), put chunks of
  frames on a bounded queue, so memory stays at a few batches of frames.
* Detection: frames of *different* clips are gathered into one batch of `batch_frames`
  and detected together (onnxruntime's CUDA provider when the detector runs there), then
  every face of the batch is aligned at once (batched `affine_grid`/`grid_sample` on the
  device with options.align == "torch", else cv2).
* Writing: once a clip's last frame is detected, tracking, the frame JPEGs and TIM run in
  a writer thread, off the detection loop.

Per frame it computes exactly what dfew_build.faces.process.process_clip computes
(detection is per frame whatever the batch holds; keyframes, with --detect-every, go by
the frame's number in its clip, and chunks start on keyframes), so results match the
default path
(identical with the same alignment backend; within a grey level between cv2 and torch).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from dfew_build.errors import DfewError
from dfew_build.faces.process import (ClipFaces, ClipJob, ClipResult, FaceOptions,
                                      _align_batch, detect_runs, finish_clip)
from dfew_build.media.decode import DecodeFailed, DecodeStats, iter_frame_batches

CHUNK = 16  # frames a decoder hands over at a time (rounded up to a multiple of
#             detect_every, so that every chunk starts on a keyframe as in process_clip)


@dataclass
class _Clip:
    job: ClipJob
    result: ClipResult
    stats: DecodeStats = field(default_factory=DecodeStats)
    found: ClipFaces = field(default_factory=ClipFaces)
    started: float = field(default_factory=time.perf_counter)
    pending: int = 0          # frames queued for detection, not yet detected
    ended: bool = False       # the decoder is done (or failed)


def run_batched(jobs: list[ClipJob], detector, options: FaceOptions, frames_root: Path, *,
                batch_frames: int | None = None, decoders: int = 2,
                writers: int = 1) -> Iterator[ClipResult]:
    """ClipResults of `jobs` (in the order clips finish), detection batched across clips.

    batch_frames: frames per detection batch (default options.batch_size). decoders:
    clips decoded at once. Every problem with a clip ends up in its result, never raised.
    """
    batch_frames = batch_frames or options.batch_size
    chunks: queue.Queue = queue.Queue(maxsize=max(2, 2 * decoders))
    stop = threading.Event()
    todo = list(jobs)
    lock = threading.Lock()

    def decode_next() -> None:
        while not stop.is_set():
            with lock:
                if not todo:
                    return
                job = todo.pop(0)
            clip = _Clip(job, ClipResult(job.clip_id, detector.name, "failed"))
            _decode(clip, chunks, stop, -(-CHUNK // options.detect_every)
                    * options.detect_every)

    threads = [threading.Thread(target=decode_next, name=f"decode-{i}", daemon=True)
               for i in range(max(1, min(decoders, len(jobs))))]
    for thread in threads:
        thread.start()
    finishing: list[Future] = []
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="write") as pool:
        try:
            yield from _detect_loop(chunks, threads, detector, options, frames_root,
                                    batch_frames, pool, finishing)
            for future in finishing:
                yield future.result()
        finally:
            stop.set()
            while any(t.is_alive() for t in threads):
                try:
                    chunks.get_nowait()
                except queue.Empty:
                    time.sleep(0.01)


def _decode(clip: _Clip, chunks: queue.Queue, stop: threading.Event,
            chunk: int = CHUNK) -> None:
    """Put (clip, first frame number, frames) chunks for one clip, then
    (clip, frames so far, None) when it ends."""
    path = Path(clip.job.path)
    try:
        if not path.is_file():
            clip.result.reason = (f"clip file not found: {path}; cut the clip again "
                                  "(dfew-build clips cut) or fix clip.path")
        else:
            first = 0
            for frames in iter_frame_batches(path, chunk, clip.stats):
                _put(chunks, (clip, first, frames), stop)
                first += len(frames)
                if stop.is_set():
                    return
    except DecodeFailed as exc:
        clip.result.reason = f"cannot decode {clip.job.path}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one clip's surprise must not stop the batch
        clip.result.reason = (f"unexpected error after {clip.stats.frames} frames of "
                              f"{clip.job.path}: {type(exc).__name__}: {exc}")
    _put(chunks, (clip, clip.stats.frames, None), stop)


def _put(chunks: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            chunks.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _detect_loop(chunks, threads, detector, options, frames_root, batch_frames, pool,
                 finishing) -> Iterator[ClipResult]:
    batch: list[tuple[_Clip, int, list[np.ndarray]]] = []  # runs: (clip, first, frames)
    ready: list[_Clip] = []

    def flush() -> None:
        if not batch:
            return
        frames = [frame for _, _, run in batch for frame in run]
        try:
            per_run = detect_runs(detector, [(run, first) for _, first, run in batch],
                                  options)
            faces = [f for run in per_run for f in run]
            aligned = _align_batch(frames, faces, options)
        except DfewError as exc:  # the detector failed on this batch: its clips fail
            for clip in {id(c): c for c, _, _ in batch}.values():
                clip.result.reason = str(exc)
            faces = aligned = None
        start = 0
        for clip, _, run in batch:  # a clip's chunks are queued, and so added, in order
            stop = start + len(run)
            if faces is not None and clip.result.reason is None:
                clip.found.add(frames[start:stop], faces[start:stop], options,
                               aligned=aligned[start:stop])
            clip.pending -= stop - start
            start = stop
        batch.clear()

    while True:
        try:
            clip, first, frames = chunks.get(timeout=0.05)
        except queue.Empty:
            if not any(t.is_alive() for t in threads) and chunks.empty():
                break
            continue
        if frames is None:
            clip.ended = True
            ready.append(clip)
        else:
            clip.pending += len(frames)
            batch.append((clip, first, frames))
            if sum(len(run) for _, _, run in batch) >= batch_frames:
                flush()
        if ready and any(c.pending for c in ready):
            flush()  # a finished clip's last frames are still in the batch
        for done in [c for c in ready if c.pending == 0]:
            ready.remove(done)
            finishing.append(pool.submit(_finish, done, options, frames_root))
        while finishing and finishing[0].done():
            yield finishing.pop(0).result()
    flush()
    for clip in ready:
        finishing.append(pool.submit(_finish, clip, options, frames_root))


def _finish(clip: _Clip, options: FaceOptions, frames_root: Path) -> ClipResult:
    result = clip.result
    if result.reason is None:
        try:
            finish_clip(clip.job, clip.found, clip.stats, options, Path(frames_root), result)
        except DfewError as exc:
            result.status, result.reason = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001
            result.status = "failed"
            result.reason = (f"unexpected error after {clip.stats.frames} frames of "
                             f"{clip.job.path}: {type(exc).__name__}: {exc}")
    else:
        result.status = "failed"
        result.frames_total = clip.stats.frames
    result.seconds = time.perf_counter() - clip.started
    return result
