"""Small synthetic videos and the catalogue of bad files, written with OpenCV and PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def _frame(i: int, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    x = (i * 4) % max(1, width - 16)
    img[:, x:x + 16] = 255  # a moving bar, so frames differ
    return img


def write_video(path: Path, frames: int = 48, width: int = 160, height: int = 120,
                fps: int = 24, faststart: bool = False) -> Path:
    """An H.264 MP4 written with PyAV (exact frame count, known fps)."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_frame(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_opencv_video(path: Path, frames: int = 30, width: int = 160, height: int = 120,
                       fps: float = 25.0, fourcc: str = "MJPG") -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for i in range(frames):
        writer.write(_frame(i, width, height))
    writer.release()
    return path


def write_audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_undecodable(path: Path) -> Path:
    """A valid MP4 container whose H.264 stream holds only random bytes."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=24)
        stream.width, stream.height = 160, 120
        rng = np.random.default_rng(0)
        for i in range(30):
            packet = av.Packet(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
            packet.stream, packet.pts, packet.dts = stream, i, i
            packet.time_base, packet.is_keyframe = Fraction(1, 24), True
            container.mux(packet)
    return path


def truncate(source: Path, target: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * fraction)])
    return target


def bad_file_catalogue(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, expected reason) for every kind of file ingest must reject."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    text = folder / "notes.mp4"
    text.write_text("this is a text file renamed to .mp4\n" * 20)
    long_index_last = write_video(folder / "_full_index_last.mp4", frames=200)
    long_faststart = write_video(folder / "_full_faststart.mp4", frames=200, faststart=True)
    return {
        "zero bytes": (empty, "empty file (0 bytes)"),
        "text renamed .mp4": (text, "a text file, not a video"),
        "truncated, index at the end": (
            truncate(long_index_last, folder / "truncated_moov_last.mp4"),
            "an MP4/MOV file without its index (moov atom): probably truncated while copying; "
            "re-copy it from its source"),
        "truncated, index first": (
            truncate(long_faststart, folder / "truncated_faststart.mp4"),
            "truncated or corrupt: the container claims 8.33 s but data ends at 4.17 s; "
            "re-copy the file from its source"),
        "no video stream": (
            write_audio_only(folder / "audio_only.mp4"),
            "no video stream (FFmpeg reads it as mov,mp4,m4a,3gp,3g2,mj2 with streams: audio)"),
        "zero decodable frames": (write_undecodable(folder / "garbage_frames.mp4"),
                                  "no decodable video frames in the h264 stream"),
    }
