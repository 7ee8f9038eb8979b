"""`clips cut`: each accepted clip without a file becomes WS/clips/{clip:05d}.mp4.

Which frames, and how FFmpeg cuts and verifies them: ``clips.cutting`` (docs/clips.md says
the rest). Each clip goes to a `.{clip}.{pid}.part` file, is verified, hashed,
os.replace'd into place and recorded (clip.path workspace-relative, clip.sha256), so an
interrupted run never leaves a half-written clip under its final name and the next run cuts
only what is missing. FFmpeg runs as a child that dies with this process (``media.children``):
a killed run leaves no FFmpeg behind, and its `.part` files are removed by the next run
(their pid is gone). Ctrl-C stops the children, keeps what was recorded and raises
``Interrupted`` saying so.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from dfew_build.clips.cutting import (AUDIO_ARGS, CFR_TOLERANCE, EVEN_CROP,  # noqa: F401
                                      PREROLLS_S, VIDEO_ARGS, CutFile, CutJob, CutPlan,
                                      clip_frames, constant_rate, cut_command, cut_span,
                                      frames_in_span, frames_to_skip, inspect_cut, plan_cut)
from dfew_build.db.models import Clip, Movie
from dfew_build.errors import ClipError, Interrupted
from dfew_build.executors import is_distributed
from dfew_build.media import children
from dfew_build.media.ffmpeg import display_filters, ffmpeg_exe  # noqa: F401 (re-exported)
from dfew_build.media.fingerprint import file_sha256
from dfew_build.tempfiles import pid_alive

CLIPS_SUBDIR = "clips"
_PART = re.compile(r"^\.(\d+)\.(\d+)(?:\.frames)?\.part$")  # clip, pid


def clip_filename(clip_id: int) -> str:
    return f"{clip_id:05d}.mp4"


def clip_relpath(clip_id: int) -> str:
    """clip.path as stored: relative to the workspace root."""
    return f"{CLIPS_SUBDIR}/{clip_filename(clip_id)}"


@dataclass
class CutResult:
    clip_id: int
    sha256: str | None = None
    duration_s: float | None = None
    error: str | None = None


@dataclass
class CutReport:
    cut: list[int] = field(default_factory=list)
    already_cut: int = 0
    failed: dict[int, str] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"cut": len(self.cut), "already_cut": self.already_cut,
                "failed": len(self.failed)}

    def as_dict(self) -> dict:
        return {"summary": self.summary(), "clip_ids": self.cut,
                "failed": {str(k): v for k, v in self.failed.items()}}


def cut_clip(job: CutJob, clips_dir: Path, ffmpeg: str, threads: int = 0) -> CutResult:
    """Cut, verify and move one clip into place. Never raises for a bad clip: the error is
    returned so the other clips go on."""
    if not os.path.isfile(job.movie_path):
        return CutResult(job.clip_id, error=(
            f"the file of movie {job.movie_id} is missing: {job.movie_path} (moved or deleted "
            "since ingest); ingest it at its new path (dfew-build ingest NEW_PATH) and cut again"))
    part = clips_dir / f".{job.clip_id:05d}.{os.getpid()}.part"
    try:
        produced = cut_span(ffmpeg, job, part, threads=threads)
        digest = file_sha256(part)
        os.replace(part, clips_dir / clip_filename(job.clip_id))
        return CutResult(job.clip_id, digest, produced.duration_s)
    except ClipError as exc:
        return CutResult(job.clip_id, error=str(exc))
    except OSError as exc:
        return CutResult(job.clip_id, error=f"cannot write the clip: {exc.strerror}")
    finally:
        part.unlink(missing_ok=True)


def remove_stale_parts(clips_dir: Path) -> int:
    """Delete temporary files left by cut runs that were killed (their process is gone)."""
    removed = 0
    for path in clips_dir.glob(".*.part"):
        match = _PART.match(path.name)
        if match and not pid_alive(int(match.group(2))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def pending_jobs(session, root: Path) -> tuple[list[CutJob], int]:
    """Accepted clips with no verified file (path unset, or its file gone), and how many
    are already cut."""
    jobs, already = [], 0
    rows = session.execute(
        select(Clip, Movie).join(Movie, Clip.movie_id == Movie.id)
        .where(Clip.status == "accepted").order_by(Clip.id))
    for clip, movie in rows:
        if clip.path and clip.sha256 and (root / clip.path).is_file():
            already += 1
            continue
        jobs.append(CutJob(clip.id, movie.id, movie.path, clip.start_s, clip.end_s,
                           movie.fps or 25.0, video_delay_s=movie.video_delay_s,
                           sar=movie.sar, interlaced=movie.interlaced,
                           field_order=movie.field_order, rotation=movie.rotation))
    return jobs, already


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def cut_clips(workspace, *, jobs: int | None = None, progress: bool = False,
              executor=None) -> CutReport:
    """Cut every accepted clip that has no file yet, `jobs` FFmpeg processes at a time.

    Each finished clip is recorded at once, so an interrupted run keeps what it finished.
    executor: a dfew_build.executors executor; a distributed one (Ray) cuts the clips as
    its tasks (each reserving the FFmpeg threads a local run would give a clip, so the
    files are the same bytes), and this process records them.
    """
    from tqdm import tqdm

    jobs = jobs or default_jobs()
    ffmpeg = ffmpeg_exe()
    clips_dir = workspace.clips_dir
    clips_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(clips_dir)
    with workspace.session() as session:
        todo, already = pending_jobs(session, workspace.root)
    report = CutReport(already_cut=already)
    if not todo:
        return report
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if is_distributed(executor):
        try:
            _cut_with(executor, workspace, todo, threads, report, progress)
        except KeyboardInterrupt:
            raise _interrupted(report, len(todo)) from None
        return report
    children.allow()
    # FFmpeg does the work in child processes; threads only wait on them.
    pool = ThreadPoolExecutor(max_workers=jobs)
    futures, recorded = [], set()
    try:
        futures = [pool.submit(cut_clip, job, clips_dir, ffmpeg, threads) for job in todo]
        bar = tqdm(as_completed(futures), total=len(futures), unit="clip", desc="cut",
                   disable=not progress)
        for future in bar:
            _record_cut(workspace, future.result(), report)
            recorded.add(future)
    except KeyboardInterrupt:
        failed = len(report.failed)
        children.stop_all()  # the clips in flight end now (their .part files are removed)
        pool.shutdown(wait=True, cancel_futures=True)
        for future in futures:  # finished while the loop was being interrupted: keep them
            if future not in recorded and future.done() and not future.cancelled():
                result = future.result()
                if not result.error:
                    _record_cut(workspace, result, report)
        report.failed = dict(list(report.failed.items())[:failed])
        raise _interrupted(report, len(todo)) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        children.allow()
    report.cut.sort()
    return report


def _interrupted(report: CutReport, total: int) -> Interrupted:
    """What a Ctrl-C in `clips cut` leaves: the clips cut (recorded) and how to go on."""
    cut = len(report.cut)
    before = f" ({report.already_cut} were cut before)" if report.already_cut else ""
    failed = f", {len(report.failed)} failed" if report.failed else ""
    return Interrupted(f"stopped after {cut} of {total} clips{before}{failed}; "
                       f"{cut} {'is' if cut == 1 else 'are'} saved, the clips in flight were "
                       "stopped and will be cut by the next run")


def _record_cut(workspace, result: CutResult, report: CutReport) -> None:
    if result.error:
        report.failed[result.clip_id] = result.error
        return
    with workspace.session() as session:
        clip = session.get(Clip, result.clip_id)
        clip.path = clip_relpath(result.clip_id)
        clip.sha256 = result.sha256
    report.cut.append(result.clip_id)


# -- a distributed executor (Ray): cut_clip in its workers, recorded here -------------------

_cut_worker: dict = {}


def _cut_setup(clips_dir: str, threads: int) -> None:
    """Once per worker process: its own FFmpeg binary (paths differ between machines)."""
    _cut_worker.update(clips_dir=Path(clips_dir), ffmpeg=ffmpeg_exe(), threads=threads)


def _cut_task(job: CutJob) -> CutResult:
    return cut_clip(job, _cut_worker["clips_dir"], _cut_worker["ffmpeg"],
                    _cut_worker["threads"])


def _cut_with(executor, workspace, todo: list[CutJob], threads: int, report: CutReport,
              progress: bool) -> None:
    from tqdm import tqdm

    def failed(job: CutJob, reason: str) -> CutResult:
        return CutResult(job.clip_id, error=f"{job.where()}: {reason}")

    results = executor.map(_cut_task, todo, setup=(_cut_setup, (str(workspace.clips_dir),
                                                                threads)),
                           cpus=threads, failed=failed)
    try:
        for result in tqdm(results, total=len(todo), unit="clip", desc="cut",
                           disable=not progress):
            _record_cut(workspace, result, report)
        # Every task has ended: what a killed worker left half-written is stale now.
        remove_stale_parts(workspace.clips_dir)
    finally:
        results.close()
    report.cut.sort()
