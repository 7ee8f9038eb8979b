"""The faces stage (`dfew-build preprocess`): every cut clip -> protagonist's aligned faces,
face rate, JPEG frames, a TIM-normalised tensor row and a face_track row.

Clips run in a process pool on the CPU (each worker has its own detector with one
onnxruntime thread), or in this process on the GPU (batched detection and alignment).
This process alone writes the tensor store and the database, clip by clip, in the order
frames -> tensor row -> index line -> face_track row, so an interrupted run loses only the
clips in flight, and a re-run does only what is missing.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from sqlalchemy import select

from dfew_build.db.models import Clip, FaceTrack, Movie
from dfew_build.errors import FacesError
from dfew_build.executors import is_distributed
from dfew_build.faces.process import (ClipJob, ClipResult, FaceOptions, init_worker,
                                      process_clip, run_in_worker)
from dfew_build.faces.store import (TensorStore, clip_frames_dir,
                                   remove_stale_store_temporaries, remove_stale_temporaries)

LOCK_NAME = ".preprocess.lock"
CPU_BATCH, GPU_BATCH = 16, 64  # frames per detection call
STATUSES = ("kept", "dropped_low_face_rate", "failed")


@dataclass
class PreprocessReport:
    detector: str
    options: FaceOptions
    results: list[ClipResult] = field(default_factory=list)
    already_done: list[int] = field(default_factory=list)
    not_cut: list[int] = field(default_factory=list)
    # clip id -> why it has no file: candidate, accepted, rejected or retired
    not_cut_states: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0

    def not_cut_advice(self) -> list[str]:
        """One line per state of the clips without a file, saying what would give them one."""
        advice = {
            "accepted": "run dfew-build clips cut",
            "candidate": "unconfirmed candidates are never cut: dfew-build clips confirm "
                         "IDS, then dfew-build clips cut",
            "rejected": "rejected clips are never cut (they are out of the dataset); drop "
                        "them from --clips",
            "retired": "retired clips are out of the dataset: dfew-build clips restore IDS, "
                       "then dfew-build clips cut"}
        lines = []
        for state in ("accepted", "candidate", "rejected", "retired"):
            ids = [i for i in self.not_cut if self.not_cut_states.get(i, "accepted") == state]
            if ids:
                lines.append(f"not cut (skipped), {state}: clips {', '.join(map(str, ids))}; "
                             f"{advice[state]}")
        return lines

    def summary(self) -> dict:
        counts = {s: sum(r.status == s for r in self.results) for s in STATUSES}
        frames = sum(r.frames_total for r in self.results)
        return {"detector": self.detector, **counts, "already_done": len(self.already_done),
                "not_cut": len(self.not_cut), "frames": frames,
                "seconds": round(self.seconds, 2),
                "frames_per_s": round(frames / self.seconds, 1) if self.seconds else 0.0}

    def problems(self) -> list[ClipResult]:
        return [r for r in self.results if r.status != "kept"]


def parse_clip_ids(text: str) -> list[int]:
    """'1,2,5-9' -> [1, 2, 5, 6, 7, 8, 9]."""
    ids: list[int] = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise FacesError(f"--clips: {part!r} is not a clip id or a range like 5-9") \
                from None
        if first < 1 or last < first:
            raise FacesError(f"--clips: {part!r} is not a valid clip id range")
        ids.extend(range(first, last + 1))
    if not ids:
        raise FacesError("--clips is empty; give ids like 1,2,5-9")
    return sorted(set(ids))


def clip_file(root: Path, stored: str) -> Path:
    """clip.path is workspace-relative (as `clips cut` stores it); absolute paths work too."""
    path = Path(stored).expanduser()
    return path if path.is_absolute() else Path(root) / path


@contextmanager
def preprocess_lock(faces_dir: Path) -> Iterator[None]:
    """One preprocess run per workspace: two writers would interleave the tensor store."""
    faces_dir.mkdir(parents=True, exist_ok=True)
    handle = open(faces_dir / LOCK_NAME, "a+")
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one run at a time is on the user
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise FacesError(f"another `dfew-build preprocess` is running on this "
                                 f"workspace ({faces_dir / LOCK_NAME} is locked); wait for "
                                 "it to finish") from None
        yield
    finally:
        handle.close()


def _select_clips(workspace, clip_ids: Sequence[int] | None
                  ) -> tuple[list[ClipJob], dict[int, str]]:
    """The clips to process, and {id: state} of the selected ones that have no file."""
    with workspace.session() as session:
        query = select(Clip.id, Clip.path, Clip.status, Clip.retired_at, Clip.duration_s,
                       Movie.fps, Movie.width, Movie.height).outerjoin(
            Movie, Movie.id == Clip.movie_id).order_by(Clip.id)
        if clip_ids is not None:
            query = query.where(Clip.id.in_(list(clip_ids)))
        rows = session.execute(query).all()
    if clip_ids is not None:
        missing = sorted(set(clip_ids) - {r.id for r in rows})
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
            raise FacesError(f"--clips: no clip with id {shown}; see dfew-build clips list")
    jobs, not_cut = [], {}
    for row in rows:
        # Unconfirmed candidates are never cut, rejected and retired clips left the
        # dataset: only clips named with --clips are taken anyway.
        if clip_ids is None and (row.status != "accepted" or row.retired_at is not None):
            continue
        if not row.path:
            not_cut[row.id] = "retired" if row.retired_at is not None else row.status
        else:
            pixels = (row.duration_s or 0.0) * (row.fps or 0.0) * (row.width or 0) \
                * (row.height or 0)
            jobs.append(ClipJob(row.id, str(clip_file(workspace.root, row.path)), pixels))
    return jobs, not_cut


def _done(workspace, detector: str, jobs: list[ClipJob], store: TensorStore) -> set[int]:
    """Clips with a final result for this detector: dropped, or kept with their frames and
    their row in this tensor store. Failed clips are tried again."""
    with workspace.session() as session:
        rows = session.execute(select(FaceTrack.clip_id, FaceTrack.status).where(
            FaceTrack.detector == detector,
            FaceTrack.clip_id.in_([j.clip_id for j in jobs]))).all()
    done = set()
    for clip_id, status in rows:
        if status == "dropped_low_face_rate":
            done.add(clip_id)
        elif status == "kept" and clip_id in store and clip_frames_dir(
                workspace.frames_dir, clip_id).is_dir():
            entry = store.entry(clip_id)
            if entry is not None and entry.get("detector") in (detector, ""):
                done.add(clip_id)
    return done


def _record(workspace, store: TensorStore, result: ClipResult, options: FaceOptions) -> None:
    """Tensor row (flushed) -> index line -> face_track row: the clip counts as done only
    once all three exist."""
    import shutil

    with workspace.session() as session:
        row = session.scalar(select(FaceTrack).where(FaceTrack.clip_id == result.clip_id,
                                                     FaceTrack.detector == result.detector))
        if result.status == "failed" and row is not None and row.status != "failed":
            # A failed retry (--redo, a file gone missing) must not destroy a good result.
            result.reason += f" (the earlier result, {row.status}, is left as it was)"
            result.tensor = None
            return
        storage = None
        if result.status == "kept":
            store.write(result.clip_id, result.tensor, detector=result.detector,
                        temporal=options.temporal, source_frames=result.frames_with_face)
            storage = Path(result.storage).relative_to(workspace.root).as_posix()
            result.storage = storage
        elif result.status == "dropped_low_face_rate":
            # Re-processed and no longer kept: its old faces must not be read as data.
            if result.clip_id in store:
                store.remove(result.clip_id)
            shutil.rmtree(clip_frames_dir(workspace.frames_dir, result.clip_id),
                          ignore_errors=True)
        result.tensor = None  # the report need not hold every clip's pixels
        if row is None:
            row = FaceTrack(clip_id=result.clip_id, detector=result.detector)
            session.add(row)
        row.frames_total = result.frames_total
        row.frames_with_face = result.frames_with_face
        row.face_rate = result.face_rate
        row.status = result.status
        row.reason = result.reason
        row.storage = storage


def faces_options(workspace, **overrides) -> FaceOptions:
    """FaceOptions from dfew.toml's [faces] section, with explicit values on top."""
    config = dict(workspace.config.get("faces", {}))
    values = {key: config[key] for key in ("frames", "size", "temporal", "min_face_rate",
                                           "min_face", "detect_size", "detect_every")
              if key in config}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if not values.get("detect_size", 1):
        values["detect_size"] = None  # 0: search at full resolution
    return FaceOptions(**values)


