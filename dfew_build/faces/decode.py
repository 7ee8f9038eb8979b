"""Decode every frame of a clip with OpenCV, as DFEW extracted its frames, in batches.

OpenCV converts grayscale and any pixel format to 3-channel BGR. A damaged packet makes
``read`` fail once; reading on recovers the frames after it (FFmpeg resynchronises on the
next keyframe), so a clip corrupted mid-stream loses only the damaged frames, and the
loss is reported. When nothing decodes, the ingest prober names the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

# OpenCV's FFmpeg backend logs every damaged packet to stderr; the stored reasons suffice.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

# Consecutive failed reads before the stream counts as ended. At the true end every read
# fails at once, so this costs nothing there; inside a damaged stretch it lets FFmpeg
# skip ahead to the next decodable frame.
MAX_FAILED_READS = 16


class DecodeFailed(Exception):
    """The clip yields no frame at all; the message is the reason to store."""


@dataclass
class DecodeStats:
    frames: int = 0            # frames decoded
    failed_reads: int = 0      # reads that failed between decoded frames (damaged data)

    def damage_note(self) -> str | None:
        if not self.failed_reads:
            return None
        return (f"damaged data: {self.failed_reads} frame(s) could not be decoded and were "
                f"skipped; the {self.frames} decodable frames were used")


def _failure_reason(path: Path, opened: bool) -> str:
    from dfew_build.errors import ProbeError
    from dfew_build.media.probe import probe

    try:
        probe(path)
    except ProbeError as exc:
        return str(exc)
    if not opened:
        return "OpenCV cannot open the video (FFmpeg can probe it); re-encode it to H.264 MP4"
    return "no decodable video frames"


def iter_frame_batches(path: str | os.PathLike, batch_size: int = 16,
                       stats: DecodeStats | None = None) -> Iterator[list[np.ndarray]]:
    """Yield lists of up to batch_size BGR uint8 frames, in order. Raises DecodeFailed when
    the file yields no frame; fills `stats` as it goes."""
    import cv2

    path = Path(path)
    stats = stats if stats is not None else DecodeStats()
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise DecodeFailed(_failure_reason(path, opened=False))
        batch: list[np.ndarray] = []
        failed = 0
        while failed < MAX_FAILED_READS:
            ok, frame = capture.read()
            if not ok or frame is None:
                failed += 1
                continue
            stats.failed_reads += failed
            failed = 0
            if frame.ndim == 2:
                frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
            stats.frames += 1
            batch.append(frame)
            if len(batch) == batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
        if stats.frames == 0:
            raise DecodeFailed(_failure_reason(path, opened=True))
    finally:
        capture.release()


def decode_all(path: str | os.PathLike) -> tuple[list[np.ndarray], DecodeStats]:
    """Every frame of a clip at once (for benchmarks and small clips)."""
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
