"""Small movies whose every frame says which frame it is, for the frame-exact cutting tests
(issue 12), built with the FFmpeg that imageio-ffmpeg ships. Nothing here is committed
media: each builder writes the path it is given."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np

BARS = 10  # frame n draws bit k of n as bar k (64 px wide): white 1, black 0
BAR_WIDTH = 64
_INDEX_BARS = ("geq=lum='if(bitand(floor(N/pow(2,floor(X/64))),1),235,16)'"
               ":cb=128:cr=128")

# Per file suffix: encoder options and muxer. DVD/broadcast MPEG-2 with open GOPs and
# B-frames; H.264 with B-frames; MPEG-4 Part 2 with B-frames in AVI, whose first frame
# then comes one frame after the container's start (0.042 s at 23.976 fps).
_FORMATS = {
    ".vob": (["-c:v", "mpeg2video", "-g", "15", "-bf", "2"], "vob"),
    ".ts": (["-c:v", "mpeg2video", "-g", "15", "-bf", "2"], "mpegts"),
    ".mp4": (["-c:v", "libx264", "-g", "15", "-bf", "2", "-pix_fmt", "yuv420p"], "mp4"),
    ".mkv": (["-c:v", "libx264", "-g", "15", "-bf", "2", "-pix_fmt", "yuv420p"], "matroska"),
    ".avi": (["-c:v", "mpeg4", "-g", "15", "-bf", "2"], "avi"),
}


def ffmpeg(*args: str | Path) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
               *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def index_bars_movie(target: Path, *, rate: str = "30000/1001", frames: int = 300) -> Path:
    """`frames` 640x64 frames at `rate` fps, frame n showing n as 10 black/white bars; the
    container and codec follow target's suffix (.vob, .ts, .mp4, .mkv, .avi)."""
    codec, muxer = _FORMATS[target.suffix]
    seconds = frames / float(Fraction(rate)) + 1  # the lavfi source must outlast -frames:v
    ffmpeg("-f", "lavfi", "-i", f"color=gray:s={BARS * BAR_WIDTH}x64:r={rate}:d={seconds:.3f},"
           f"{_INDEX_BARS}", "-frames:v", str(frames), *codec, "-f", muxer, target)
    return target


def read_index_bars(path: str | Path) -> tuple[list[int], list[float]]:
    """(the index each decoded frame shows, its presentation time in s), in the order the
    decoder returns the frames."""
    indices, times = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray").astype(float)
            width = luma.shape[1] / BARS
            bits = [luma[:, int(k * width) + 4:int((k + 1) * width) - 4].mean() > 125
                    for k in range(BARS)]
            indices.append(sum(int(bit) << k for k, bit in enumerate(bits)))
            times.append(float(frame.time))
    return indices, times


def combing(frames: list[np.ndarray]) -> float:
    """Mean |row − mean of its two neighbour rows| over 2-D luma frames: high when the two
    fields of a moving picture are woven together, low when it is progressive."""
    return float(np.mean([np.abs(g[1:-1] - (g[:-2] + g[2:]) / 2).mean()
                          for g in (f.astype(float) for f in frames)]))


def damaged_copy(source: Path, target: Path, offset: int, length: int) -> Path:
    """source with `length` bytes from `offset` zeroed, as a bad disc sector leaves it."""
    data = bytearray(source.read_bytes())
    data[offset:offset + length] = bytes(length)
    target.write_bytes(bytes(data))
    return target
