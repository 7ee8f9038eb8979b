"""`clips propose`: candidate clips for extractors to confirm.

Per movie: shots from PySceneDetect's ContentDetector (clips.propose.scene_threshold),
faces counted on frames sampled at clips.propose.face_sample_fps with a face detector
(DESIGN.md §7), then windows of clips.propose.clip_length_s laid end to end from each
shot's start. A window becomes a candidate when at least clips.propose.min_face_fraction
of its sampled frames show exactly one face (DFEW's clips follow one protagonist) and it
does not overlap an existing clip of the movie (accepted, candidate or rejected) by more
than clips.max_overlap. The most face-filled clips.propose.max_per_movie are kept.

Candidates are stored with source `proposed`, status `candidate`, no extractor; they count
toward the per-movie limit only once confirmed. Re-running skips movies that already have
proposals (use `again` to look again; existing spans are never proposed twice).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

from sqlalchemy import select

from dfew_build.clips.library import movie_label, resolve_movie
from dfew_build.clips.rules import ClipRules, clip_rules, overlaps_too_much
from dfew_build.db.models import Clip, Movie
from dfew_build.errors import ClipError, DfewError

MAX_SAMPLE_SIDE = 640  # frames are shrunk to this for face sampling (cheap, faces stay big)
DETECT_BATCH = 16


@dataclass
class MovieProposal:
    movie_id: int
    movie: str
    status: str  # "proposed", "skipped" (had proposals), "failed"
    shots: int = 0
    samples: int = 0
    windows: int = 0
    candidates: list[int] = field(default_factory=list)
    message: str = ""


@dataclass
class ProposeReport:
    movies: list[MovieProposal] = field(default_factory=list)

    def summary(self) -> dict:
        return {"movies": len(self.movies),
                "proposed": sum(m.status == "proposed" for m in self.movies),
                "skipped": sum(m.status == "skipped" for m in self.movies),
                "failed": sum(m.status == "failed" for m in self.movies),
                "candidates": sum(len(m.candidates) for m in self.movies)}

    def as_dict(self) -> dict:
        return {"summary": self.summary(), "movies": [asdict(m) for m in self.movies]}


def detect_shots(path: str, threshold: float, duration_s: float) -> list[tuple[float, float]]:
    """Shots as (start, end) seconds; the whole movie is one shot when there is no cut."""
    from scenedetect import ContentDetector, SceneManager, open_video

    try:
        video = open_video(path, backend="opencv")
    except Exception as exc:  # PySceneDetect raises several kinds for unreadable input
        raise ClipError(f"cannot read {path} for shot detection: {exc}") from None
    manager = SceneManager()
    manager.add_detector(ContentDetector(threshold=threshold))
    manager.detect_scenes(video, show_progress=False)
    shots = [(float(a.seconds), min(float(b.seconds), duration_s))
             for a, b in manager.get_scene_list(start_in_scene=True)]
    return [(a, b) for a, b in shots if b > a] or [(0.0, duration_s)]


def sample_faces(path: str, fps: float, detector) -> list[tuple[float, int]]:
    """(time in seconds, number of faces) for frames sampled every 1/fps seconds."""
    import av
    import cv2

    times: list[float] = []
    frames = []
    counts: list[int] = []

    def flush() -> None:
        counts.extend(len(faces) for faces in detector.detect(frames))
        frames.clear()

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            next_time = 0.0
            for frame in container.decode(stream):
                if frame.time is None or frame.time + 1e-6 < next_time:
                    continue
                image = frame.to_ndarray(format="bgr24")
                scale = MAX_SAMPLE_SIDE / max(image.shape[:2])
                if scale < 1:
                    image = cv2.resize(image, None, fx=scale, fy=scale,
                                       interpolation=cv2.INTER_AREA)
                times.append(float(frame.time))
                frames.append(image)
                next_time = float(frame.time) + 1.0 / fps
                if len(frames) >= DETECT_BATCH:
                    flush()
    except av.FFmpegError as exc:
        raise ClipError(f"cannot decode {path} for face sampling: {exc}") from None
    if frames:
        flush()
    return list(zip(times, counts))


def candidate_windows(shots: list[tuple[float, float]], samples: list[tuple[float, int]],
                      length: float, min_fraction: float) -> list[tuple[float, float, float]]:
    """(start, end, one-face fraction) of each window that passes, best first."""
    windows = []
    for shot_start, shot_end in shots:
        start = shot_start
        while start + length <= shot_end + 1e-6:
            end = min(start + length, shot_end)
            inside = [n for t, n in samples if start <= t < end]
            if inside:
                fraction = sum(n == 1 for n in inside) / len(inside)
                if fraction >= min_fraction:
                    windows.append((round(start, 6), round(end, 6), fraction))
            start += length
    windows.sort(key=lambda w: (-w[2], w[0]))
    return windows


def propose_movie(session, movie: Movie, rules: ClipRules, detector) -> MovieProposal:
    settings = rules.propose
    result = MovieProposal(movie.id, os.path.basename(movie.path), "proposed")
    if not os.path.isfile(movie.path):
        raise ClipError(f"the file of {movie_label(movie)} is missing: {movie.path} (moved or "
                        "deleted since ingest); ingest it at its new path first")
    duration = movie.duration_s or 0.0
    shots = detect_shots(movie.path, settings.scene_threshold, duration)
    samples = sample_faces(movie.path, settings.face_sample_fps, detector)
    windows = candidate_windows(shots, samples, settings.clip_length_s,
                                settings.min_face_fraction)
    result.shots, result.samples, result.windows = len(shots), len(samples), len(windows)
    existing = list(session.scalars(select(Clip).where(Clip.movie_id == movie.id)))
    spans = [(c.start_s, c.end_s) for c in existing]
    room = settings.max_per_movie - sum(c.status == "candidate" for c in existing)
    for start, end, _ in windows:
        if len(result.candidates) >= room:
            break
        if any(overlaps_too_much((start, end), span, rules.max_overlap) for span in spans):
            continue
        clip = Clip(movie_id=movie.id, start_s=start, end_s=end, duration_s=end - start,
                    source="proposed", status="candidate")
        session.add(clip)
        session.flush()
        spans.append((start, end))
        result.candidates.append(clip.id)
    result.candidates.sort()
    return result


def propose_clips(workspace, movies: Iterable | None = None, *, detector=None,
                  make_detector: Callable[[], object] | None = None, again: bool = False,
                  progress: bool = False) -> ProposeReport:
    """Propose candidates for the given movies (ids, names or paths; default: every readable
    movie). detector: any FaceDetector; else make_detector() or create_detector("auto"),
    called only when a movie needs it. Each movie is committed on its own; a failing movie
    does not stop the others."""
    from tqdm import tqdm

    rules = clip_rules(workspace.config)
    with workspace.session() as session:
        if movies:
            chosen = [resolve_movie(session, ref).id for ref in movies]
        else:
            chosen = list(session.scalars(
                select(Movie.id).where(Movie.status == "ok").order_by(Movie.id)))
        done = set(session.scalars(select(Clip.movie_id).where(Clip.source == "proposed")))
    report = ProposeReport()
    for movie_id in tqdm(list(dict.fromkeys(chosen)), unit="movie", desc="propose",
                         disable=not progress):
        with workspace.session() as session:
            movie = session.get(Movie, movie_id)
            if movie_id in done and not again:
                report.movies.append(MovieProposal(
                    movie.id, os.path.basename(movie.path), "skipped",
                    message="already has proposals (use --again to look again)"))
                continue
            if detector is None:
                if make_detector is None:
                    from dfew_build.faces.detectors import create_detector

                    make_detector = create_detector
                detector = make_detector()
            try:
                with session.begin_nested():
                    report.movies.append(propose_movie(session, movie, rules, detector))
            except DfewError as exc:
                report.movies.append(MovieProposal(
                    movie.id, os.path.basename(movie.path), "failed", message=str(exc)))
    return report
