"""`dfew-build clips cut`: frame-accurate, verified, audio kept, resumable, on real media."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from dfew_build.db.models import Clip
from dfew_build.media.fingerprint import file_sha256
from dfew_build.workspace import open_workspace


def write_movie_with_audio(path, seconds=6, fps=25, width=320, height=240):
    """H.264 video (a moving bar, frame number encoded in brightness) + an AAC sine tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        samples = 1024
        audio_pts = 0
        for i in range(seconds * fps):
            img = np.full((height, width, 3), (i * 2) % 256, np.uint8)
            img[:, (i * 5) % (width - 20):(i * 5) % (width - 20) + 20] = 255
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
            while audio_pts < (i + 1) * 44100 / fps:
                t = (audio_pts + np.arange(samples)) / 44100
                tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 44100, audio_pts
                frame.time_base = Fraction(1, 44100)
                for packet in audio.encode(frame):
                    container.mux(packet)
                audio_pts += samples
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)
    return path


@pytest.fixture
def ws(cli, tmp_path):
    cli("init", tmp_path / "ws")
    return tmp_path / "ws"


def _import(cli, ws, tmp_path, rows):
    csv = tmp_path / "clips.csv"
    csv.write_text("movie,start,end,extractor\n" + "".join(f"{r},x\n" for r in rows))
    result = cli("-w", ws, "clips", "import", csv)
    assert result.exit_code == 0, result.stderr


def _clips(ws):
    workspace = open_workspace(ws)
    with workspace.session() as session:
        rows = [(c.id, c.start_s, c.end_s, c.path, c.sha256, c.movie.fps)
                for c in session.query(Clip).order_by(Clip.id)]
    workspace.close()
    return rows


def _streams(path):
    with av.open(str(path)) as container:
        return {s.type: s for s in container.streams}, {
            s.type: float(s.duration * s.time_base) for s in container.streams}


