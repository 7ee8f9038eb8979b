"""Quick facts about a movie file's streams through PyAV: container, codec, pixel format,
audio, the first video frame's time, the packet count (what proxies and playability need,
without the full decoder of media.decode)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamFacts:
    container: str
    codec: str
    pix_fmt: str | None
    has_audio: bool
    video_delay_s: float  # first decoded video frame - container start


def stream_facts(path: str | os.PathLike) -> StreamFacts | None:
    """Container, codec, pixel format, audio and first-frame delay of a file (one frame
    decoded); None when PyAV cannot open it or it has no video."""
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError):
        return None
    with container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        ctx = stream.codec_context
        start = container.start_time / 1_000_000 if container.start_time is not None else None
        first = first_frame_time(container, stream)
        delay = max(0.0, first - start) if first is not None and start is not None else 0.0
        return StreamFacts(container.format.name, ctx.name, ctx.pix_fmt,
                           bool(container.streams.audio), delay)


def first_frame_time(container, stream) -> float | None:
    """Seconds (container clock) of the first video frame that decodes with a time; None
    when none does or demuxing fails. Undecodable packets before it are skipped."""
    import av

    try:
        for packet in container.demux(stream):
            try:
                for frame in packet.decode():
                    if frame.time is not None:
                        return float(frame.time)
            except av.FFmpegError:
                continue
    except av.FFmpegError:
        return None
    return None


def count_video_packets(path: str | os.PathLike) -> int | None:
    """The number of video packets with data (demuxed, not decoded); None if unreadable."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, IndexError, OSError):
        return None
