"""How one clip's span is cut from its movie with FFmpeg, and verified (`clips cut`).

Which frames (DESIGN.md §7 timeline: the first video frame is 0 s, frame n at n / fps):
a clip [start_s, end_s) of a constant-rate movie holds frames floor(start_s·fps + ½) ..
floor(end_s·fps + ½) − 1, i.e. those timed in [start_s − ½/fps, end_s − ½/fps), so `33f`
and its millisecond-rounded time select the same frames; at a variable rate that window
(of the average rate) applies to the frames' own times. docs/clips.md says the rest.

FFmpeg (imageio-ffmpeg's) re-encodes to H.264/AAC on the file's own timestamps, seeking
coarsely PREROLLS_S[0] s early (MPEG-PS/TS have no index to seek exactly by), then taking
exactly the expected frames, as displayed (display_filters). Each clip goes to a `.part`
file, is verified by demuxing (frame count; frame k at k / fps within half a frame), cut
again by decoding order when the movie's timestamps are wrong but its frames are all
there, refused only when its data are damaged; then hashed, os.replace'd into place and
recorded (clip.path workspace-relative, clip.sha256), so an interrupted run never leaves a
half-written clip under its final name and the next run cuts only what is missing.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from dfew_build.clips.rules import format_time
from dfew_build.errors import ClipError
from dfew_build.media import children
from dfew_build.media.ffmpeg import display_filters

# Coarse input seek this far before the clip: longer than a DVD/broadcast GOP, so the exact
# trim starts from decoded frames; the second value is tried when the first overshot.
PREROLLS_S = (3.0, 30.0)
# Relative difference between the average and the nominal frame rate under which a movie is
# taken as constant-rate (rounding in container headers stays far below it).
CFR_TOLERANCE = 1e-3
# x264 at this quality is visually lossless for faces; veryfast keeps cutting I/O-bound.
VIDEO_ARGS = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
              # Keep the frame times the filters give: no frames duplicated or dropped to
              # fit a guessed constant rate (variable-rate phone videos), and no rounding
              # of them to a coarse 1/fps time base.
              "-fps_mode", "passthrough", "-enc_time_base:v", "demux")
# yuv420p needs even dimensions; x=y=0 keeps the top row, so field parity survives.
EVEN_CROP = "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0"
AUDIO_ARGS = ("-c:a", "aac", "-b:a", "128k")


def clip_frames(start_s: float, end_s: float, fps: float) -> tuple[int, int]:
    """(first, stop): the clip [start_s, end_s) of a constant-rate movie holds frames
    first .. stop-1, frame n starting at n / fps (round half up, see the module doc)."""
    return math.floor(start_s * fps + 0.5), math.floor(end_s * fps + 0.5)


@dataclass(frozen=True)
class CutJob:
    clip_id: int
    movie_id: int
    movie_path: str
    start_s: float
    end_s: float
    fps: float
    # From the movie record (DESIGN.md §7); None means "not probed": 0 s, square, progressive.
    video_delay_s: float | None = None
    sar: str | None = None
    interlaced: bool | None = None
    field_order: str | None = None
    rotation: int | None = None

    def where(self) -> str:
        return f"{format_time(self.start_s)}-{format_time(self.end_s)} of movie {self.movie_id}"


@dataclass(frozen=True)
class CutPlan:
    """What one clip should come out as. Times are on the movie's timeline (first frame 0 s)."""
    rate: Fraction          # the movie's frame rate
    constant: bool          # constant frame rate: the frame count is exact
    first: int              # first frame index (constant rate; nominal otherwise)
    frames: int             # expected frame count
    start_s: float          # nominal time of the first frame (constant) or the clip start
    end_s: float            # end of the span (exclusive)

    @property
    def half_frame_s(self) -> float:
        return 0.5 / float(self.rate)

    def describe(self) -> str:
        if self.constant:
            return (f"frames {self.first}-{self.first + self.frames - 1} at "
                    f"{float(self.rate):.3f} fps")
        return f"{self.frames} frames, variable rate averaging {float(self.rate):.3f} fps"


