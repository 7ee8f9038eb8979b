"""Which formats a browser plays (dfew_build.media.proxy.browser_playable), in FFmpeg's
demuxer and decoder names as the probe records them, and the words the page uses."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from dfew_build.media.proxy import (browser_playable, format_label, movie_playable,
                                    playback_problem, playback_source)

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"
MKV = "matroska,webm"


@pytest.mark.parametrize("container, codec, pix_fmt", [
    (MP4, "h264", "yuv420p"),
    (MP4, "h264", "yuvj420p"),
    (MP4, "h264", None),            # pixel format unknown: taken as fine
    (MP4, "vp9", "yuv420p"),
    (MP4, "av1", "yuv420p10le"),
    (MP4, "libdav1d", "yuv420p"),   # FFmpeg's AV1 decoder name
    (MKV, "vp8", "yuv420p"),        # FFmpeg's one Matroska demuxer: WebM codecs only = WebM
    (MKV, "vp9", "yuv420p"),
    (MKV, "libvpx-vp9", "yuv420p"),
    (MKV, "av1", "yuv420p"),
    ("webm", "vp9", None),
    ("mov", "h264", "yuv420p"),
])
def test_playable(container, codec, pix_fmt):
    assert browser_playable(container, codec, pix_fmt)
    assert playback_problem(container, codec, pix_fmt) is None


@pytest.mark.parametrize("container, codec, pix_fmt, reason", [
    ("avi", "mpeg4", "yuv420p",
     "MPEG-4 Part 2 in AVI: browsers do not decode MPEG-4 Part 2"),
    ("avi", "msmpeg4v2", "yuv420p", "MS-MPEG4 v2 in AVI: browsers do not decode MS-MPEG4 v2"),
    ("avi", "msmpeg4", "yuv420p",   # FFmpeg's decoder name for MS-MPEG4 v3 (DivX ;-) 3)
     "MS-MPEG4 v3 in AVI: browsers do not decode MS-MPEG4 v3"),
    (MP4, "mpeg4", "yuv420p", "MPEG-4 Part 2 in MP4/MOV: browsers do not decode MPEG-4 Part 2"),
    ("mpeg", "mpeg2video", "yuv420p",
     "MPEG-2 in MPEG-PS (VOB/MPG): browsers do not decode MPEG-2"),
    ("mpeg", "mpeg1video", "yuv420p",
     "MPEG-1 in MPEG-PS (VOB/MPG): browsers do not decode MPEG-1"),
    ("mpegts", "h264", "yuv420p", "H.264 in MPEG-TS: browsers do not open that container"),
    (MKV, "h264", "yuv420p", "H.264 in MKV (Matroska): browsers do not open that container"),
    ("avi", "h264", "yuv420p", "H.264 in AVI: browsers do not open that container"),
    (MP4, "hevc", "yuv420p", "HEVC (H.265) in MP4/MOV: browsers do not decode HEVC (H.265)"),
    (MP4, "h264", "yuv420p10le",
     "H.264 (yuv420p10le) in MP4/MOV: browsers decode H.264 only as 8-bit 4:2:0 (yuv420p)"),
    (MP4, "h264", "yuv422p",
     "H.264 (yuv422p) in MP4/MOV: browsers decode H.264 only as 8-bit 4:2:0 (yuv420p)"),
    ("asf", "wmv3", "yuv420p", "WMV 9 in ASF (WMV): browsers do not decode WMV 9"),
    ("avi", "mjpeg", "yuvj422p", "Motion JPEG in AVI: browsers do not decode Motion JPEG"),
    ("flv", "flv1", "yuv420p", "Sorenson Spark in FLV: browsers do not decode Sorenson Spark"),
    ("ogg", "theora", "yuv420p", "Theora in Ogg: browsers do not decode Theora"),
])
def test_not_playable_with_the_reason(container, codec, pix_fmt, reason):
    assert not browser_playable(container, codec, pix_fmt)
    assert playback_problem(container, codec, pix_fmt) == reason


def test_labels():
    assert format_label("avi", "mpeg4") == "MPEG-4 Part 2 in AVI"
    assert format_label(MKV, "vp9") == "VP9 in WebM"
    assert format_label(MKV, "mpeg2video") == "MPEG-2 in MKV (Matroska)"
    assert format_label(None, "mpeg4") == "MPEG-4 Part 2"
    assert format_label("nut", "ffv1") == "ffv1 in NUT"


def _movie(**columns):
    base = dict(id=3, path="/nowhere/megamind.avi", codec=None, container=None,
                browser_playable=None, proxy_path=None)
    return SimpleNamespace(**{**base, **columns})


def test_movie_playable_uses_the_record_then_the_format():
    assert movie_playable(_movie(browser_playable=False, container=MP4, codec="h264")) is False
    assert movie_playable(_movie(container="avi", codec="mpeg4")) is False
    assert movie_playable(_movie(container=MP4, codec="h264")) is True
    assert movie_playable(_movie(codec="mpeg4")) is None  # an older record: unknown


def test_playback_source(tmp_path):
    unplayable = _movie(container="avi", codec="mpeg4", browser_playable=False)
    source = playback_source(unplayable, tmp_path)
    assert source.path is None
    assert source.message == ("This movie's format (MPEG-4 Part 2 in AVI) cannot play in a "
                              "browser; an admin can make a playable copy with: "
                              "dfew-build movies proxy 3")
    (tmp_path / "proxies").mkdir()
    (tmp_path / "proxies/00003.mp4").write_bytes(b"x")
    recorded = _movie(container="avi", codec="mpeg4", browser_playable=False,
                      proxy_path="proxies/00003.mp4")
    assert playback_source(recorded, tmp_path).path == tmp_path / "proxies/00003.mp4"
    assert playback_source(recorded, tmp_path).kind == "proxy"
    (tmp_path / "proxies/00003.mp4").unlink()  # recorded but gone: say so again
    assert playback_source(recorded, tmp_path).path is None
    unknown = playback_source(_movie(), tmp_path)  # unknown format: the file, as before
    assert (unknown.path, unknown.kind) == (Path("/nowhere/megamind.avi"), "original")
