"""What a browser plays, and which file the extractor page gives it for a movie.

Browsers play H.264 (8-bit 4:2:0), VP8, VP9 and AV1 in MP4/MOV or WebM; DVD rips, DivX/XviD
AVIs (MPEG-4 Part 2, MS-MPEG4), broadcast MPEG-TS, MKV and HEVC files give a black player.
`browser_playable` says which (the probe records it at ingest); `playback_source` picks the
movie's H.264 proxy (media.proxy makes them) or its own file, or says why neither plays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dfew_build.media.streams import stream_facts

PROXIES_SUBDIR = "proxies"


# FFmpeg decoder names (what the probe stores as movie.codec) -> codec names.
_CODEC_ALIASES = {"msmpeg4": "msmpeg4v3", "libdav1d": "av1", "libaom-av1": "av1",
                  "av1_cuvid": "av1", "libvpx": "vp8", "libvpx-vp9": "vp9", "h264_cuvid": "h264",
                  "hevc_cuvid": "hevc", "mpeg4_cuvid": "mpeg4", "libopenh264": "h264"}
CODEC_LABELS = {
    "h264": "H.264", "hevc": "HEVC (H.265)", "vp8": "VP8", "vp9": "VP9", "av1": "AV1",
    "mpeg4": "MPEG-4 Part 2", "msmpeg4v1": "MS-MPEG4 v1", "msmpeg4v2": "MS-MPEG4 v2",
    "msmpeg4v3": "MS-MPEG4 v3", "mpeg2video": "MPEG-2", "mpeg1video": "MPEG-1",
    "mjpeg": "Motion JPEG", "wmv1": "WMV 7", "wmv2": "WMV 8", "wmv3": "WMV 9", "vc1": "VC-1",
    "theora": "Theora", "h263": "H.263", "flv1": "Sorenson Spark", "dvvideo": "DV",
    "prores": "ProRes", "rv40": "RealVideo 4", "vvc": "VVC (H.266)",
}
_BROWSER_CODECS = ("h264", "vp8", "vp9", "av1")
_H264_PIX_FMTS = ("yuv420p", "yuvj420p")  # 8-bit 4:2:0: what every browser decodes
_ISO_NAMES = {"mov", "mp4", "m4a", "m4v", "3gp", "3g2", "mj2", "ismv", "ipod"}
CONTAINER_LABELS = {"avi": "AVI", "mpeg": "MPEG-PS (VOB/MPG)", "vob": "MPEG-PS (VOB)",
                    "mpegts": "MPEG-TS", "mpegtsraw": "MPEG-TS", "asf": "ASF (WMV)",
                    "flv": "FLV", "ogg": "Ogg", "rm": "RealMedia", "mpegvideo": "raw MPEG video",
                    "h264": "raw H.264", "hevc": "raw HEVC", "dv": "DV", "nut": "NUT",
                    "mxf": "MXF"}


def codec_name(codec: str | None) -> str:
    """An FFmpeg codec or decoder name as the codec's own name ("msmpeg4" -> "msmpeg4v3")."""
    name = (codec or "").strip().lower()
    return _CODEC_ALIASES.get(name, name)


def _container_kind(container: str | None, codec: str) -> str:
    """'iso' (MP4/MOV), 'webm', 'mkv', or the demuxer name; FFmpeg names one demuxer
    "matroska,webm", so Matroska holding only WebM codecs counts as WebM."""
    names = {n.strip() for n in (container or "").lower().split(",") if n.strip()}
    if names & _ISO_NAMES:
        return "iso"
    if names == {"webm"} or ("webm" in names and codec in ("vp8", "vp9", "av1")):
        return "webm"
    if names & {"matroska", "webm"}:
        return "mkv"
    return ",".join(sorted(names))


def format_label(container: str | None, codec: str | None, pix_fmt: str | None = None) -> str:
    """A movie's format in words: "MPEG-4 Part 2 in AVI", "H.264 (yuv422p) in MP4/MOV"."""
    name = codec_name(codec)
    label = CODEC_LABELS.get(name, name or "an unknown codec")
    if name == "h264" and pix_fmt and pix_fmt not in _H264_PIX_FMTS:
        label += f" ({pix_fmt})"
    kind = _container_kind(container, name)
    where = {"iso": "MP4/MOV", "webm": "WebM", "mkv": "MKV (Matroska)"}.get(kind)
    if where is None and kind:
        where = CONTAINER_LABELS.get(kind, kind.upper())
    return f"{label} in {where}" if where else label


