"""`movies proxy` / `ingest --proxies` and the extractor page on movies a browser cannot play
(issue 12, item 10): Megamind-style MPEG-4 Part 2 and MS-MPEG4 AVIs and a broadcast MPEG-TS
whose clock starts minutes in, all built here with imageio-ffmpeg's FFmpeg."""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess

import av
import numpy as np
import pytest

from dfew_build.db.models import Movie
from dfew_build.media.decode import Display, VideoReader
from dfew_build.workspace import open_workspace
from tests.annotation_data import build_site, make_client
from tests.videos import write_video


def ffmpeg(*args) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y",
                    *map(str, args)], check=True)


# testsrc2 draws a moving pattern and a frame counter: neighbouring frames differ.
def _source(rate: str, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={rate}:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unplayable")
    # DivX/XviD-style: MPEG-4 Part 2 with B-frames at 23.976 fps, MP3 audio; the first
    # frame is at 0.042 s (one frame of reordering delay), as in Megamind-style rips.
    ffmpeg(*_source("24000/1001", 5), "-c:v", "mpeg4", "-bf", "2", "-q:v", "4",
           "-c:a", "mp3", folder / "divx.avi")
    # MS-MPEG4 v2, no audio.
    ffmpeg(*_source("25", 4), "-map", "0:v", "-c:v", "msmpeg4v2", "-q:v", "4",
           folder / "msmpeg4.avi")
    # A broadcast recording: MPEG-2 in MPEG-TS, timestamps starting 600 s in, audio first.
    ffmpeg(*_source("25", 4), "-c:v", "mpeg2video", "-q:v", "4", "-c:a", "mp2",
           "-output_ts_offset", "600", "-f", "mpegts", folder / "broadcast.ts")
    write_video(folder / "playable.mp4", frames=48, fps=24)
    return folder


@pytest.fixture
def ws(cli, tmp_path):
    assert cli("init", tmp_path / "ws").exit_code == 0
    return tmp_path / "ws"


def _movie_rows(ws) -> dict[str, Movie]:
    workspace = open_workspace(ws)
    with workspace.session() as session:
        rows = {os.path.basename(m.path): m for m in session.query(Movie)}
        session.expunge_all()
    workspace.close()
    return rows


def _frames(path, movie=None) -> tuple[np.ndarray, list[np.ndarray]]:
    reader = VideoReader(path, Display.of_movie(movie) if movie else None,
                         movie.start_s if movie else None)
    frames = list(reader.frames())
    return np.array([f.time_s for f in frames]), [f.image.astype(np.int16) for f in frames]


UNPLAYABLE = ("divx.avi", "msmpeg4.avi", "broadcast.ts")


def test_ingest_proxies_keep_the_movie_timeline(cli, ws, media):
    files = [media / name for name in (*UNPLAYABLE, "playable.mp4")]
    result = cli("-w", ws, "ingest", *files, "--proxies", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["proxies"]
    movies = _movie_rows(ws)
    assert {name: m.browser_playable for name, m in movies.items()} == {
        "divx.avi": False, "msmpeg4.avi": False, "broadcast.ts": False, "playable.mp4": True}
    assert [m["movie_id"] for m in report["made"]] == [movies[n].id for n in UNPLAYABLE]
    assert report["playable"] == [movies["playable.mp4"].id] and report["failed"] == {}
    names = {m.id: name for name, m in movies.items()}
    print("\nproxy encode speed:", {names[m["movie_id"]]: f"{m['frames_per_s']} frames/s"
                                    for m in report["made"]})

    for name in UNPLAYABLE:
        movie = movies[name]
        assert movie.proxy_path == f"proxies/{movie.id:05d}.mp4"
        proxy = ws / movie.proxy_path
        with av.open(str(proxy)) as container:
            stream = container.streams.video[0]
            assert "mp4" in container.format.name.split(",")
            assert (stream.codec_context.name, stream.codec_context.pix_fmt) == ("h264",
                                                                                 "yuv420p")
            assert stream.frames == movie.frame_count
            if name != "msmpeg4.avi":
                assert container.streams.audio[0].codec_context.name == "aac"
        # The movie as every stage decodes it (first video frame at 0 s) vs the proxy.
        movie_times, movie_images = _frames(movie.path, movie)
        proxy_times, proxy_images = _frames(proxy)
        assert len(proxy_times) == len(movie_times) == movie.frame_count, name
        assert proxy_times[0] == 0.0
        assert np.abs(proxy_times - movie_times).max() < 1e-3, name
        for n in (1, len(movie_times) // 2, len(movie_times) - 2):
            same = np.abs(proxy_images[n] - movie_images[n]).mean()
            neighbour = min(np.abs(proxy_images[n] - movie_images[m]).mean() for m in (n - 1,
                                                                                       n + 1))
            assert same < 3.0 and same < neighbour / 2, (name, n, same, neighbour)
    assert movies["divx.avi"].start_s == pytest.approx(1001 / 24000, abs=1e-4)
    assert movies["broadcast.ts"].start_s > 600


@pytest.mark.parametrize("kind", ["anamorphic", "rotated"])
def test_proxies_are_as_displayed(cli, ws, tmp_path, kind):
    """Square pixels and rotation applied, as every stage decodes the movie."""
    if kind == "anamorphic":  # a PAL DVD picture: 720x576 stored, 1024x576 shown
        movie_file = tmp_path / "dvd.mkv"
        ffmpeg(*_source("25", 2), "-vf", "scale=720:576,setsar=64/45", "-c:v", "mpeg2video",
               "-q:v", "3", "-c:a", "mp2", movie_file)
        shown = (1024, 576)
    else:  # phone footage: stored sideways with a rotation flag
        stored = tmp_path / "stored.mp4"
        ffmpeg(*_source("25", 2), "-c:v", "mpeg4", "-q:v", "3", "-c:a", "aac", stored)
        movie_file = tmp_path / "phone.mp4"
        ffmpeg("-display_rotation", "90", "-i", stored, "-c", "copy", movie_file)
        shown = (240, 320)
    result = cli("-w", ws, "ingest", movie_file, "--proxies")
    assert result.exit_code == 0, result.output
    [movie] = _movie_rows(ws).values()
    assert (movie.width, movie.height) == shown
    with av.open(str(ws / movie.proxy_path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        assert (ctx.width, ctx.height) == shown
        assert stream.sample_aspect_ratio in (None, 0, 1)
    movie_times, movie_images = _frames(movie.path, movie)
    proxy_times, proxy_images = _frames(ws / movie.proxy_path)
    assert np.abs(proxy_times - movie_times).max() < 1e-3
    n = len(movie_images) // 2
    assert np.abs(proxy_images[n] - movie_images[n]).mean() < 3.0


def test_rerun_is_a_no_op_and_named_movies_get_one_whatever_their_format(cli, ws, media):
    assert cli("-w", ws, "ingest", media / "divx.avi", media / "playable.mp4").exit_code == 0
    first = cli("-w", ws, "movies", "proxy")
    assert first.exit_code == 0, first.output
    assert first.stdout.splitlines()[-1] == ("proxies made 1, already made 0, playable as they "
                                             "are 1, failed 0")
    proxy = ws / "proxies/00001.mp4"
    made = proxy.stat().st_mtime_ns
    again = cli("-w", ws, "movies", "proxy")
    assert again.stdout == "proxies made 0, already made 1, playable as they are 1, failed 0\n"
    assert proxy.stat().st_mtime_ns == made
    # A run killed after the rename but before recording it: the file is adopted, not redone.
    workspace = open_workspace(ws)
    with workspace.session() as session:
        session.get(Movie, 1).proxy_path = None
    workspace.close()
    adopted = cli("-w", ws, "movies", "proxy", "1")
    assert adopted.stdout.startswith("proxies made 0, already made 1")
    assert _movie_rows(ws)["divx.avi"].proxy_path == "proxies/00001.mp4"
    assert proxy.stat().st_mtime_ns == made
    # --again remakes it; a named playable movie gets one too.
    remade = cli("-w", ws, "movies", "proxy", "--again", "1", "playable.mp4", "--json")
    assert remade.exit_code == 0, remade.output
    assert json.loads(remade.stdout)["summary"] == {"made": 2, "already_made": 0,
                                                    "playable": 0, "failed": 0}
    assert proxy.stat().st_mtime_ns != made
    # A proxy left from another movie (same id, other fingerprint) is not taken for this one.
    shutil.copyfile(media / "playable.mp4", proxy)
    assert "proxies made 1" in cli("-w", ws, "movies", "proxy", "1").stdout


def test_missing_movie_file_is_a_clear_failure_and_the_rest_go_on(cli, ws, media, tmp_path):
    gone = tmp_path / "gone.avi"
    shutil.copyfile(media / "msmpeg4.avi", gone)
    result = cli("-w", ws, "ingest", gone, media / "divx.avi")
    assert result.exit_code == 0, result.output
    gone.unlink()
    result = cli("-w", ws, "movies", "proxy")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"failed: movie 1: the movie file is missing: {gone} (moved or deleted since ingest); "
        "ingest it at its new path (dfew-build ingest NEW_PATH), then make the proxy again: "
        "dfew-build movies proxy 1",
        "Error: 1 proxy(ies) could not be made; see the reasons above"]
    assert result.stdout.splitlines()[-1] == ("proxies made 1, already made 0, playable as "
                                              "they are 0, failed 1")
    assert (ws / "proxies/00002.mp4").is_file()
    assert not list((ws / "proxies").glob(".*.part"))
    rows = _movie_rows(ws)
    assert (rows["gone.avi"].proxy_path, rows["divx.avi"].proxy_path) == (
        None, "proxies/00002.mp4")


def test_unknown_movie(cli, ws):
    result = cli("-w", ws, "movies", "proxy", "99")
    assert result.exit_code == 1
    assert result.stderr == ("Error: unknown movie '99': no ingested movie has that id, file "
                             "name or path; ingest it first with: dfew-build ingest PATH\n")


def test_ingest_proxies_failure_keeps_the_ingest(cli, ws, media, tmp_path, monkeypatch):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'Conversion failed!' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr("dfew_build.media.proxy.ffmpeg_exe", lambda: str(fake))
    result = cli("-w", ws, "ingest", media / "msmpeg4.avi", media / "playable.mp4",
                 "--proxies")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "ingested 2, already present 0, rejected 0",
        "proxies made 0, already made 0, playable as they are 1, failed 1"]
    assert result.stderr.splitlines() == [
        "failed: movie 1: FFmpeg failed: Conversion failed!",
        "Error: --proxies: 1 proxy(ies) could not be made (the movies are ingested); after "
        "fixing the reason, retry with: dfew-build movies proxy 1"]
    assert len(_movie_rows(ws)) == 2
    assert not list((ws / "proxies").iterdir())


# ---------------------------------------------------------------------------------------------
# The extractor page and the media route

@pytest.fixture
def site(tmp_path):
    site = build_site(tmp_path / "ws", annotators=1, clips=1, per_clip=1)
    yield site
    site.workspace.close()


def _set_movie(site, **columns):
    with site.workspace.session() as session:
        movie = session.get(Movie, site.movie_id)
        for key, value in columns.items():
            setattr(movie, key, value)


def test_page_says_when_a_movie_cannot_play(site):
    _set_movie(site, container="avi", codec="mpeg4", browser_playable=False)
    client = make_client(site, "extractor1")
    page = client.get(f"/extract/movie/{site.movie_id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert ("This movie's format (MPEG-4 Part 2 in AVI) cannot play in a browser; an admin "
            f"can make a playable copy with: <code>dfew-build movies proxy {site.movie_id}"
            "</code>") in text
    assert "<video" not in text and 'id="mark-in"' not in text and "preview" not in text
    assert "style=" not in text and "<script>" not in text  # the CSP allows neither
    media = client.get(f"/media/movie/{site.movie_id}")
    assert media.status_code == 404
    assert (f"an admin can make a playable copy with: dfew-build movies proxy {site.movie_id}"
            in html.unescape(media.text))


def test_media_route_serves_the_proxy(site, tmp_path):
    (site.workspace.root / "proxies").mkdir(exist_ok=True)
    proxy = write_video(site.workspace.root / f"proxies/{site.movie_id:05d}.mp4", frames=12,
                        width=64, height=48, fps=12, faststart=True)
    original = (tmp_path / "ws/media/tiny.mp4").read_bytes()
    assert proxy.read_bytes() != original
    _set_movie(site, container="avi", codec="mpeg4", browser_playable=False,
               proxy_path=f"proxies/{site.movie_id:05d}.mp4")
    extractor = make_client(site, "extractor1")
    response = extractor.get(f"/media/movie/{site.movie_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == proxy.read_bytes()
    ranged = extractor.get(f"/media/movie/{site.movie_id}", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.content == proxy.read_bytes()[:10]
    # the same access rule as the movie itself
    assert make_client(site, "ann1").get(f"/media/movie/{site.movie_id}").status_code == 403
    assert make_client(site, "admin1").get(f"/media/movie/{site.movie_id}").status_code == 200
    page = extractor.get(f"/extract/movie/{site.movie_id}").text
    assert f'src="/media/movie/{site.movie_id}"' in page and "no-playable-version" not in page
    # A playable movie with a proxy also gets the proxy (e.g. one made for a named movie).
    _set_movie(site, container="mov,mp4,m4a,3gp,3g2,mj2", codec="h264", browser_playable=True)
    assert extractor.get(f"/media/movie/{site.movie_id}").content == proxy.read_bytes()