def plan_cut(job: CutJob, *, constant: bool = True) -> CutPlan:
    """The frames job's clip must hold (see the module doc for the rule)."""
    fps = job.fps if job.fps and job.fps > 0 else 25.0
    rate = Fraction(fps).limit_denominator(1001)
    if abs(float(rate) - fps) > 1e-6 * fps:  # not a NTSC-style rate: keep it as it is
        rate = Fraction(fps).limit_denominator(1_000_000)
    first, stop = clip_frames(job.start_s, job.end_s, fps)
    if constant:
        return CutPlan(rate, True, first, stop - first, first / fps, stop / fps)
    return CutPlan(rate, False, first, stop - first, job.start_s, job.end_s)


def constant_rate(path: str) -> bool:
    """Whether the movie's video has a constant frame rate: its average rate equals its
    nominal (r_frame_rate) one. Variable-rate phone videos differ (e.g. 26.4 vs 30)."""
    stat = os.stat(path)
    return _constant_rate(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)  # once per movie file version, not per clip
def _constant_rate(path: str, size: int, mtime_ns: int) -> bool:
    import av

    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            average, nominal = stream.average_rate, stream.guessed_rate or stream.base_rate
    except (av.FFmpegError, IndexError, OSError):
        return True  # FFmpeg will say what is wrong when it cuts
    return not average or not nominal or abs(average / nominal - 1) <= CFR_TOLERANCE


def _input_args(job: CutJob, plan: CutPlan, preroll_s: float, *, log: str = "error"
                ) -> tuple[list[str], float]:
    """FFmpeg's options before `-i`, and the first frame's time on FFmpeg's timeline.

    `-copyts -start_at_zero`: the filters see the file's own timestamps minus the
    container's start, so a movie time t is at t + video_delay_s there. Without it FFmpeg
    "corrects" MPEG-PS/TS timestamps that step back by more than 0.1 s right after a seek
    (an out-of-order B-frame is enough), shifting every later frame by several frames.
    """
    origin = plan.start_s + (job.video_delay_s or 0.0)
    coarse = max(0.0, origin - plan.half_frame_s - preroll_s)
    seek = ["-ss", f"{coarse:.6f}"] if coarse > 0 else []
    return ["-nostdin", "-hide_banner", "-v", log, "-y", "-copyts", "-start_at_zero",
            *seek], origin


def cut_command(ffmpeg: str, job: CutJob, plan: CutPlan, target: Path, *, preroll_s: float,
                skip_frames: int | None = None, threads: int = 0) -> list[str]:
    """The FFmpeg command line that cuts plan's frames of job's movie into target (MP4).

    By default frames are chosen by their times (half-frame guard) and keep them, moved so
    the clip starts at 0 s. With skip_frames (constant rate only) they are chosen by their
    decoding order instead: skip that many frames after the seek, keep plan.frames, and
    give frame k the time k / fps (for movies whose timestamps are wrong, not their frames).
    """
    head, origin = _input_args(job, plan, preroll_s)
    keep_from = origin - plan.half_frame_s
    video = [EVEN_CROP, *display_filters(interlaced=job.interlaced, sar=job.sar,
                                         field_order=job.field_order, rotation=job.rotation)]
    length = plan.frames / float(plan.rate) if plan.constant else plan.end_s - plan.start_s
    if skip_frames is not None:
        head.append("-noaccurate_seek")  # every decoded frame counts, none dropped by time
        video += [f"trim=start_frame={skip_frames}", f"setpts=round(N*{plan.rate.denominator}"
                  f"/({plan.rate.numerator}*TB))"]
    elif plan.constant:  # select compares t exactly; trim rounds to the time base (AVI: 1/fps)
        video += [f"select=gte(t\\,{keep_from:.6f})",
                  f"setpts=round(max(PTS-{origin:.6f}/TB\\,0))"]
    else:  # trim only ends the decoding a second after the span
        video += [f"trim=end={keep_from + length + 1.0:.6f}",
                  f"select=gte(t\\,{keep_from:.6f})*lt(t\\,{keep_from + length:.6f})",
                  "setpts=PTS-STARTPTS"]
    audio = f"atrim=start={origin:.6f}:duration={length:.6f},asetpts=PTS-STARTPTS"
    frames = ["-frames:v", str(plan.frames)] if plan.constant else []
    return [ffmpeg, *head, "-i", job.movie_path, "-map", "0:v:0", "-map", "0:a:0?",
            "-vf", ",".join(video), "-af", audio, *frames, *VIDEO_ARGS, *AUDIO_ARGS,
            "-threads", str(threads), "-movflags", "+faststart", "-f", "mp4", str(target)]