def playback_problem(container: str | None, codec: str | None,
                     pix_fmt: str | None = None) -> str | None:
    """Why a browser cannot play this format, or None when it can.

    container: FFmpeg's demuxer name ("avi", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm");
    codec: FFmpeg's codec or decoder name ("mpeg4", "msmpeg4", "h264"); pix_fmt: the
    decoder's pixel format (None: unknown, taken as fine). The rule is what Chrome,
    Firefox and Safari all play: H.264 in 8-bit 4:2:0, VP8, VP9 or AV1, in MP4/MOV or WebM.
    """
    name = codec_name(codec)
    kind = _container_kind(container, name)
    label = format_label(container, codec, pix_fmt)
    if name not in _BROWSER_CODECS:
        return f"{label}: browsers do not decode {CODEC_LABELS.get(name, name or 'it')}"
    if name == "h264" and pix_fmt and pix_fmt not in _H264_PIX_FMTS:
        return f"{label}: browsers decode H.264 only as 8-bit 4:2:0 (yuv420p)"
    if kind == "iso" or (kind == "webm" and name != "h264"):
        return None
    return f"{label}: browsers do not open that container"


def browser_playable(container: str | None, codec: str | None,
                     pix_fmt: str | None = None) -> bool:
    """True when Chrome, Firefox and Safari can play this format (see playback_problem,
    which gives the reason when not)."""
    return playback_problem(container, codec, pix_fmt) is None


def movie_playable(movie) -> bool | None:
    """Whether the browser can play a movie's own file: recorded at ingest, else judged from
    its recorded container and codec; None when neither is known (an older record)."""
    if movie.browser_playable is not None:
        return bool(movie.browser_playable)
    if movie.container and movie.codec:
        return browser_playable(movie.container, movie.codec)
    return None


def proxy_relpath(movie_id: int) -> str:
    """movie.proxy_path as stored: relative to the workspace root."""
    return f"{PROXIES_SUBDIR}/{movie_id:05d}.mp4"


def proxy_command(movie_id: int) -> str:
    return f"dfew-build movies proxy {movie_id}"


@dataclass(frozen=True)
class PlaybackSource:
    """What the extractor page plays for a movie: `path` and `kind` ("proxy" or
    "original"), or no path, `problem` (a sentence for the page) and `fix` (the command)."""

    path: Path | None
    kind: str | None = None
    problem: str | None = None
    fix: str | None = None

    @property
    def message(self) -> str | None:
        return f"{self.problem} {self.fix}" if self.problem else None


def playback_file(movie, workspace_root: Path) -> tuple[Path | None, str | None]:
    """(file, kind) a browser gets for a movie: (proxy, "proxy") when its proxy file exists,
    else (own file, "original") unless a browser cannot play it (unknown playability: the
    file), else (None, None). Cheap enough for a list of movies: one stat, nothing decoded."""
    if movie.proxy_path:
        proxy = Path(workspace_root) / movie.proxy_path
        if proxy.is_file():
            return proxy, "proxy"
    if movie_playable(movie) is not False:
        return Path(movie.path), "original"
    return None, None


def playback_source(movie, workspace_root: Path) -> PlaybackSource:
    """playback_file, with the page's sentence and the fixing command when nothing plays."""
    path, kind = playback_file(movie, workspace_root)
    if path is not None:
        return PlaybackSource(path, kind)
    label = format_label(movie.container, movie.codec, _pix_fmt_if_h264(movie))
    return PlaybackSource(None, None, (f"This movie's format ({label}) cannot play in a "
                                       "browser; an admin can make a playable copy with:"),
                          proxy_command(movie.id))


def _pix_fmt_if_h264(movie) -> str | None:
    """An unplayable H.264 movie is so for its pixel format, which the row does not keep."""
    if codec_name(movie.codec) != "h264" or not os.path.isfile(movie.path):
        return None
    facts = stream_facts(movie.path)
    return facts.pix_fmt if facts else None
