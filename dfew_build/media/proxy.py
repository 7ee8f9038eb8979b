"""The H.264 proxies the extractor page plays instead of movies a browser cannot play.

Which movies those are is media.playback's `browser_playable` (the probe records it at
ingest; its names are re-exported here); `make_proxies` writes
``WS/proxies/{movie:05d}.mp4`` for the others: H.264 yuv420p (x264 ``veryfast``, CRF 23),
AAC audio, ``+faststart`` so playback starts before the whole file arrives.

A proxy keeps the movie's timeline (DESIGN.md §7): its first video frame is at 0 s and
frame n is shown at the same time as frame n of the movie as every stage decodes it, so a
time marked on the proxy is a time in the movie. FFmpeg's own clock starts at the
*container's* start, which can lie before the first video frame (an AVI's first MPEG-4
frame at 0.042 s behind B-frame reordering, an MPEG-TS whose audio starts first); instead of
an input seek by that delay (a float that, rounded up, drops the first frame, and a seek
that containers without an index may miss), the video is re-timed by ``setpts=PTS-STARTPTS``
(exactly the first decoded frame) and the audio is shifted by the same delay
(``atrim`` + ``asetpts``), keeping lip sync. ``-fps_mode passthrough`` with the demuxer's
time base keeps every frame and its time (no frame dropped or duplicated to fit a rate).
Pictures come out as displayed: FFmpeg autorotates, and media.ffmpeg.display_filters
deinterlaces and squares the pixels from the movie's record.

Each proxy is written to a temporary ``.NNNNN.PID.part`` file, checked (H.264, as many
frames as the movie within one, first frame at 0 s), tagged with the movie's fingerprint and
only then renamed into place with os.replace and recorded (movie.proxy_path, workspace-
relative). Re-running skips a proxy whose file carries the movie's fingerprint; a failure
is recorded for its movie and the batch goes on.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from dfew_build.errors import DfewError, ProxyError
from dfew_build.media import children
from dfew_build.media.ffmpeg import display_filters, ffmpeg_exe
# Re-exported: callers and tests import the playability names from here.
from dfew_build.media.playback import (CODEC_LABELS, CONTAINER_LABELS,  # noqa: F401
                                       PROXIES_SUBDIR, PlaybackSource, browser_playable,
                                       codec_name, format_label, movie_playable,
                                       playback_problem, playback_source, proxy_command,
                                       proxy_relpath)
from dfew_build.media.streams import (StreamFacts, count_video_packets,  # noqa: F401
                                      first_frame_time, stream_facts)

VIDEO_ARGS = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
              "-fps_mode", "passthrough", "-enc_time_base:v", "demux")
AUDIO_ARGS = ("-c:a", "aac", "-b:a", "128k", "-ac", "2")
# yuv420p needs even dimensions (a no-op for even-sized pictures).
EVEN_SIZE = "crop=trunc(iw/2)*2:trunc(ih/2)*2"
TAG_PREFIX = "dfew-build proxy of "
FRAME_TOLERANCE = 1  # frames the proxy may differ from the movie's count
FIRST_FRAME_TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class ProxyJob:
    movie_id: int
    movie_path: str
    sha256: str
    frame_count: int | None
    filters: tuple[str, ...]
    audio_delay_s: float | None  # None: measure it from the file


@dataclass
class ProxyResult:
    movie_id: int
    frames: int | None = None
    seconds: float | None = None
    error: str | None = None
    note: str | None = None

    @property
    def frames_per_s(self) -> float | None:
        if not self.frames or not self.seconds:
            return None
        return self.frames / self.seconds


@dataclass
class ProxyReport:
    made: dict[int, ProxyResult] = field(default_factory=dict)
    already_made: list[int] = field(default_factory=list)
    playable: list[int] = field(default_factory=list)  # skipped: the browser plays the file
    failed: dict[int, str] = field(default_factory=dict)

    def summary(self) -> dict:
        return {"made": len(self.made), "already_made": len(self.already_made),
                "playable": len(self.playable), "failed": len(self.failed)}

    def as_dict(self) -> dict:
        return {"summary": self.summary(),
                "made": [{"movie_id": r.movie_id, "proxy_path": proxy_relpath(r.movie_id),
                          "frames": r.frames, "seconds": round(r.seconds or 0, 3),
                          "frames_per_s": round(r.frames_per_s or 0, 1), "note": r.note}
                         for r in self.made.values()],
                "already_made": self.already_made, "playable": self.playable,
                "failed": {str(k): v for k, v in self.failed.items()}}


def default_jobs() -> int:
    """One FFmpeg at a time: x264 already uses every core on one movie."""
    return 1


def make_proxies(workspace, movie_refs=None, *, again: bool = False, jobs: int | None = None,
                 progress: bool = False, only_unplayable: bool | None = None) -> ProxyReport:
    """Write an H.264 proxy for each ok movie a browser cannot play, or for each movie named
    in movie_refs (ids, file names or paths) whatever its format.

    again: remake proxies that exist. jobs: FFmpeg processes at once (default 1; each uses
    cores // jobs threads). only_unplayable: skip playable movies even when named (default:
    only when none is named; `ingest --proxies` names the new movies and sets it).
    Each finished proxy is recorded at once (movie.proxy_path), so an interrupted run keeps
    what it finished. Raises ProxyError for an unknown movie reference or a missing FFmpeg;
    a movie whose proxy fails is in the report's `failed` with the reason.
    """
    from tqdm import tqdm

    from dfew_build.db.models import Movie

    if only_unplayable is None:
        only_unplayable = not movie_refs
    folder = workspace.root / PROXIES_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(folder)
    report = ProxyReport()
    todo: list[ProxyJob] = []
    with workspace.session() as session:
        if movie_refs:
            movies = _resolve_all(session, movie_refs)
        else:
            movies = list(session.scalars(select(Movie).where(Movie.status == "ok")
                                          .order_by(Movie.id)))
        for movie in movies:
            job = _plan(movie, workspace.root, report, again=again,
                        only_unplayable=only_unplayable)
            if job is not None:
                todo.append(job)
    if not todo:
        return report
    try:
        ffmpeg = ffmpeg_exe()
    except DfewError as exc:
        raise ProxyError(f"cannot make proxies: {exc}") from None
    jobs = max(1, jobs or default_jobs())
    threads = max(1, (os.cpu_count() or 1) // jobs)
    bar = tqdm(total=sum(j.frame_count or 0 for j in todo) or None, unit="frame", desc="proxy",
               disable=not progress)
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(make_proxy, job, folder, ffmpeg, threads, bar.update)
                   for job in todo]
        for future in as_completed(futures):
            result = future.result()
            if result.error:
                report.failed[result.movie_id] = result.error
                continue
            with workspace.session() as session:
                session.get(Movie, result.movie_id).proxy_path = proxy_relpath(result.movie_id)
            report.made[result.movie_id] = result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    report.made = dict(sorted(report.made.items()))
    report.failed = dict(sorted(report.failed.items()))
    return report


def _resolve_all(session, refs) -> list:
    from dfew_build.clips.library import resolve_movie
    from dfew_build.errors import ClipError

    movies, seen = [], set()
    for ref in refs:
        try:
            movie = resolve_movie(session, ref, require_ok=False)
        except ClipError as exc:
            raise ProxyError(str(exc)) from None
        if movie.id not in seen:
            seen.add(movie.id)
            movies.append(movie)
    return movies


def _missing(movie_id: int, path: str) -> str:
    return (f"the movie file is missing: {path} (moved or deleted since ingest); ingest it "
            "at its new path (dfew-build ingest NEW_PATH), then make the proxy again: "
            f"{proxy_command(movie_id)}")


def _plan(movie, root: Path, report: ProxyReport, *, again: bool,
          only_unplayable: bool) -> ProxyJob | None:
    """The job for one movie, or None when it needs none (recorded in the report)."""
    if movie.status != "ok":
        report.failed[movie.id] = (f"{os.path.basename(movie.path)} was rejected at ingest "
                                   f"({movie.error}); there is no readable picture to copy")
        return None
    exists = os.path.isfile(movie.path)
    playable = movie_playable(movie)
    facts = None
    if playable is None and exists:
        # An older record: judge the file now, and keep what was learned.
        facts = stream_facts(movie.path)
        if facts is not None:
            movie.container = movie.container or facts.container
            movie.browser_playable = browser_playable(facts.container, facts.codec,
                                                      facts.pix_fmt)
            playable = movie.browser_playable
    if only_unplayable and playable:
        report.playable.append(movie.id)
        return None
    if not exists:
        report.failed[movie.id] = _missing(movie.id, movie.path)
        return None
    relpath = proxy_relpath(movie.id)
    if not again and proxy_matches(root / relpath, movie.sha256, movie.frame_count):
        if movie.proxy_path != relpath:
            movie.proxy_path = relpath  # written by a run that stopped before recording it
        report.already_made.append(movie.id)
        return None
    filters = display_filters(interlaced=movie.interlaced, sar=movie.sar,
                              field_order=movie.field_order, rotation=movie.rotation)
    delay = movie.video_delay_s
    if delay is None and facts is not None:
        delay = facts.video_delay_s
    return ProxyJob(movie.id, movie.path, movie.sha256, movie.frame_count, tuple(filters), delay)


def proxy_matches(path: Path, sha256: str, frame_count: int | None) -> bool:
    """True when path is a finished proxy of the movie with this fingerprint (its tag) and
    about its frame count (the MP4 index; nothing decoded)."""
    import av

    if not path.is_file():
        return False
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if container.metadata.get("comment") != TAG_PREFIX + sha256:
                return False
            frames = container.streams.video[0].frames if container.streams.video else 0
    except (av.FFmpegError, OSError):
        return False
    return not frame_count or abs(frames - frame_count) <= FRAME_TOLERANCE


def proxy_args(job: ProxyJob, source: str, target: Path, *, audio_delay_s: float,
               threads: int = 0) -> list[str]:
    """The FFmpeg arguments (after the executable) that write job's proxy to target."""
    video_filters = ["setpts=PTS-STARTPTS", *job.filters, EVEN_SIZE]
    audio = []
    if audio_delay_s > 0:
        # Audio before the first video frame is cut; the rest moves with the video.
        audio = ["-af", f"atrim=start={audio_delay_s:.6f},asetpts=PTS-{audio_delay_s:.6f}/TB"]
    return ["-nostdin", "-hide_banner", "-v", "error", "-y", "-i", source,
            "-map", "0:V:0", "-map", "0:a:0?", "-vf", ",".join(video_filters), *VIDEO_ARGS,
            *audio, *AUDIO_ARGS, "-threads", str(threads),
            "-metadata", f"comment={TAG_PREFIX}{job.sha256}", "-movflags", "+faststart",
            "-progress", "pipe:1", "-nostats", "-f", "mp4", str(target)]