def _run_ffmpeg(command: list[str]) -> None:
    # A child that dies with this process: a killed `clips cut` leaves no FFmpeg running.
    result = children.run(command)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise ClipError(f"FFmpeg failed: {reason}")


def frames_to_skip(ffmpeg: str, job: CutJob, plan: CutPlan, target: Path, *,
                   preroll_s: float) -> int | None:
    """How many decoded frames after the seek of cut_command(skip_frames=...) come before
    the clip's first frame; None when the seek landed after it (try a longer preroll).

    Decodes (no encoding) from the seek to a second past the clip and lists the frame
    times. Decoded frame k is movie frame base + k: base is 0 when decoding starts at the
    movie's start, else the median of round(t_k·fps) − k over the frames timed before the
    clip, so a few wrong times do not move the cut. The same median over the frames timed
    after the clip must agree, else frames are missing (or extra) within the span and no
    order-based count is right: ClipError.
    """
    # The null muxer complains about the frame order this is here to find: log only fatal.
    head, origin = _input_args(job, plan, preroll_s, log="fatal")
    stats = target.with_name(f"{target.stem}.frames.part")  # a .part: swept if left
    command = [ffmpeg, *head, "-noaccurate_seek", "-i", job.movie_path, "-map", "0:v:0",
               "-vf", f"trim=end={origin + plan.frames / float(plan.rate) + 1.0:.6f}",
               "-fps_mode", "passthrough", "-enc_time_base:v", "demux",
               "-stats_enc_pre", str(stats), "-stats_enc_pre_fmt", "{pts} {tb}", "-f", "null",
               "-"]
    try:
        _run_ffmpeg(command)
        lines = stats.read_text().split("\n")
    finally:
        stats.unlink(missing_ok=True)
    fps, delay = float(plan.rate), job.video_delay_s or 0.0
    before, after = [], []
    stop = plan.first + plan.frames
    for k, line in enumerate(filter(None, lines)):
        pts, base = line.split()
        if pts.startswith("-9223372036854775808"):  # AV_NOPTS_VALUE
            continue
        index = round((float(int(pts) * Fraction(base)) - delay) * fps)
        if index < plan.first - 2:  # margins: a glitch at the edge stays out of both sides
            before.append(index - k)
        elif index >= stop + 2:
            after.append(index - k)
    if "-ss" not in head:
        base = 0  # decoding from the start: the first decoded frame is frame 0
    elif before:
        base = sorted(before)[len(before) // 2]
    else:
        return None
    if after and (later := sorted(after)[len(after) // 2]) != base:
        raise ClipError(
            f"{job.where()} ({plan.describe()}): the movie's decoded frames and their "
            f"timestamps disagree by {later - base:+d} frames across this span (frames "
            "missing or damaged data); check it with `ffmpeg -v error -i MOVIE -f null -` "
            "and re-copy it from its source")
    skip = plan.first - base
    return skip if skip >= 0 else None


def frames_in_span(job: CutJob, plan: CutPlan) -> int:
    """Variable rate: how many of the movie's video packets have a time (movie timeline) in
    the clip's half-frame window. Demuxed, not decoded; exact for indexed containers."""
    import av

    half, delay = plan.half_frame_s, job.video_delay_s or 0.0
    low, high = plan.start_s - half, plan.end_s - half
    count = 0
    with av.open(job.movie_path, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        zero = (container.start_time or 0) / 1_000_000 + delay  # the first frame, file time
        target = max(0.0, zero + low - PREROLLS_S[0])
        container.seek(int(target * 1_000_000), backward=True, any_frame=False)
        for packet in container.demux(stream):
            if packet.pts is None or not packet.size or packet.is_discard:
                continue
            t = float(packet.pts * stream.time_base) - zero
            if low <= t < high:
                count += 1
            elif t > high + PREROLLS_S[0]:  # past any reordering delay
                break
    return count


@dataclass(frozen=True)
class CutFile:
    """A cut file's video as demuxed: presentation times (sorted, s), length, order."""
    times: tuple[float, ...]
    duration_s: float
    decode_order_ok: bool

    @property
    def frames(self) -> int:
        return len(self.times)


def inspect_cut(path: str | os.PathLike) -> CutFile:
    """Demux (not decode) the video of a cut file; ClipError if it cannot be read."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            pts, dts = [], []
            for packet in container.demux(stream):
                if packet.size and not packet.is_discard and packet.pts is not None:
                    pts.append((packet.pts, packet.pts + (packet.duration or 0)))
                    dts.append(packet.dts)
            base = stream.time_base
    except (av.FFmpegError, IndexError) as exc:
        raise ClipError(f"the cut file is unreadable ({exc})") from None
    if not pts:
        raise ClipError("the cut file holds no video frame")
    starts = sorted(p for p, _ in pts)
    end = max(e for _, e in pts)
    in_order = all(a is None or b is None or a < b for a, b in zip(dts, dts[1:]))
    return CutFile(tuple(float(p * base) for p in starts), float((end - starts[0]) * base),
                   in_order)


def _timing_problem(plan: CutPlan, cut: CutFile) -> str | None:
    """Why a constant-rate cut's frame k is not at k / fps (within half a frame), or None."""
    half, fps = plan.half_frame_s, float(plan.rate)
    if not cut.decode_order_ok:
        return "its frames are out of decoding order"
    if any(b <= a for a, b in zip(cut.times, cut.times[1:])):
        return "two of its frames have the same time or go back in time"
    for k, t in enumerate(cut.times):
        if abs(t - k / fps) > half:
            return f"its frame {k} is at {t:.3f} s instead of {k / fps:.3f} s"
    return None


def cut_span(ffmpeg: str, job: CutJob, target: Path, *, threads: int = 0) -> CutFile:
    """Cut job's clip into target and verify it (module doc); ClipError when the movie's
    data do not allow a right cut, naming the span, the numbers and what to do."""
    plan = plan_cut(job, constant=constant_rate(job.movie_path))
    where = f"{job.where()} ({plan.describe()})"
    damaged = ("; the movie may be damaged around this span: check it with "
               "`ffmpeg -v error -i MOVIE -f null -` and re-copy it from its source")
    if not plan.constant:
        plan = replace(plan, frames=frames_in_span(job, plan))
        _run_ffmpeg(cut_command(ffmpeg, job, plan, target, preroll_s=PREROLLS_S[0],
                                threads=threads))
        cut = inspect_cut(target)
        increasing = all(a < b for a, b in zip(cut.times, cut.times[1:]))
        if not increasing or not cut.decode_order_ok or abs(cut.frames - plan.frames) > 1:
            raise ClipError(f"{where}: the cut holds {cut.frames} frames"
                            + ("" if increasing else " with times out of order")
                            + f" where {plan.frames} ±1 were expected" + damaged)
        length = plan.end_s - plan.start_s
        if abs(cut.duration_s - length) > 2 * plan.half_frame_s + 1e-3:
            raise ClipError(f"{where}: the cut lasts {cut.duration_s:.3f} s instead of "
                            f"{length:.3f} s (more than one frame off)" + damaged)
        return cut
    problem = "no preroll tried"
    for preroll in PREROLLS_S:  # frames chosen by time: one pass, the usual case
        _run_ffmpeg(cut_command(ffmpeg, job, plan, target, preroll_s=preroll,
                                threads=threads))
        cut = inspect_cut(target)
        if cut.frames < plan.frames:
            raise ClipError(f"{where}: the cut holds {cut.frames} frames instead of "
                            f"{plan.frames}: the movie's video ends or stops decoding "
                            f"before {format_time(plan.end_s)}" + damaged)
        problem = _timing_problem(plan, cut)
        if problem is None:
            return cut
        # The times disagree with the frames: count frames in decoding order instead.
        skip = frames_to_skip(ffmpeg, job, plan, target, preroll_s=preroll)
        if skip is None:
            problem = "the seek landed after the clip's first frame"
            continue
        _run_ffmpeg(cut_command(ffmpeg, job, plan, target, preroll_s=preroll,
                                skip_frames=skip, threads=threads))
        cut = inspect_cut(target)
        if cut.frames != plan.frames:
            raise ClipError(f"{where}: the cut holds {cut.frames} frames instead of "
                            f"{plan.frames}" + damaged)
        return cut
    raise ClipError(f"{where}: {problem}, even {PREROLLS_S[-1]:g} s before it" + damaged)