def preprocess(workspace, *, detector: str | None = None, model_dir: str | None = None,
               device: str = "cpu", frames: int | None = None, size: int | None = None,
               temporal: str | None = None, min_face_rate: float | None = None,
               min_face: float | None = None, detect_size: int | None = None,
               detect_every: int | None = None, jobs: int = 1,
               clip_ids: Iterable[int] | None = None, redo: bool = False,
               batch_size: int | None = None, progress: bool = False,
               on_result: Callable[[ClipResult], None] | None = None,
               detector_instance=None, executor=None,
               batched: bool | None = None) -> PreprocessReport:
    """Preprocess every cut clip (or clip_ids) that has no final result yet.

    min_face, detect_size, detect_every: the face search (FaceOptions; None: [faces] in
        dfew.toml, else the defaults 40 px, 640 px, every 4th frame).
    batched: detection batched across clips in this process (dfew_build.faces.batched);
        default on with device="cuda", and the same code path runs on the CPU.
    detector_instance: a ready FaceDetector to use in this process instead of creating one
    from `detector` (the pool then is not used).
    executor: a dfew_build.executors executor; a distributed one (Ray) runs the clips as
        its tasks instead of the local pool (--jobs does not apply), and this process
        still records every result.
    """
    import time

    start = time.perf_counter()
    detector = detector or workspace.config.get("faces", {}).get("detector", "auto")
    if device == "auto":  # as in clips propose: the GPU when PyTorch sees one
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise FacesError(f"--device must be cpu, cuda or auto, got {device!r}")
    if jobs < 1:
        raise FacesError(f"--jobs must be at least 1, got {jobs}")
    cuda = device == "cuda"
    if is_distributed(executor) and (cuda or batched or detector_instance is not None):
        raise FacesError("--executor ray runs clips on CPU workers, each with a detector of "
                         "its own: use it without --device cuda or --batched (that path "
                         "batches clips in this process) and with a detector name, not an "
                         "instance")
    if cuda:
        _check_cuda()
    batched = cuda if batched is None else batched
    # Bigger batches keep a GPU busy; on the CPU they only add latency and memory.
    batch_size = batch_size or (GPU_BATCH if cuda else CPU_BATCH)
    options = faces_options(workspace, frames=frames, size=size, temporal=temporal,
                            min_face_rate=min_face_rate, min_face=min_face,
                            detect_size=detect_size, detect_every=detect_every,
                            batch_size=batch_size,
                            align="torch" if cuda or batched else "cv2", device=device)
    given = detector_instance is not None
    if not given:
        from dfew_build.faces.detectors import create_detector

        # Created here even for the pool: a missing model pack fails now, in one line, and
        # "auto" resolves to the name the results are stored under.
        detector_instance = create_detector(detector, model_dir=model_dir, device=device,
                                            threads=None if cuda or jobs == 1 else 1,
                                            min_face=options.min_face,
                                            detect_size=options.detect_size)
    in_process = cuda or batched or jobs == 1 or given
    job_list, not_cut = _select_clips(workspace, None if clip_ids is None else list(clip_ids))
    report = PreprocessReport(detector_instance.name, options, not_cut=list(not_cut),
                              not_cut_states=not_cut)
    with preprocess_lock(workspace.root / "faces"):
        remove_stale_temporaries(workspace.frames_dir)
        remove_stale_store_temporaries(workspace.tensors_dir)  # a killed run's store copies
        store = TensorStore(workspace.tensors_dir, options.size, options.frames)
        try:
            done = set() if redo else _done(workspace, detector_instance.name, job_list, store)
            report.already_done = [j.clip_id for j in job_list if j.clip_id in done]
            todo = [j for j in job_list if j.clip_id not in done]
            store.reserve(sum(1 for j in todo if j.clip_id not in store))
            if is_distributed(executor):
                results = _run_executor(executor, todo, detector_instance.name, model_dir,
                                        options, workspace.frames_dir)
            else:
                results = (_run_batched(todo, detector_instance, options,
                                        workspace.frames_dir) if batched else
                           _run_here(todo, detector_instance, options, workspace.frames_dir)
                           if in_process or len(todo) <= 1 else
                           _run_pool(todo, detector, model_dir, options,
                                     workspace.frames_dir, min(jobs, len(todo))))
            bar = _progress_bar(len(todo), progress)
            try:
                for result in results:
                    _record(workspace, store, result, options)
                    report.results.append(result)
                    if on_result is not None:
                        on_result(result)
                    if bar is not None:
                        bar.set_postfix_str(f"clip {result.clip_id} {result.status}",
                                            refresh=False)
                        bar.update(1)
            except KeyboardInterrupt:
                raise _interrupted(report, todo) from None
            finally:
                results.close()  # an interrupt stops the workers now, not at GC time
                if bar is not None:
                    bar.close()
        finally:
            store.close()
    report.results.sort(key=lambda r: r.clip_id)
    report.seconds = time.perf_counter() - start
    return report


