"""`clips cut`: each accepted clip without a file becomes WS/clips/{clip:05d}.mp4.

Cutting re-encodes (H.264, AAC audio when the movie has audio) with the FFmpeg binary that
imageio-ffmpeg ships, seeking on the input so the first frame is the one at start_s
(frame-accurate, unlike a stream copy that starts at the previous keyframe). Each clip is
written to a temporary `.NNNNN.PID.part` file, probed (its video must last end - start
within one frame of the movie), hashed, and only then renamed into place with os.replace
and recorded (clip.path is workspace-relative, e.g. `clips/00042.mp4`; clip.sha256 the
SHA-256 of the file). An interrupted run therefore never leaves a half-written clip under
its final name, and the next run cuts only what is missing.
"""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from dfew_build.db.models import Clip, Movie
from dfew_build.errors import ClipError, ProbeError
from dfew_build.media.fingerprint import file_sha256
from dfew_build.media.probe import probe

CLIPS_SUBDIR = "clips"
_PART = re.compile(r"^\.(\d+)\.(\d+)\.part$")
# x264 at this quality is visually lossless for faces; veryfast keeps cutting I/O-bound.
VIDEO_ARGS = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
              # yuv420p needs even dimensions; a no-op for even-sized movies.
              "-vf", "crop=trunc(iw/2)*2:trunc(ih/2)*2",
              # Keep the movie's own frame times: no frames duplicated or dropped to fit a
              # guessed constant rate (variable-rate phone videos), and no rounding of them
              # to a coarse 1/fps time base.
              "-fps_mode", "passthrough", "-enc_time_base:v", "demux")
AUDIO_ARGS = ("-c:a", "aac", "-b:a", "128k")


def clip_filename(clip_id: int) -> str:
    return f"{clip_id:05d}.mp4"


def clip_relpath(clip_id: int) -> str:
    """clip.path as stored: relative to the workspace root."""
    return f"{CLIPS_SUBDIR}/{clip_filename(clip_id)}"


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise ClipError(f"no FFmpeg binary to cut clips with ({exc}); install it with: "
                        "pip install imageio-ffmpeg") from None


@dataclass(frozen=True)
class CutJob:
    clip_id: int
    movie_id: int
    movie_path: str
    start_s: float
    end_s: float
    fps: float


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


def cut_span(ffmpeg: str, movie_path: str, start_s: float, end_s: float, target: Path, *,
             threads: int = 0) -> None:
    """Re-encode [start_s, end_s) of a movie into target (MP4); ClipError on failure."""
    command = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y",
               "-ss", f"{start_s:.6f}", "-i", movie_path, "-t", f"{end_s - start_s:.6f}",
               "-map", "0:v:0", "-map", "0:a:0?", *VIDEO_ARGS, *AUDIO_ARGS,
               "-threads", str(threads), "-movflags", "+faststart", "-f", "mp4", str(target)]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, errors="replace")
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise ClipError(f"FFmpeg failed: {reason}")


def cut_clip(job: CutJob, clips_dir: Path, ffmpeg: str, threads: int = 0) -> CutResult:
    """Cut, verify and move one clip into place. Never raises for a bad clip: the error is
    returned so the other clips go on."""
    if not os.path.isfile(job.movie_path):
        return CutResult(job.clip_id, error=(
            f"the file of movie {job.movie_id} is missing: {job.movie_path} (moved or deleted "
            "since ingest); ingest it at its new path (dfew-build ingest NEW_PATH) and cut again"))
    part = clips_dir / f".{job.clip_id:05d}.{os.getpid()}.part"
    try:
        cut_span(ffmpeg, job.movie_path, job.start_s, job.end_s, part, threads=threads)
        try:
            produced = probe(part)
        except ProbeError as exc:
            raise ClipError(f"the cut file is unreadable: {exc}") from None
        expected = job.end_s - job.start_s
        tolerance = 1.0 / job.fps + 1e-3
        if abs(produced.duration_s - expected) > tolerance:
            raise ClipError(f"the cut lasts {produced.duration_s:.3f} s instead of "
                            f"{expected:.3f} s (more than one frame off); the movie may be "
                            "damaged around this span")
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
        if match and not _alive(int(match.group(2))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
                           movie.fps or 25.0))
    return jobs, already


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def cut_clips(workspace, *, jobs: int | None = None, progress: bool = False) -> CutReport:
    """Cut every accepted clip that has no file yet, `jobs` FFmpeg processes at a time.

    Each finished clip is recorded at once, so an interrupted run keeps what it finished.
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
    # FFmpeg does the work in child processes; threads only wait on them.
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(cut_clip, job, clips_dir, ffmpeg, threads) for job in todo]
        bar = tqdm(as_completed(futures), total=len(futures), unit="clip", desc="cut",
                   disable=not progress)
        for future in bar:
            result = future.result()
            if result.error:
                report.failed[result.clip_id] = result.error
                continue
            with workspace.session() as session:
                clip = session.get(Clip, result.clip_id)
                clip.path = clip_relpath(result.clip_id)
                clip.sha256 = result.sha256
            report.cut.append(result.clip_id)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    report.cut.sort()
    return report