def make_proxy(job: ProxyJob, folder: Path, ffmpeg: str, threads: int = 0,
               on_frames=None) -> ProxyResult:
    """Encode, check and move one proxy into place. Never raises for a bad movie: the error
    is returned so the other movies go on. on_frames(n) is called as frames are encoded."""
    if not os.path.isfile(job.movie_path):
        return ProxyResult(job.movie_id, error=_missing(job.movie_id, job.movie_path))
    part = folder / f".{job.movie_id:05d}.{os.getpid()}.part"
    started = time.perf_counter()
    try:
        delay = job.audio_delay_s
        if delay is None:
            facts = stream_facts(job.movie_path)
            delay = facts.video_delay_s if facts else 0.0
        command = [ffmpeg, *proxy_args(job, job.movie_path, part, audio_delay_s=delay,
                                       threads=threads)]
        _run_ffmpeg(command, on_frames)
        seconds = time.perf_counter() - started
        frames, note = check_proxy(part, job)
        os.replace(part, folder / f"{job.movie_id:05d}.mp4")
        return ProxyResult(job.movie_id, frames, seconds, note=note)
    except ProxyError as exc:
        return ProxyResult(job.movie_id, error=str(exc))
    except OSError as exc:
        return ProxyResult(job.movie_id, error=f"cannot write the proxy: {exc.strerror}")
    finally:
        part.unlink(missing_ok=True)