def _interrupted(report: PreprocessReport, todo: list[ClipJob]):
    """What a Ctrl-C in `preprocess` leaves: every recorded clip is saved (frames, tensor
    row, face_track row), the clips in flight are not and are done by the next run."""
    from dfew_build.errors import Interrupted

    saved = {r.clip_id for r in report.results}
    before = (f" ({len(report.already_done)} were done before)" if report.already_done
              else "")
    return Interrupted(
        f"stopped after {len(saved)} of {len(todo)} clips{before}; {len(saved)} "
        f"{'is' if len(saved) == 1 else 'are'} saved, the clips in flight are done by the "
        "next run", remaining=[j.clip_id for j in todo if j.clip_id not in saved])


def _progress_bar(total: int, progress: bool):
    if not progress or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="clip", desc="preprocess", leave=False)


def _check_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise FacesError("--device cuda: PyTorch sees no CUDA GPU here; use --device cpu, or "
                         "install a CUDA build of torch and onnxruntime-gpu")


def _run_here(jobs: list[ClipJob], detector, options: FaceOptions, frames_root: Path
              ) -> Iterator[ClipResult]:
    """In this process: --jobs 1, a given detector, or the GPU. Decoding runs in a thread
    ahead of detection (FFmpeg releases the GIL), so the two overlap."""
    for job in jobs:
        yield process_clip(job, detector, options, frames_root, prefetch=True)


