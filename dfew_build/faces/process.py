"""One clip through the faces stage: decode, detect, align, track, rate, save frames, TIM.

The clip is decoded once, in batches: each batch is detected and every face found is
aligned straight away (a 112x112 warp is far cheaper than decoding the frame again), then
the full frames are dropped. Once the protagonist's track is known, its crops are the
clip's aligned faces; the others are discarded. Memory stays at one batch of frames plus
the small crops.

Runs in a worker process (or in-process with --jobs 1 and on the GPU). The tensor store
and the database are written by the caller, from the returned ClipResult.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dfew_build.errors import DetectorError, DfewError
from dfew_build.faces.align import align_face, align_faces_torch, check_size
from dfew_build.media.decode import DecodeFailed, DecodeStats, iter_frame_batches, prefetched
from dfew_build.faces.store import write_clip_frames
from dfew_build.faces.temporal import check_method, normalise_frames
from dfew_build.faces.track import link_tracks, protagonist


@dataclass(frozen=True)
class FaceOptions:
    frames: int = 16
    size: int = 112
    temporal: str = "tim"
    min_face_rate: float = 0.5
    batch_size: int = 16
    align: str = "cv2"  # "cv2" or "torch" (batched affine_grid/grid_sample)
    device: str = "cpu"
    # The face search, shared with `clips propose` (issue 18): smallest face in pixels of
    # the clip, and the long side the detector searches at (0/None: full resolution).
    min_face: float = 40.0
    detect_size: int | None = 640
    # The whole detector on every detect_every-th frame of a clip, O-Net tracking the
    # faces between (MTCNN; other detectors run on every frame). 1: every frame.
    detect_every: int = 4

    def __post_init__(self):
        from dfew_build.errors import FacesError

        check_size(self.size)
        check_method(self.temporal)
        if not 1 <= self.frames <= 10_000:
            raise FacesError(f"--frames must be at least 1, got {self.frames}")
        if not 0.0 <= self.min_face_rate <= 1.0:
            raise FacesError(f"--min-face-rate must be within [0, 1], got {self.min_face_rate}")
        if self.batch_size < 1:
            raise FacesError(f"the detection batch size must be at least 1, got "
                             f"{self.batch_size}")
        if not self.min_face >= 1:
            raise FacesError(f"--min-face must be at least 1 pixel, got {self.min_face}")
        if self.detect_size is not None and self.detect_size < 12:
            raise FacesError(f"--detect-size must be at least 12 pixels (or 0 for full "
                             f"resolution), got {self.detect_size}")
        if isinstance(self.detect_every, bool) or not isinstance(self.detect_every, int) \
                or not 1 <= self.detect_every <= 1000:
            raise FacesError(f"--detect-every must be a whole number within [1, 1000], got "
                             f"{self.detect_every!r}")
        if self.align not in ("cv2", "torch"):
            raise FacesError(f"unknown alignment backend {self.align!r}; use cv2 or torch")


@dataclass
class ClipJob:
    clip_id: int
    path: str  # absolute
    # Estimated work, decoded pixels (frames x width x height of its movie); 0 when
    # unknown (an imported clip): the scheduler then goes by file size.
    pixels: float = 0.0


@dataclass
class ClipResult:
    clip_id: int
    detector: str
    status: str  # kept | dropped_low_face_rate | failed
    frames_total: int = 0
    frames_with_face: int = 0
    reason: str | None = None
    storage: str | None = None           # the aligned-frames folder (absolute here)
    face_frames: list[int] = field(default_factory=list)  # protagonist frames, 0-based
    tensor: np.ndarray | None = None     # [T, size, size, 3] uint8 RGB when kept
    seconds: float = 0.0

    @property
    def face_rate(self) -> float:
        return self.frames_with_face / self.frames_total if self.frames_total else 0.0

    def as_dict(self) -> dict:
        return {"clip_id": self.clip_id, "detector": self.detector, "status": self.status,
                "frames_total": self.frames_total, "frames_with_face": self.frames_with_face,
                "face_rate": round(self.face_rate, 4), "reason": self.reason,
                "storage": self.storage}


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%".replace(".0%", "%")


def _align_batch(frames: list[np.ndarray], faces, options: FaceOptions) -> list[list]:
    """Aligned crops (BGR) of every detected face, per frame; None for a face whose
    landmarks do not define a transform."""
    crops: list[list] = [[None] * len(f) for f in faces]
    wanted = [(i, k) for i, f in enumerate(faces) for k in range(len(f))
              if np.isfinite(f.landmarks[k]).all()]
    if not wanted:
        return crops
    if options.align == "torch":
        # One grid_sample call per frame size (a clip's frames normally share one).
        by_shape: dict[tuple, list] = {}
        for i, k in wanted:
            by_shape.setdefault(frames[i].shape, []).append((i, k))
        for members in by_shape.values():
            used = sorted({i for i, _ in members})
            position = {i: p for p, i in enumerate(used)}
            stack = np.stack([frames[i] for i in used])
            out = align_faces_torch(stack, [position[i] for i, _ in members],
                                    np.stack([faces[i].landmarks[k] for i, k in members]),
                                    options.size, options.device).cpu().numpy()
            for (i, k), crop in zip(members, out):
                crops[i][k] = crop
    else:
        for i, k in wanted:
            crops[i][k] = align_face(frames[i], faces[i].landmarks[k], options.size)
    return crops


def process_clip(job: ClipJob, detector, options: FaceOptions, frames_root: Path,
                 prefetch: bool = False) -> ClipResult:
    """Run one clip; every problem with the clip ends up in the result, never raised."""
    import time

    start = time.perf_counter()
    result = ClipResult(job.clip_id, detector.name, "failed")
    try:
        _process(job, detector, options, Path(frames_root), result, prefetch)
    except DecodeFailed as exc:
        result.status, result.reason = "failed", f"cannot decode {job.path}: {exc}"
    except DfewError as exc:
        result.status, result.reason = "failed", str(exc)
    except MemoryError:
        result.status = "failed"
        result.reason = (f"out of memory after {result.frames_total} frames of {job.path}; "
                         "run with fewer --jobs")
    except Exception as exc:  # noqa: BLE001 - one clip's surprise must not stop the batch
        result.status = "failed"
        result.reason = (f"unexpected error after {result.frames_total} frames of {job.path}: "
                         f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - start
    return result


def _process(job: ClipJob, detector, options: FaceOptions, frames_root: Path,
             result: ClipResult, prefetch: bool) -> None:
    path = Path(job.path)
    if not path.is_file():
        result.reason = (f"clip file not found: {path}; cut the clip again "
                         "(dfew-build clips cut) or fix clip.path")
        return
    stats = DecodeStats()
    found = ClipFaces()
    batches = iter_frame_batches(path, batch_size(options), stats)
    first = 0  # clip frame number of the batch's first frame (stats runs ahead: prefetch)
    for batch in (prefetched(batches) if prefetch else batches):
        found.add(batch, detect_checked(detector, batch, options, first), options)
        first += len(batch)
        result.frames_total = stats.frames
    finish_clip(job, found, stats, options, frames_root, result)


def batch_size(options: FaceOptions) -> int:
    """Frames per detection call: options.batch_size rounded up to a multiple of
    detect_every, so every call starts on a keyframe and results do not depend on it."""
    every = options.detect_every
    return -(-options.batch_size // every) * every


def detect_checked(detector, frames: list[np.ndarray], options: FaceOptions | None = None,
                   first_index: int = 0) -> list:
    """detector's faces (one FrameFaces per frame) for consecutive frames of one clip,
    frames[0] being clip frame first_index; see detect_runs."""
    return detect_runs(detector, [(frames, first_index)], options)[0]


def detect_runs(detector, runs: list[tuple[list[np.ndarray], int]],
                options: FaceOptions | None = None) -> list[list]:
    """Faces of several runs of consecutive frames, each run of one clip, in one call:
    [(frames, first_index), ...] -> one list of FrameFaces per run (the batched path
    sends runs of many clips). With options.detect_every > 1 and a detector that tracks
    (MTCNN's detect_runs: keyframes plus O-Net between), else every frame detected.
    Raises DetectorError when the detector returns the wrong number of results."""
    every = options.detect_every if options is not None else 1
    if every > 1 and hasattr(detector, "detect_runs"):
        per_run = detector.detect_runs(runs, every)
    else:
        flat = detector.detect([f for frames, _ in runs for f in frames])
        wanted = sum(len(frames) for frames, _ in runs)
        if len(flat) != wanted:
            raise DetectorError(f"detector {detector.name} returned {len(flat)} results "
                                f"for {wanted} frames")
        per_run, at = [], 0
        for frames, _ in runs:
            per_run.append(flat[at:at + len(frames)])
            at += len(frames)
    for (frames, _), faces in zip(runs, per_run):
        if len(faces) != len(frames):
            raise DetectorError(f"detector {detector.name} returned {len(faces)} results "
                                f"for {len(frames)} frames")
    return per_run


@dataclass
class ClipFaces:
    """A clip's usable faces so far, frame by frame: boxes [k, 4] and aligned BGR crops."""
    boxes: list[np.ndarray] = field(default_factory=list)
    crops: list[list] = field(default_factory=list)

    def add(self, frames: list[np.ndarray], faces: list, options: FaceOptions,
            aligned: list[list] | None = None) -> None:
        """Append the next frames' detections (aligned here unless `aligned` is given)."""
        aligned = aligned if aligned is not None else _align_batch(frames, faces, options)
        # A face that could not be aligned is not a usable face: leave it out of tracking.
        for frame_faces, frame_crops in zip(faces, aligned):
            usable = [k for k, c in enumerate(frame_crops) if c is not None]
            self.boxes.append(frame_faces.boxes[usable])
            self.crops.append([frame_crops[k] for k in usable])


def finish_clip(job: ClipJob, found: ClipFaces, stats: DecodeStats, options: FaceOptions,
                frames_root: Path, result: ClipResult) -> None:
    """Track the protagonist, rate, and for a kept clip write its aligned frames and the
    T-frame tensor; fills result."""
    boxes, crops = found.boxes, found.crops
    result.frames_total = stats.frames
    track = protagonist(link_tracks(boxes))
    result.face_frames = list(track.frames) if track is not None else []
    result.frames_with_face = len(result.face_frames)
    notes = [n for n in (stats.damage_note(),) if n]
    if result.frames_with_face == 0:
        result.status = "dropped_low_face_rate"
        result.reason = "; ".join([f"no face found in any of the {stats.frames} frames"]
                                  + notes)
        return
    if result.face_rate < options.min_face_rate:
        result.status = "dropped_low_face_rate"
        result.reason = "; ".join(
            [f"face in {result.frames_with_face} of {stats.frames} frames "
             f"({_percent(result.face_rate)}), under the minimum face rate "
             f"{_percent(options.min_face_rate)}"] + notes)
        return
    faces_bgr = np.stack([crops[f][d] for f, d in zip(track.frames, track.detections)])
    result.storage = str(write_clip_frames(frames_root, job.clip_id, faces_bgr))
    tensor = normalise_frames(faces_bgr, options.frames, options.temporal)
    result.tensor = np.ascontiguousarray(tensor[..., ::-1])  # BGR -> RGB for the store
    result.status = "kept"
    result.reason = "; ".join(notes) or None


# -- worker processes ----------------------------------------------------------------------

_worker: dict = {}


def init_worker(detector_name: str, model_dir: str | None, options: FaceOptions,
                frames_root: str, threads: int = 1) -> None:
    """Process-pool initializer: one detector per worker with `threads` onnxruntime
    threads (cores / workers, so workers do not fight over cores)."""
    import cv2

    from dfew_build.faces.detectors import create_detector

    cv2.setNumThreads(1)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    _worker["detector"] = create_detector(detector_name, model_dir=model_dir, device="cpu",
                                          threads=threads, min_face=options.min_face,
                                          detect_size=options.detect_size)
    _worker["options"] = options
    _worker["frames_root"] = Path(frames_root)


def run_in_worker(job: ClipJob) -> ClipResult:
    # The decoder in a thread ahead of detection, as with --jobs 1: a worker whose
    # neighbour is idle (the last clips) still uses both its decoder and its detector.
    return process_clip(job, _worker["detector"], _worker["options"], _worker["frames_root"],
                        prefetch=True)
