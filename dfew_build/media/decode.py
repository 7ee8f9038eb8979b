"""THE decoder (DESIGN.md §7): every stage that reads frames gets them from here.

Frames come *as displayed*:

* rotated by the stream's display matrix (phone footage stores the picture sideways and a
  rotation flag; ``-display_rotation 90`` means 90 degrees counter-clockwise);
* with square pixels: an anamorphic DVD picture (720x576, SAR 64:45) is widened to
  1024x576, the rule FFmpeg's ``scale=iw*sar:ih`` uses;
* progressive: interlaced sources go through FFmpeg's ``bwdif`` (one frame per frame, so
  the frame count and timeline stay);
* on a timeline whose first video frame is at 0 s, whatever the container's clock says
  (MPEG-TS starts at 1.4 s or minutes in, AVI's first MPEG-4 frame at 0.042 s).

Decoding is PyAV (FFmpeg's libraries). A damaged packet is skipped and counted, so a
clip corrupted mid-stream loses only the damaged frames; when nothing decodes at all the
prober's reason is raised as DecodeFailed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from dfew_build.media.ffmpeg import parse_sar

# Seconds to seek before a span, tried in turn; None = decode from the start.
SEEK_PREROLLS_S = (2.0, 10.0, 60.0, None)


class DecodeFailed(Exception):
    """The video yields no frame at all; the message is the reason to store."""


@dataclass
class DecodeStats:
    frames: int = 0            # frames decoded (before any sampling)
    failed_reads: int = 0      # packets that failed to decode between frames (damaged data)

    def damage_note(self) -> str | None:
        if not self.failed_reads:
            return None
        return (f"damaged data: {self.failed_reads} frame(s) could not be decoded and were "
                f"skipped; the {self.frames} decodable frames were used")


@dataclass(frozen=True)
class Display:
    """How a stream's coded picture becomes the displayed one.

    rotation: counter-clockwise degrees (0, 90, 180, 270), FFmpeg's display-matrix sense.
    sar: sample (pixel) aspect ratio; 1 = square pixels.
    interlaced / field_order: whether to deinterlace, and the field order
        ("tff", "bff", "progressive" or None = let bwdif read the frame flags).
    """

    rotation: int = 0
    sar: Fraction = Fraction(1)
    interlaced: bool = False
    field_order: str | None = None

    @classmethod
    def of_movie(cls, movie) -> "Display":
        """From an ingested Movie row (None columns: FFmpeg's defaults)."""
        return cls(rotation=int(movie.rotation or 0) % 360, sar=parse_sar(movie.sar),
                   interlaced=bool(movie.interlaced), field_order=movie.field_order)

    def display_size(self, coded_width: int, coded_height: int) -> tuple[int, int]:
        """(width, height) in pixels as displayed; the SAR widens (or narrows) the width,
        rounded to even as FFmpeg's ``trunc(iw*sar/2+0.5)*2``."""
        width = coded_width
        if self.sar != 1:
            width = int(coded_width * self.sar / 2 + Fraction(1, 2)) * 2
        if self.rotation in (90, 270):
            return coded_height, width
        return width, coded_height


@dataclass
class DecodedFrame:
    time_s: float        # seconds from the first video frame
    image: np.ndarray    # uint8 BGR [H, W, 3], as displayed


def rotation_of(frame) -> int:
    """Counter-clockwise display rotation of a decoded PyAV frame, snapped to 0/90/180/270."""
    degrees = float(getattr(frame, "rotation", 0) or 0)
    return int(round(degrees / 90.0)) % 4 * 90


def stream_sar(stream) -> Fraction:
    """The SAR FFmpeg would use: the container's, else the codec's (av_guess_sample_aspect_ratio)."""
    for value in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if value and value.numerator > 0 and value.denominator > 0:
            return Fraction(value.numerator, value.denominator)
    return Fraction(1)


class _Deinterlacer:
    """bwdif through an FFmpeg filter graph: push a frame, get the frames ready so far."""

    def __init__(self, stream, field_order: str | None):
        import av

        parity = {"tff": "tff", "bff": "bff"}.get(field_order or "", "auto")
        self.graph = av.filter.Graph()
        source = self.graph.add_buffer(template=stream)
        bwdif = self.graph.add("bwdif", f"mode=send_frame:parity={parity}:deint=all")
        sink = self.graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        self.graph.configure()

    def __call__(self, frame) -> list:
        import av

        self.graph.vpush(frame)
        out = []
        while True:
            try:
                out.append(self.graph.vpull())
            except (av.BlockingIOError, av.EOFError):
                return out


class VideoReader:
    """Frames of one video file as displayed, on the first-video-frame timeline.

    display: how to display the stream (Display.of_movie(movie) for an ingested movie);
        None reads rotation and SAR from the stream and deinterlaces only frames flagged
        interlaced (what our own cut clips and proxies never are).
    start_offset_s: the file time of its first video frame when known (movie.start_s);
        None finds it by decoding the first frame.
    Raises DecodeFailed (with the prober's reason) when the file cannot be opened or
    yields no frame.
    """

    def __init__(self, path: str | os.PathLike, display: Display | None = None,
                 start_offset_s: float | None = None):
        self.path = Path(path)
        self.display = display
        self.start_offset_s = start_offset_s

    def frames(self, *, start_s: float = 0.0, end_s: float | None = None,
               sample_fps: float | None = None, max_side: int | None = None,
               stats: DecodeStats | None = None) -> Iterator[DecodedFrame]:
        """Yield frames with start_s <= time < end_s (seconds on our timeline), as uint8
        BGR images [H, W, 3] as displayed.

        sample_fps: keep one frame every 1/sample_fps seconds (the rest are decoded but
            not converted). max_side: shrink so the displayed long side is at most this
            many pixels (never enlarged). stats: filled as frames are decoded.
        """
        next_time = start_s
        for t, frame in self.decoded(start_s=start_s, end_s=end_s, stats=stats):
            if t + 1e-6 < next_time:
                continue
            if sample_fps:
                next_time = t + 1.0 / sample_fps
            yield DecodedFrame(t, to_display(frame, self.display, max_side))

    def decoded(self, *, start_s: float = 0.0, end_s: float | None = None,
                stats: DecodeStats | None = None) -> Iterator[tuple[float, object]]:
        """(time on our timeline, progressive PyAV VideoFrame) for start_s <= time < end_s;
        turn a frame into the displayed image with to_display(frame, reader.display, ...)
        (self.display is known from the first frame on)."""
        import av

        stats = stats if stats is not None else DecodeStats()
        try:
            container = av.open(str(self.path), metadata_errors="ignore")
        except av.FFmpegError:
            raise DecodeFailed(failure_reason(self.path)) from None
        with container:
            if not container.streams.video:
                raise DecodeFailed(failure_reason(self.path))
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from self._frames(container, stream, start_s, end_s, stats)
        if stats.frames == 0:
            raise DecodeFailed(failure_reason(self.path))

    def _frames(self, container, stream, start_s, end_s, stats):
        origin = self.start_offset_s
        if start_s <= 0:
            yield from self._decode(container, stream, origin, start_s, end_s, stats,
                                    check_start=False)
            return
        if origin is None:
            from dfew_build.media.streams import first_frame_time

            # Nothing decodes (or demuxing fails): the container's clock is the timeline.
            origin = first_frame_time(container, stream) or 0.0
        # Seek a little before the span and decode forward, keeping frames by timestamp.
        # Containers without an index (MPEG-TS/PS) can land after a keyframe-less stretch
        # or past the span: then seek further back, and at last decode from the start.
        file_start = (float(stream.start_time * stream.time_base)
                      if stream.start_time is not None else 0.0)
        for preroll in SEEK_PREROLLS_S:
            target = origin + start_s - (preroll or 0.0)
            from_start = preroll is None or target <= file_start
            if from_start:
                container.seek(0)
            else:
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            stream.codec_context.flush_buffers()
            try:
                yield from self._decode(container, stream, origin, start_s, end_s, stats,
                                        check_start=not from_start)
                return
            except _SeekMissed:
                continue

    def _decode(self, container, stream, origin, start_s, end_s, stats, check_start):
        import av

        deinterlace = None
        half_frame = 0.5 / float(stream.average_rate or 25)
        seen = False

        def timed(frames):
            nonlocal origin, seen
            for shown in frames:
                if shown.time is None:
                    continue
                if origin is None:
                    origin = float(shown.time)
                t = round(float(shown.time) - origin, 6)
                if not seen:
                    seen = True
                    if check_start and t > start_s + half_frame:
                        raise _SeekMissed()
                stats.frames += 1
                yield t, shown

        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except av.FFmpegError:
                if stats.frames:
                    stats.failed_reads += 1
                continue
            for frame in decoded:
                if self.display is None:
                    self.display = Display(rotation_of(frame), stream_sar(stream),
                                           bool(frame.interlaced_frame), None)
                if deinterlace is None:
                    deinterlace = (_Deinterlacer(stream, self.display.field_order)
                                   if self.display.interlaced else False)
                for t, shown in timed(deinterlace(frame) if deinterlace else (frame,)):
                    if end_s is not None and t >= end_s - 1e-6:
                        return
                    if t + 1e-6 >= start_s:
                        yield t, shown
        if check_start and not seen:
            raise _SeekMissed()
        if deinterlace:  # bwdif holds the last frame back until the end
            for t, shown in timed(_drain(deinterlace)):
                if (end_s is None or t < end_s - 1e-6) and t + 1e-6 >= start_s:
                    yield t, shown


class _SeekMissed(Exception):
    """A seek landed past the wanted time (or where nothing decodes): seek further back."""


def _drain(deinterlace: _Deinterlacer) -> list:
    import av

    try:
        deinterlace.graph.vpush(None)
    except av.FFmpegError:
        return []
    out = []
    while True:
        try:
            out.append(deinterlace.graph.vpull())
        except (av.BlockingIOError, av.EOFError):
            return out


def to_display(frame, display: Display, max_side: int | None = None) -> np.ndarray:
    """A decoded PyAV frame as a displayed uint8 BGR image [H, W, 3]: one swscale call
    converts, squares the pixels and shrinks; numpy rotates."""
    width, height = display.display_size(frame.width, frame.height)
    if display.rotation in (90, 270):
        width, height = height, width  # size before rotation
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = max(2, round(width * scale)), max(2, round(height * scale))
    if (width, height) != (frame.width, frame.height):
        image = frame.reformat(width=width, height=height, format="bgr24",
                               interpolation="AREA").to_ndarray()
    else:
        image = frame.to_ndarray(format="bgr24")
    if display.rotation:
        image = np.ascontiguousarray(np.rot90(image, display.rotation // 90))
    return image


def to_display_small(frame, display: Display, max_side: int) -> np.ndarray:
    """Like ``to_display(frame, display, max_side)`` for a shrink of several times (shot
    detection's ~256 px frame), at a fraction of the cost: 4:2:0 planes are shrunk with
    OpenCV's area filter first and only the small picture is converted to BGR (swscale's
    area filter on the full frame cost ~10 ms of a 720p frame's ~12). Same size, rotation
    and limited-range BT.601 colours as to_display; other pixel formats go through it.
    """
    import cv2

    width, height = display.display_size(frame.width, frame.height)
    if display.rotation in (90, 270):
        width, height = height, width
    scale = max_side / max(width, height)
    if frame.format.name != "yuv420p" or scale >= 0.5:
        return to_display(frame, display, max_side)
    width, height = max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)
    planes = []
    for index, (w, h) in enumerate(((width, height), (width // 2, height // 2),
                                    (width // 2, height // 2))):
        plane = frame.planes[index]
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        source = rows[:plane.height, :plane.width]
        planes.append(cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA).ravel())
    i420 = np.concatenate(planes).reshape(height * 3 // 2, width)
    image = cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)
    if display.rotation:
        image = np.ascontiguousarray(np.rot90(image, display.rotation // 90))
    return image


def failure_reason(path: Path) -> str:
    """Why a file yields no frames, in the prober's words."""
    from dfew_build.errors import ProbeError
    from dfew_build.media.probe import probe

    try:
        probe(path)
    except ProbeError as exc:
        return str(exc)
    return "no decodable video frames"


def iter_frame_batches(path: str | os.PathLike, batch_size: int = 16,
                       stats: DecodeStats | None = None,
                       display: Display | None = None) -> Iterator[list[np.ndarray]]:
    """Lists of up to batch_size displayed BGR uint8 frames [H, W, 3], in order (the faces
    stage's input). Raises DecodeFailed when the file yields no frame."""
    batch: list[np.ndarray] = []
    for decoded in VideoReader(path, display).frames(stats=stats):
        batch.append(decoded.image)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def decode_all(path: str | os.PathLike) -> tuple[list[np.ndarray], DecodeStats]:
    """Every frame of a video at once (for benchmarks and small clips)."""
    stats = DecodeStats()
    frames = [f for batch in iter_frame_batches(path, 64, stats) for f in batch]
    return frames, stats


def prefetched(iterator: Iterator, depth: int = 2) -> Iterator:
    """Run `iterator` in a background thread, `depth` items ahead of the consumer.
    Exceptions (e.g. DecodeFailed) reach the consumer at the point they occurred."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put((done, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            items.put((done, exc))

    thread = threading.Thread(target=produce, name="decode-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.05)
        if hasattr(iterator, "close"):
            iterator.close()