def _run_batched(jobs: list[ClipJob], detector, options: FaceOptions, frames_root: Path
                 ) -> Iterator[ClipResult]:
    from dfew_build.faces.batched import run_batched

    # Largest clips first: they decode longest, and the batch stays full to the end.
    return run_batched(sorted(jobs, key=_clip_work, reverse=True), detector, options,
                       frames_root)


def _clip_work(job: ClipJob) -> tuple[float, int]:
    """Sort key, largest work first: decoded pixels (frames x size, known for clips cut
    from a movie), then file size. File size alone put a long, easily compressed clip
    behind shorter busy ones (issue 18: the longest clip of the benchmark started third)."""
    try:
        size = os.path.getsize(job.path)
    except OSError:
        size = 0
    return job.pixels, size


def _run_pool(jobs: list[ClipJob], detector: str, model_dir: str | None,
              options: FaceOptions, frames_root: Path, workers: int) -> Iterator[ClipResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    # spawn: a forked child would inherit onnxruntime/torch thread pools in unknown states.
    context = multiprocessing.get_context("spawn")
    finished = 0
    threads = max(1, (os.cpu_count() or 1) // workers)
    # Largest clips first, so no long clip starts last and keeps one worker busy alone.
    jobs = sorted(jobs, key=_clip_work, reverse=True)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker,
                             initargs=(detector, model_dir, options, str(frames_root),
                                       threads)) as pool:
        futures = [pool.submit(run_in_worker, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
                finished += 1
        except BrokenProcessPool:
            raise FacesError(
                f"a preprocessing worker died (out of memory?) after {finished} of "
                f"{len(jobs)} clips; the finished clips are saved. Run again with fewer "
                "--jobs to do the rest") from None
        finally:
            for future in futures:
                future.cancel()


def _run_executor(executor, jobs: list[ClipJob], detector: str, model_dir: str | None,
                  options: FaceOptions, frames_root: Path) -> Iterator[ClipResult]:
    """The clips as tasks of a distributed executor (Ray): the pool's worker functions,
    one CPU and one onnxruntime thread per task, largest clips first. A clip whose worker
    kept dying is recorded as failed (so the next run tries it again)."""
    def failed(job: ClipJob, reason: str) -> ClipResult:
        return ClipResult(job.clip_id, detector, "failed", reason=f"{job.path}: {reason}")

    jobs = sorted(jobs, key=_clip_work, reverse=True)
    yield from executor.map(run_in_worker, jobs, failed=failed,
                            setup=(init_worker, (detector, model_dir, options,
                                                 str(frames_root), 1)))
    # Every task has ended: a folder a killed worker left half-written is stale now.
    remove_stale_temporaries(frames_root)
