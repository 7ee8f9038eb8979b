"""Ctrl-C (a real SIGINT) and SIGKILL in the long stages, run as real `dfew-build`
processes: what finished is said, with the command that resumes, exit status 130; a
re-run does only what is missing; a killed `clips cut` leaves no FFmpeg running and its
partial files are cleaned by the next run (issue 17 items 11, 13)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import torch
from sqlalchemy import func, select

from dfew_build.bench.config import TrainConfig
from dfew_build.bench.motion import fill_workspace
from dfew_build.bench.protocol import train
from dfew_build.db.models import Clip, FaceTrack
from dfew_build.errors import Interrupted
from dfew_build.media.fingerprint import file_sha256
from dfew_build.workspace import init_workspace, open_workspace

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(),
                                reason="reads child processes from /proc (Linux)")


def start(*args: str) -> subprocess.Popen:
    """`dfew-build ARGS` as its own process, importing this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.Popen(
        [sys.executable, "-c", "from dfew_build.cli import main; main()", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(condition, timeout: float = 180, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> dict[int, str]:
    """{pid: command name} of the processes whose parent is ``pid`` (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:]
        if int(rest.split()[1]) == pid:
            found[int(entry.name)] = name
    return found


def running(pid: int) -> bool:
    """A process that has not ended (a zombie waiting for its reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def interrupt(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=180)
    assert process.returncode == 130, (process.returncode, err[-3000:])
    assert "Traceback" not in err and "Aborted!" not in err, err[-3000:]
    return out, err


def resume_line(err: str) -> list[str]:
    line = next(line for line in err.splitlines() if line.startswith("resume with: "))
    return shlex.split(line[len("resume with: "):])


# -- clips cut ------------------------------------------------------------------------------

def write_noise_movie(path: Path, seconds: int = 5, fps: int = 25) -> Path:
    """960 × 540 blocky noise: slow to encode at the quality `cut` uses (a 2.5 s clip takes
    seconds), so a run can be caught with FFmpeg in the middle of a clip."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 960, 540, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        for _ in range(seconds * fps):
            image = rng.integers(0, 256, (135, 240, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def to_cut(cli, tmp_path):
    """A workspace with two accepted 2.4 s clips of a noise movie, not cut yet."""
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    assert cli("-w", ws, "ingest", write_noise_movie(tmp_path / "noise.mp4")).exit_code == 0
    (tmp_path / "clips.csv").write_text("movie,start,end,extractor\n1,0,2.4,x\n1,2.5,4.9,x\n")
    assert cli("-w", ws, "clips", "import", tmp_path / "clips.csv").exit_code == 0
    return ws


def cut_state(ws: Path) -> list[tuple[int, str | None, str | None]]:
    workspace = open_workspace(ws)
    with workspace.session() as session:
        rows = [(c.id, c.path, c.sha256) for c in session.scalars(select(Clip).order_by(Clip.id))]
    workspace.close()
    return rows


def assert_cut_correctly(cli, ws: Path, expected_stdout: str) -> None:
    result = cli("-w", ws, "clips", "cut")
    assert result.exit_code == 0, result.output
    assert result.stdout == expected_stdout
    assert sorted(p.name for p in (ws / "clips").iterdir()) == ["00001.mp4", "00002.mp4"]
    for clip_id, path, digest in cut_state(ws):
        assert digest == file_sha256(ws / path)
        with av.open(str(ws / path)) as container:
            assert container.streams.video[0].frames == 60, clip_id  # 2.4 s at 25 fps


def ffmpeg_children(process: subprocess.Popen) -> list[int]:
    """The FFmpeg children encoding a clip (not a short `ffmpeg -version` probe)."""
    found = []
    for pid, name in children(process.pid).items():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if "ffmpeg" in name and any(arg.endswith(b".part") for arg in command):
            found.append(pid)
    return found


def test_killed_cut_leaves_no_ffmpeg_and_the_next_run_cleans_up(cli, to_cut):
    process = start("-w", to_cut, "clips", "cut", "--jobs", "1")
    ffmpeg = wait_for(lambda: ffmpeg_children(process), what="an FFmpeg child")
    wait_for(lambda: list((to_cut / "clips").glob(".*.part")), what="a .part file")
    process.kill()  # SIGKILL to the CLI alone: its FFmpeg child is not signalled
    process.communicate()
    killed = time.monotonic()
    wait_for(lambda: not any(running(pid) for pid in ffmpeg), timeout=1.0,
             what="the FFmpeg child to die with its parent")
    assert time.monotonic() - killed < 1.0
    assert list((to_cut / "clips").glob(".*.part")), "the partial file to clean up"
    assert_cut_correctly(cli, to_cut, "cut 2, already cut 0, failed 0\n")
    assert not list((to_cut / "clips").glob(".*.part"))


def test_ctrl_c_in_cut_stops_ffmpeg_and_says_what_is_saved(cli, to_cut):
    process = start("-w", to_cut, "clips", "cut", "--jobs", "1")
    wait_for(lambda: any(path for _, path, _ in cut_state(to_cut)), what="the first clip")
    ffmpeg = wait_for(lambda: ffmpeg_children(process), what="the second clip's FFmpeg")
    _, err = interrupt(process)
    assert not any(running(pid) for pid in ffmpeg)
    assert f"\ninterrupted: stopped after 1 of 2 clips; 1 is saved, the clips in flight were " \
           "stopped and will be cut by the next run\n" in err
    assert resume_line(err) == ["dfew-build", "-w", str(to_cut), "clips", "cut", "--jobs", "1"]
    assert not list((to_cut / "clips").glob(".*.part"))
    assert_cut_correctly(cli, to_cut, "cut 1, already cut 1, failed 0\n")


# -- preprocess -----------------------------------------------------------------------------

def test_ctrl_c_in_preprocess_keeps_the_clips_done(cli, workspace, sample_media):
    for clip_id in range(1, 5):
        shutil.copy(sample_media / "single_face.mp4", workspace.clips_dir / f"{clip_id:05d}.mp4")
    with workspace.session() as session:
        for clip_id in range(1, 5):
            session.add(Clip(id=clip_id, start_s=0.0, end_s=2.4, duration_s=2.4,
                             path=f"clips/{clip_id:05d}.mp4"))

    def recorded() -> int:
        with workspace.session() as session:
            return session.scalar(select(func.count()).select_from(FaceTrack))

    process = start("-w", workspace.root, "preprocess", "--detector", "mtcnn", "--redo")
    wait_for(recorded, what="the first preprocessed clip")
    _, err = interrupt(process)
    saved = recorded()
    assert 1 <= saved < 4
    assert (f"\ninterrupted: stopped after {saved} of 4 clips; {saved} "
            f"{'is' if saved == 1 else 'are'} saved, the clips in flight are done by the next "
            "run\n") in err
    # --redo again would redo the saved clips too: the resume names the rest
    rest = f"{saved + 1}-4" if saved < 3 else "4"
    assert resume_line(err) == ["dfew-build", "-w", str(workspace.root), "preprocess",
                                "--detector", "mtcnn", "--redo", "--clips", rest]
    again = cli("-w", workspace.root, "preprocess", "--detector", "mtcnn")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"preprocessed {4 - saved} clips with mtcnn: kept "
                                   f"{4 - saved}, ")
    assert f"; already done {saved}\n" in again.stdout


# -- clips propose --------------------------------------------------------------------------

def test_ctrl_c_in_propose_keeps_the_movies_done(cli, tmp_path, sample_media):
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    assert cli("-w", ws, "ingest", sample_media / "single_face.mp4",
               sample_media / "WolfgangLanger_Pexels.mp4").exit_code == 0

    def proposed() -> int:
        return sum(1 for _ in cut_state(ws))

    process = start("-w", ws, "clips", "propose", "--detector", "mtcnn", "--again")
    wait_for(proposed, what="the first movie's candidates")  # movie 2 takes seconds more
    _, err = interrupt(process)
    assert proposed() == 1
    assert ("\ninterrupted: stopped after 1 of 2 movies; the 1 new candidates of the 1 "
            "movies proposed are saved, the movie in progress is looked at by the next "
            "run\n") in err
    assert resume_line(err) == ["dfew-build", "-w", str(ws), "clips", "propose", "--detector",
                                "mtcnn", "--again", "--movies", "2"]
    again = cli("-w", ws, "clips", "propose", "--detector", "mtcnn")
    assert again.exit_code == 0, again.output
    assert "(1 skipped: already proposed, 0 failed)" in again.stdout


# -- train ----------------------------------------------------------------------------------

@pytest.fixture
def ready(workspace):
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    return workspace


def test_ctrl_c_in_train_says_what_is_saved_and_resumes(cli, ready):
    process = start("-w", ready.root, "train", "--model", "resnet3d_18", "--size", "16",
                    "--epochs", "50", "--workers", "0", "--batch-size", "8")
    last = wait_for(lambda: next(ready.runs_dir.glob("*/last.pt"), None), what="epoch 1")
    _, err = interrupt(process)
    run = last.parent
    epoch = torch.load(last, weights_only=True, map_location="cpu", mmap=True)["epoch"]
    saved = "epoch 1 of 50" if epoch == 1 else f"epochs 1-{epoch} of 50"
    assert (f"\ninterrupted: stopped in epoch {epoch + 1} of 50: {saved} saved in {run}\n"
            in err), err[-2000:]
    # a new run's same command line would start another run: the resume names this one
    assert resume_line(err) == ["dfew-build", "-w", str(ready.root), "train", "--resume",
                                run.name]
    result = cli("-w", ready.root, "train", "--resume", run.name, "--epochs", str(epoch + 1))
    assert result.exit_code == 0, result.output
    assert f"fold 1 epoch {epoch + 1}: train loss" in result.output
    assert f"fold 1 epoch {epoch}:" not in result.output
    epochs = pd.read_csv(run / "metrics.csv")["epoch"].tolist()
    assert epochs == list(range(1, epoch + 2))


def test_ctrl_c_before_the_first_epoch_ends_leaves_no_run_folder(ready):
    """A real SIGINT to this process once the run folder has its config.json."""
    config = TrainConfig(model="resnet3d_18", size=16, epochs=3, workers=0, batch_size=8)

    def send_when_started():
        wait_for(lambda: next(ready.runs_dir.glob("*/config.json"), None), timeout=120)
        os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=send_when_started, daemon=True)
    sender.start()
    with pytest.raises(Interrupted) as excinfo:
        train(ready, config)
    sender.join()
    message = str(excinfo.value)
    assert message.startswith("stopped in epoch 1 of 3, before any epoch finished: nothing "
                              "to keep, so the run folder ")
    assert excinfo.value.resume is None  # the same command starts it again
    assert list(ready.runs_dir.iterdir()) == []


def test_ctrl_c_during_the_folds_of_all_names_the_folds_finished(tmp_path):
    workspace, _ = init_workspace(tmp_path / "ws")
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    config = TrainConfig(model="resnet3d_18", model_kwargs={"block_inplanes": (4, 8, 8, 8)},
                         size=16, epochs=2, workers=0, batch_size=8, fold="all", tsne=False)

    def stop_in_fold_two(epoch, row):
        if row["fold"] == 2 and epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the signal arrives here

    with pytest.raises(Interrupted) as excinfo:
        train(workspace, config, on_epoch_end=stop_in_fold_two)
    base = next(workspace.runs_dir.iterdir())
    assert str(excinfo.value) == (f"stopped in fold 2 of folds 1, 2: fold 1 finished, fold 2 "
                                  f"has epoch 1 of 2 saved, in {base}")
    assert excinfo.value.resume == ["train", "--resume", base.name]
    workspace.close()
