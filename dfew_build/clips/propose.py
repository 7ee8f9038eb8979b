"""`clips propose`: candidate clips for extractors to confirm.

Per movie, in one pass of the decoder (dfew_build.media.decode: frames as displayed, on
the timeline whose first video frame is 0 s): shots from PySceneDetect's ContentDetector
(clips.propose.scene_threshold), faces counted on frames sampled at
clips.propose.face_sample_fps with a face detector at display resolution (DESIGN.md §7),
then windows of clips.propose.clip_length_s laid end to end from each
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
from dfew_build.errors import ClipError, DfewError, Interrupted
from dfew_build.executors import is_distributed

DETECT_BATCH = 16
SHOT_WIDTH = 256  # PySceneDetect's own downscale target for content detection


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
    planned: list[int] = field(default_factory=list)  # the movie ids this run looks at

    def summary(self) -> dict:
        return {"movies": len(self.movies),
                "proposed": sum(m.status == "proposed" for m in self.movies),
                "skipped": sum(m.status == "skipped" for m in self.movies),
                "failed": sum(m.status == "failed" for m in self.movies),
                "candidates": sum(len(m.candidates) for m in self.movies)}

    def as_dict(self) -> dict:
        return {"summary": self.summary(), "movies": [asdict(m) for m in self.movies]}


def scan_movie(movie: Movie, threshold: float, sample_fps: float, detector,
               on_time: Callable[[float], None] | None = None,
               ) -> tuple[list[tuple[float, float]], list[tuple[float, int]]]:
    """Shots and face samples of a movie from ONE pass of the decoder (DESIGN.md §7).

    Every frame, shrunk as PySceneDetect would (about 256 px wide), goes through its
    ContentDetector; every 1/sample_fps seconds a frame at display resolution goes to the
    face detector, so the minimum face size is the one preprocessing uses on the cut clip
    (issue 12: small faces in wide shots were lost to a 640 px shrink). Times are on the
    movie's timeline (first video frame = 0 s), the same one clips are cut on.

    on_time: called now and then with the movie time (seconds) decoded so far, for
    progress in movie seconds.

    Returns (shots as (start, end) seconds, (time, number of faces) per sampled frame).
    Raises ClipError when the movie cannot be decoded.
    """
    from scenedetect import ContentDetector, FrameTimecode

    from dfew_build.media.decode import (DecodeFailed, Display, VideoReader, to_display,
                                         to_display_small)

    display = Display.of_movie(movie)
    reader = VideoReader(movie.path, display, start_offset_s=movie.start_s)
    fps = float(movie.fps or 25.0)
    shot_detector = ContentDetector(threshold=threshold)
    times: list[float] = []
    cuts: list = []
    samples: list[tuple[float, int]] = []
    batch_times: list[float] = []
    batch: list = []

    def flush() -> None:
        samples.extend(zip(batch_times, (len(f) for f in detector.detect(batch))))
        batch.clear()
        batch_times.clear()

    next_sample = 0.0
    try:
        for index, (t, frame) in enumerate(reader.decoded()):
            width = display.display_size(frame.width, frame.height)[0]
            small = to_display_small(frame, display, _shot_side(frame, display, width))
            cuts.extend(shot_detector.process_frame(FrameTimecode(index, fps), small))
            times.append(t)
            if t + 1e-6 >= next_sample:
                batch.append(to_display(frame, display))
                batch_times.append(t)
                next_sample = t + 1.0 / sample_fps
                if len(batch) >= DETECT_BATCH:
                    flush()
                    if on_time is not None:
                        on_time(t)
        if times:
            cuts.extend(shot_detector.post_process(FrameTimecode(len(times), fps)))
    except DecodeFailed as exc:
        raise ClipError(f"cannot decode {movie.path}: {exc}") from None
    if batch:
        flush()
    duration = float(movie.duration_s or (times[-1] + 1.0 / fps if times else 0.0))
    bounds = sorted({times[c.frame_num] for c in cuts if 0 < c.frame_num < len(times)})
    edges = [0.0] + bounds + [duration]
    shots = [(a, min(b, duration)) for a, b in zip(edges, edges[1:]) if b > a]
    return shots or [(0.0, duration)], samples


def _shot_side(frame, display, width: int) -> int:
    """Long side after PySceneDetect's integer downscale factor (width // 256)."""
    w, h = display.display_size(frame.width, frame.height)
    factor = max(1, width // SHOT_WIDTH)
    return max(w, h) // factor


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


def propose_movie(session, movie: Movie, rules: ClipRules, detector,
                  scanned: tuple[list, list] | None = None,
                  on_time: Callable[[float], None] | None = None) -> MovieProposal:
    """scanned: scan_movie's (shots, samples) when found elsewhere (a Ray worker).
    on_time: scan_movie's progress callback (movie seconds decoded)."""
    settings = rules.propose
    result = MovieProposal(movie.id, os.path.basename(movie.path), "proposed")
    if not os.path.isfile(movie.path):
        raise ClipError(f"the file of {movie_label(movie)} is missing: {movie.path} (moved or "
                        "deleted since ingest); ingest it at its new path first")
    shots, samples = scanned if scanned is not None else scan_movie(
        movie, settings.scene_threshold, settings.face_sample_fps, detector, on_time)
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


def _skipped(movie: Movie) -> MovieProposal:
    return MovieProposal(movie.id, os.path.basename(movie.path), "skipped",
                         message="already has proposals (use --again to look again)")


def proposal_detector(workspace, name: str = "auto", **kwargs):
    """The face detector for proposals, with the search settings preprocessing uses
    ([faces] min_face and detect_size), so a face preprocessing would keep is proposed."""
    from dfew_build.faces.detectors import create_detector
    from dfew_build.faces.pipeline import faces_options

    options = faces_options(workspace)
    return create_detector(name, min_face=options.min_face, detect_size=options.detect_size,
                           **kwargs)


def propose_clips(workspace, movies: Iterable | None = None, **options) -> ProposeReport:
    """Propose candidates for the given movies (ids, names or paths; default: every readable
    movie). detector: any FaceDetector; else make_detector() or proposal_detector(workspace),
    called only when a movie needs it. Each movie is committed on its own; a failing movie
    does not stop the others.

    executor: a dfew_build.executors executor; a distributed one (Ray) scans the movies as
    its tasks, each worker with a detector made from detector_options (proposal_detector's
    name, model_dir, device), and this process records them in movie order, as a local run
    does (same candidates, same clip ids).

    Options: detector, make_detector, again, progress, executor, detector_options (as
    above). Ctrl-C raises Interrupted naming the movies done (their candidates are saved)
    and the ones left.
    """
    report = ProposeReport()
    try:
        return _propose_clips(workspace, movies, report=report, **options)
    except KeyboardInterrupt:
        done = {m.movie_id for m in report.movies}
        left = [m for m in report.planned if m not in done]
        proposed = sum(m.status == "proposed" for m in report.movies)
        raise Interrupted(
            f"stopped after {len(done)} of {len(report.planned)} movies; the "
            f"{report.summary()['candidates']} new candidates of the {proposed} movies "
            "proposed are saved, the movie in progress is looked at by the next run",
            remaining=left) from None


def _propose_clips(workspace, movies: Iterable | None = None, *, report: ProposeReport,
                   detector=None, make_detector: Callable[[], object] | None = None,
                   again: bool = False, progress: bool = False, executor=None,
                   detector_options: dict | None = None) -> ProposeReport:
    rules = clip_rules(workspace.config)
    with workspace.session() as session:
        if movies:
            chosen = [resolve_movie(session, ref).id for ref in movies]
        else:
            chosen = list(session.scalars(
                select(Movie.id).where(Movie.status == "ok").order_by(Movie.id)))
        done = set(session.scalars(select(Clip.movie_id).where(Clip.source == "proposed")))
    report.planned = list(dict.fromkeys(chosen))
    if is_distributed(executor):
        if detector is not None or make_detector is not None:
            raise ClipError("a distributed executor makes a detector in each worker: give "
                            "detector_options (name, model_dir, device), not a detector")
        _propose_with(executor, workspace, list(dict.fromkeys(chosen)), done, again, rules,
                      detector_options or {}, progress, report)
        return report
    chosen = list(dict.fromkeys(chosen))
    with MovieSecondsBar(workspace, [m for m in chosen if again or m not in done],
                         progress) as bar:
        for movie_id in chosen:
            with workspace.session() as session:
                movie = session.get(Movie, movie_id)
                if movie_id in done and not again:
                    report.movies.append(_skipped(movie))
                    continue
                if detector is None:
                    detector = (make_detector or (lambda: proposal_detector(workspace)))()
                bar.start(movie)
                try:
                    with session.begin_nested():
                        report.movies.append(propose_movie(session, movie, rules, detector,
                                                           on_time=bar.at))
                except DfewError as exc:
                    report.movies.append(MovieProposal(
                        movie.id, os.path.basename(movie.path), "failed", message=str(exc)))
                bar.finish()
    return report


class MovieSecondsBar:
    """tqdm progress in seconds of movie (issue 17 item 15): a feature film no longer sits
    at 0/1 movies for many minutes; the rate and ETA are in movie seconds."""

    def __init__(self, workspace, movie_ids: list[int], enabled: bool):
        from tqdm import tqdm

        with workspace.session() as session:
            total = sum(float(session.get(Movie, m).duration_s or 0.0) for m in movie_ids)
        self.bar = tqdm(total=total, unit="s", unit_scale=True, desc="propose",
                        disable=not enabled, bar_format=(
                            "{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} movie s "
                            "[{elapsed}<{remaining}, {rate_fmt}]"))
        self.base = self.done = 0.0
        self.length = 0.0

    def start(self, movie: Movie) -> None:
        self.length = float(movie.duration_s or 0.0)
        self.bar.set_description_str(f"propose {os.path.basename(movie.path)}", refresh=False)

    def at(self, t: float) -> None:
        """The current movie is decoded up to t seconds."""
        target = min(self.base + min(max(t, 0.0), self.length), self.bar.total)
        if target > self.done:
            self.bar.update(target - self.done)
            self.done = target

    def finish(self) -> None:
        self.at(self.length)
        self.base += self.length

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "MovieSecondsBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- a distributed executor (Ray): scan_movie in its workers, recorded here ----------------

_scan_worker: dict = {}


def _scan_setup(detector_spec: dict) -> None:
    from dfew_build.faces.detectors import create_detector

    _scan_worker["detector"] = create_detector(**detector_spec)


def _scan_task(job: tuple) -> tuple:
    """(snapshot of a movie row, threshold, sample fps) -> ("ok", shots, samples), or
    ("failed", message) for what a local run reports as the movie's failure."""
    movie, threshold, sample_fps = job
    try:
        return ("ok", *scan_movie(movie, threshold, sample_fps, _scan_worker["detector"]))
    except DfewError as exc:
        return ("failed", str(exc))


def _propose_with(executor, workspace, movie_ids: list[int], done: set, again: bool,
                  rules: ClipRules, detector_options: dict, progress: bool,
                  report: ProposeReport) -> None:
    from types import SimpleNamespace

    from dfew_build.faces.pipeline import faces_options

    settings = rules.propose
    scans = []  # the movies to scan (file present), in movie order
    with workspace.session() as session:
        for movie_id in movie_ids:
            movie = session.get(Movie, movie_id)
            if (again or movie_id not in done) and os.path.isfile(movie.path):
                row = {c.key: getattr(movie, c.key) for c in Movie.__table__.columns}
                scans.append((SimpleNamespace(**row), settings.scene_threshold,
                              settings.face_sample_fps))
    spec = {}
    if scans:
        # Made here too: a missing model pack fails now, in one line, and "auto" resolves
        # to one name for every worker. One onnxruntime thread per task (one CPU each).
        options = faces_options(workspace)
        spec = {"name": detector_options.get("name", "auto"), "device": "cpu",
                **{k: v for k, v in detector_options.items() if k != "name"},
                "min_face": options.min_face, "detect_size": options.detect_size,
                "threads": 1}
        spec["name"] = proposal_detector(workspace, **{
            k: v for k, v in spec.items() if k not in ("min_face", "detect_size")}).name
    bar = MovieSecondsBar(workspace, [m for m in movie_ids if again or m not in done],
                          progress)
    results = executor.map(_scan_task, scans, setup=(_scan_setup, (spec,)), ordered=True,
                           failed=lambda job, reason: ("failed", f"{job[0].path}: {reason}"))
    scanned = {job[0].id for job in scans}
    try:
        for movie_id in movie_ids:
            with workspace.session() as session:
                movie = session.get(Movie, movie_id)
                if movie_id in done and not again:
                    report.movies.append(_skipped(movie))
                    continue
                bar.start(movie)
                # Not scanned: its file is missing, and propose_movie says so as locally.
                outcome = next(results) if movie_id in scanned else None
                try:
                    with session.begin_nested():
                        if outcome is not None and outcome[0] == "failed":
                            raise ClipError(outcome[1])
                        report.movies.append(propose_movie(
                            session, movie, rules, None,
                            scanned=None if outcome is None else outcome[1:]))
                except DfewError as exc:
                    report.movies.append(MovieProposal(
                        movie.id, os.path.basename(movie.path), "failed", message=str(exc)))
                bar.finish()
    finally:
        bar.close()
        results.close()