def _run_ffmpeg(command: list[str], on_frames=None) -> None:
    """Run FFmpeg, reporting `frame=` progress; ProxyError with its last message on failure.
    stderr goes to a file: a damaged movie can log more than a pipe holds."""
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as log:
        # A child that dies with this process (media.children): no FFmpeg outlives a kill.
        process = children.popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=log, text=True, errors="replace")
        done = 0
        try:
            for line in process.stdout:
                if line.startswith("frame=") and on_frames is not None:
                    try:
                        frames = int(line[6:])
                    except ValueError:
                        continue
                    if frames > done:
                        on_frames(frames - done)
                        done = frames
        finally:
            process.stdout.close()
            code = process.wait()
            children.release(process)
        if code != 0:
            log.seek(0)
            lines = [line.strip() for line in log if line.strip()]
            reason = lines[-1] if lines else f"exit status {code}"
            raise ProxyError(f"FFmpeg failed: {reason}")


def check_proxy(path: Path, job: ProxyJob) -> tuple[int, str | None]:
    """(frames, note) of a written proxy; ProxyError unless it is H.264 with the movie's
    frame count (within one) and its first frame at 0 s."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            frames = stream.frames or sum(1 for p in container.demux(stream) if p.size)
            container.seek(0)
            first = first_frame_time(container, stream)
    except (av.FFmpegError, IndexError) as exc:
        raise ProxyError(f"the proxy is unreadable ({exc})") from None
    if codec != "h264":
        raise ProxyError(f"the proxy's video is {codec}, not H.264")
    if first is None or abs(first) > FIRST_FRAME_TOLERANCE_S:
        raise ProxyError(f"the proxy's first frame is at {first} s, not 0 s")
    note = None
    expected = job.frame_count
    if expected and abs(frames - expected) > FRAME_TOLERANCE:
        counted = count_video_packets(job.movie_path)
        if counted is None or abs(frames - counted) > FRAME_TOLERANCE:
            raise ProxyError(
                f"the proxy has {frames} frames where the movie has {expected}; FFmpeg could "
                "not decode all of it (the movie may be damaged: check it with dfew-build "
                "movies list, or re-copy the file)")
        note = (f"the movie's recorded frame count {expected} was an estimate; the file "
                f"holds {counted} frames")
    return frames, note


def remove_stale_parts(folder: Path) -> int:
    """Delete temporary files left by proxy runs that were killed (their process is gone):
    the same `.NNNNN.PID.part` naming as cut clips."""
    from dfew_build.clips.cut import remove_stale_parts as remove

    return remove(folder)