def test_cut_real_media_frame_accurate_with_audio(cli, ws, tmp_path, sample_media):
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov"):
        cli("-w", ws, "ingest", sample_media / name)
    # face_noface.mov has a variable frame rate (30 fps, then 24 fps from 2.4 s).
    _import(cli, ws, tmp_path, ["1,1.0,3.5", "1,00:00:10.010,00:00:15.500", "2,0.3,2.4",
                                "3,1.3,3.3", "3,4.0,6.0"])
    result = cli("-w", ws, "clips", "cut", "--jobs", "2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "cut 5, already cut 0, failed 0\n"
    for clip_id, start, end, path, digest, fps in _clips(ws):
        assert path == f"clips/{clip_id:05d}.mp4"
        file = ws / path
        assert digest == file_sha256(file)
        streams, durations = _streams(file)
        assert streams["video"].codec_context.name == "h264"
        assert abs(durations["video"] - (end - start)) <= 1 / fps, (clip_id, durations)
        assert "audio" in streams, clip_id  # every sample movie has sound in these spans
    assert sorted(os.listdir(ws / "clips")) == [f"{i:05d}.mp4" for i in range(1, 6)]
    # The first frame is the movie's frame at start (not the keyframe before it).
    with av.open(str(sample_media / "WolfgangLanger_Pexels.mp4")) as movie:
        frames = [f.to_ndarray(format="gray").astype(float)
                  for f in movie.decode(video=0) if 0.9 < f.time < 1.1]
    with av.open(str(ws / "clips/00001.mp4")) as clip:
        first = next(clip.decode(video=0)).to_ndarray(format="gray").astype(float)
    errors = [np.abs(first - f).mean() for f in frames]
    assert int(np.argmin(errors)) == 2  # frames at 0.918, 0.959, 1.001 s
    assert errors[2] < 2.0 < min(errors[:2])
    again = cli("-w", ws, "clips", "cut")
    assert again.stdout == "cut 0, already cut 5, failed 0\n"


def test_audio_track_kept_and_synced_length(cli, ws, tmp_path):
    movie = write_movie_with_audio(tmp_path / "with_audio.mp4")
    cli("-w", ws, "ingest", movie)
    _import(cli, ws, tmp_path, ["with_audio.mp4,1.24,4.0", "with_audio.mp4,4.5,5.96"])
    assert cli("-w", ws, "clips", "cut").exit_code == 0
    for clip_id, start, end, *_ in _clips(ws):
        streams, durations = _streams(ws / f"clips/{clip_id:05d}.mp4")
        assert streams["audio"].codec_context.name == "aac"
        assert abs(durations["video"] - (end - start)) <= 1 / 25
        assert abs(durations["audio"] - (end - start)) < 0.05
        with av.open(str(ws / f"clips/{clip_id:05d}.mp4")) as container:
            sound = np.concatenate([f.to_ndarray().ravel()
                                    for f in container.decode(audio=0)])
        assert np.abs(sound).max() > 0.2  # the tone, not silence
        # The frame brightness encodes the movie frame number: the cut starts at start.
        with av.open(str(ws / f"clips/{clip_id:05d}.mp4")) as container:
            first = next(container.decode(video=0)).to_ndarray(format="rgb24")
        assert abs(float(np.median(first)) - (round(start * 25) * 2) % 256) <= 2


def test_missing_movie_fails_its_clips_and_the_rest_go_on(cli, ws, tmp_path, sample_media):
    doomed = shutil.copy(sample_media / "single_face.mp4", tmp_path / "doomed.mp4")
    cli("-w", ws, "ingest", doomed, sample_media / "no_face.mp4")
    _import(cli, ws, tmp_path, ["doomed.mp4,0,1", "doomed.mp4,1.2,2.2", "no_face.mp4,0.5,2"])
    os.remove(doomed)
    result = cli("-w", ws, "clips", "cut")
    assert result.exit_code == 1
    reason = (f"the file of movie 1 is missing: {doomed} (moved or deleted since ingest); "
              "ingest it at its new path (dfew-build ingest NEW_PATH) and cut again")
    assert result.stderr.splitlines() == [f"failed: clip 1: {reason}",
                                          f"failed: clip 2: {reason}",
                                          "Error: 2 clip(s) could not be cut; see the reasons "
                                          "above"]
    assert result.stdout == "cut 1, already cut 0, failed 2\n"
    assert [c[3] for c in _clips(ws)] == [None, None, "clips/00003.mp4"]
    # Moved back and re-ingested at a new path: the rest is cut.
    moved = shutil.copy(sample_media / "single_face.mp4", tmp_path / "found_again.mp4")
    cli("-w", ws, "ingest", moved)
    result = cli("-w", ws, "clips", "cut", "--json")
    assert json.loads(result.stdout)["summary"] == {"cut": 2, "already_cut": 1, "failed": 0}


def test_half_written_files_are_never_taken_as_done(cli, ws, tmp_path, sample_media):
    cli("-w", ws, "ingest", sample_media / "no_face.mp4")
    _import(cli, ws, tmp_path, ["1,0,1.5", "1,2,3.5"])
    assert cli("-w", ws, "clips", "cut").exit_code == 0
    good = (ws / "clips/00001.mp4").read_bytes()
    # A crash between the rename and the database update, a half-written file under the
    # final name, a deleted file and a stale temporary of a dead process.
    workspace = open_workspace(ws)
    with workspace.session() as session:
        session.get(Clip, 1).path = None
        session.get(Clip, 1).sha256 = None
    workspace.close()
    (ws / "clips/00001.mp4").write_bytes(good[:len(good) // 2])
    (ws / "clips/00002.mp4").unlink()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = ws / "clips" / f".00002.{dead.pid}.part"
    stale.write_bytes(b"half")
    result = cli("-w", ws, "clips", "cut")
    assert result.stdout == "cut 2, already cut 0, failed 0\n"
    assert not stale.exists()
    for clip_id, _, _, path, digest, _ in _clips(ws):
        assert digest == file_sha256(ws / path)
    assert (ws / "clips/00001.mp4").read_bytes() == good  # deterministic re-encode


def test_interrupted_cut_resumes(cli, ws, tmp_path, sample_media):
    cli("-w", ws, "ingest", sample_media / "WolfgangLanger_Pexels.mp4")
    rows = [f"1,{i * 3.2:.1f},{i * 3.2 + 3:.1f}" for i in range(6)]
    _import(cli, ws, tmp_path, rows)
    process = subprocess.Popen(
        [sys.executable, "-c", "from dfew_build.cli import main; main()", "-w", str(ws),
         "clips", "cut", "--jobs", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if any(c[3] for c in _clips(ws)):
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and its FFmpeg child, mid-clip
    process.wait()
    done = [c for c in _clips(ws) if c[3]]
    assert 1 <= len(done) < 6
    for clip_id, _, _, path, digest, _ in done:
        assert file_sha256(ws / path) == digest
    result = cli("-w", ws, "clips", "cut")
    assert result.stdout == f"cut {6 - len(done)}, already cut {len(done)}, failed 0\n"
    assert sorted(p.name for p in (ws / "clips").iterdir()) == [
        f"{i:05d}.mp4" for i in range(1, 7)]
