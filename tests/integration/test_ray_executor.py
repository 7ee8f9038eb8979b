"""`--executor ray` (issue 18): `clips propose`, `clips cut` and `preprocess` on a local Ray
instance (2 CPUs) give byte for byte what the local executor gives; a Ray worker killed
mid-task is retried and nothing is written twice; without Ray the commands say how to
install it. Real sample media, short: two movies of 2.4 and 6.4 s, three clips."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from dfew_build.clips.cut import cut_clips
from dfew_build.clips.propose import proposal_detector, propose_clips
from dfew_build.db.models import Clip, FaceTrack
from dfew_build.executors import RAY_MISSING, RayExecutor
from dfew_build.faces.pipeline import preprocess
from dfew_build.faces.store import open_tensor_store
from dfew_build.media.ingest import ingest
from dfew_build.workspace import init_workspace, open_workspace

MOVIES = ("single_face.mp4", "noface_face.mov")


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the module; the executors use it as it is."""
    import ray  # the [ray] extra, which the README's test command installs

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=200 * 2**20, logging_level="ERROR")
    yield ray
    ray.shutdown()


# -- what a workspace holds after each stage, to compare byte for byte -----------------------

def clip_rows(ws: Path) -> list[tuple]:
    workspace = open_workspace(ws)
    with workspace.session() as session:
        rows = [(c.id, c.movie_id, c.start_s, c.end_s, c.source, c.status, c.path, c.sha256)
                for c in session.scalars(select(Clip).order_by(Clip.id))]
    workspace.close()
    return rows


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below folder (hidden ones too: a stray temporary must show)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def face_results(ws: Path) -> tuple[list[tuple], dict[int, bytes]]:
    workspace = open_workspace(ws)
    with workspace.session() as session:
        rows = [(t.clip_id, t.detector, t.frames_total, t.frames_with_face, t.status,
                 t.reason, t.storage)
                for t in session.scalars(select(FaceTrack).order_by(FaceTrack.clip_id))]
    workspace.close()
    array, index = open_tensor_store(ws / "faces" / "tensors")
    assert index["clip_id"].is_unique
    tensors = {int(c): np.asarray(array[int(r)]).tobytes()
               for r, c in zip(index["row"], index["clip_id"])}
    return rows, tensors


def timed(cli, *args) -> float:
    start = time.perf_counter()
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return time.perf_counter() - start


def test_three_stages_identical_to_local(cli, tmp_path, sample_media, ray_session):
    seconds: dict[str, dict[str, float]] = {}
    outputs = {}
    for executor in ("local", "ray"):
        ws = tmp_path / executor
        cli("init", ws)
        for name in MOVIES:
            assert cli("-w", ws, "ingest", sample_media / name).exit_code == 0
        extra = ["--executor", "ray"] if executor == "ray" else []
        took = seconds[executor] = {}
        propose = cli("-w", ws, "clips", "propose", "--detector", "mtcnn", "--json", *extra)
        assert propose.exit_code == 0, propose.stderr
        took["propose"] = timed(cli, "-w", ws, "clips", "propose", "--again", "--detector",
                                "mtcnn", *extra)  # scans again, proposes nothing new
        # Both candidates confirmed, plus a manual clip before noface_face's face enters.
        assert cli("-w", ws, "clips", "confirm", "1", "2", "--extractor", "x",
                   "--new-extractor").exit_code == 0
        csv = tmp_path / "manual.csv"
        csv.write_text("movie,start,end,extractor\n2,0.5,2.5,x\n")
        assert cli("-w", ws, "clips", "import", csv).exit_code == 0
        took["cut"] = timed(cli, "-w", ws, "clips", "cut", *extra)
        took["preprocess"] = timed(cli, "-w", ws, "preprocess", "--detector", "mtcnn", *extra)
        again = cli("-w", ws, "preprocess", "--detector", "mtcnn", "--json", *extra)
        assert json.loads(again.stdout)["summary"]["already_done"] == 3  # resumable as today
        outputs[executor] = (json.loads(propose.stdout), clip_rows(ws),
                             files_under(ws / "clips"), face_results(ws),
                             files_under(ws / "faces" / "frames"))
    print(f"\nseconds per stage (local vs ray, 2 CPUs): {json.dumps(seconds)}")
    local, ray = outputs["local"], outputs["ray"]
    assert local[0] == ray[0]  # the same proposals, reported the same way
    assert local[0]["summary"]["candidates"] == 2
    assert local[1] == ray[1]  # the same clip rows: ids, spans, paths, sha256
    assert [r[6] for r in local[1]] == [f"clips/{i:05d}.mp4" for i in (1, 2, 3)]
    assert local[2] == ray[2]  # the same clip files, nothing else in clips/
    assert sorted(local[2]) == ["00001.mp4", "00002.mp4", "00003.mp4"]
    assert local[3][0] == ray[3][0]  # the same face_track rows
    # The manual clip is before noface_face's face enters: dropped, in both.
    assert [r[4] for r in local[3][0]] == ["kept", "kept", "dropped_low_face_rate"]
    assert local[3][1] == ray[3][1]  # the same tensors
    assert local[4] == ray[4]  # the same aligned-face JPEGs, no temporaries
    assert len(local[4]) > 100


# -- a worker killed mid-task ----------------------------------------------------------------

def job_key(job) -> int:
    """The clip (cut, preprocess) or movie (propose: (movie snapshot, ...)) of a job."""
    return job.clip_id if hasattr(job, "clip_id") else job[0].id


class KillFirstAttempt:
    """Runs the stage's function (its files are written), then, on the first attempt of
    job `victim`, kills its own Ray worker process before the result is returned. Every
    attempt is logged to a file, so the test sees the retry."""

    def __init__(self, fn, victim: int, log: Path):
        self.fn, self.victim, self.log = fn, victim, log

    def __call__(self, job):
        result = self.fn(job)
        key = job_key(job)
        with open(self.log, "a") as log:
            log.write(f"{key} {os.getpid()}\n")
        if key == self.victim and len(self.attempts(key)) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def attempts(self, key: int) -> list[str]:
        return [line for line in self.log.read_text().splitlines()
                if line.split()[0] == str(key)]


class KillingExecutor(RayExecutor):
    def __init__(self, victim: int, log: Path, **options):
        super().__init__(**options)
        self.victim, self.log = victim, log

    def map(self, fn, jobs, **options):
        return super().map(KillFirstAttempt(fn, self.victim, self.log), jobs, **options)


def small_workspace(root: Path, sample_media: Path):
    workspace, _ = init_workspace(root)
    ingest(workspace, [sample_media / "single_face.mp4"])
    return workspace


def test_killed_worker_is_retried_and_nothing_is_duplicated(tmp_path, sample_media,
                                                            ray_session):
    log = tmp_path / "attempts.log"
    reference = small_workspace(tmp_path / "local", sample_media)
    workspace = small_workspace(tmp_path / "ray", sample_media)
    killer = KillingExecutor(1, log)
    # propose: the one movie's scan dies once; its candidates are recorded once.
    assert propose_clips(reference, make_detector=lambda: proposal_detector(
        reference, "mtcnn")).summary()["candidates"] == 1
    report = propose_clips(workspace, executor=killer, detector_options={"name": "mtcnn"})
    assert report.summary() == {"movies": 1, "proposed": 1, "skipped": 0, "failed": 0,
                                "candidates": 1}
    pids = [line.split()[1] for line in log.read_text().splitlines()]
    assert len(pids) == 2 and pids[0] != pids[1]  # run again, in a new worker process
    # cut: clip 1 is cut, os.replace'd into place, then its worker dies; cut again.
    for ws in (reference, workspace):
        with ws.session() as session:
            session.get(Clip, 1).status = "accepted"
            session.add(Clip(movie_id=1, start_s=1.0, end_s=2.0, duration_s=1.0,
                             source="manual", status="accepted"))
    log.unlink()
    assert cut_clips(reference).cut == [1, 2]
    assert cut_clips(workspace, executor=killer).as_dict() == {
        "summary": {"cut": 2, "already_cut": 0, "failed": 0}, "clip_ids": [1, 2],
        "failed": {}}
    assert len(KillFirstAttempt(None, 1, log).attempts(1)) == 2
    assert clip_rows(workspace.root) == clip_rows(reference.root)
    assert files_under(workspace.clips_dir) == files_under(reference.clips_dir)
    # preprocess: clip 1's frames and tensor are made twice, stored once.
    log.unlink()
    preprocess(reference, detector="mtcnn")
    report = preprocess(workspace, detector="mtcnn", executor=killer)
    assert [(r.clip_id, r.status) for r in report.results] == [(1, "kept"), (2, "kept")]
    assert len(KillFirstAttempt(None, 1, log).attempts(1)) == 2
    assert face_results(workspace.root) == face_results(reference.root)
    assert files_under(workspace.frames_dir) == files_under(reference.frames_dir)
    reference.close()
    workspace.close()


def test_clip_whose_worker_always_dies_is_failed_then_redone(tmp_path, sample_media,
                                                             ray_session):
    """With no retries left the clip is recorded as failed (the rest go on), and the next
    run, which tries failed clips again, finishes it."""
    log = tmp_path / "attempts.log"
    workspace = small_workspace(tmp_path / "ws", sample_media)
    with workspace.session() as session:
        for start in (0.0, 1.0):
            session.add(Clip(movie_id=1, start_s=start, end_s=start + 1.0, duration_s=1.0,
                             source="manual", status="accepted"))
    assert cut_clips(workspace).cut == [1, 2]
    report = preprocess(workspace, detector="mtcnn",
                        executor=KillingExecutor(2, log, max_retries=0))
    statuses = {r.clip_id: (r.status, r.reason) for r in report.results}
    assert statuses[1] == ("kept", None)
    assert statuses[2][0] == "failed"
    assert statuses[2][1].startswith(f"{workspace.clips_dir / '00002.mp4'}: its Ray worker "
                                     "died on each of 1 attempts (killed, out of memory or "
                                     "its node lost: ")
    assert statuses[2][1].endswith("; run again to retry it")
    again = preprocess(workspace, detector="mtcnn", executor=RayExecutor())
    assert [(r.clip_id, r.status) for r in again.results] == [(2, "kept")]
    rows, tensors = face_results(workspace.root)
    assert [(r[0], r[4]) for r in rows] == [(1, "kept"), (2, "kept")]
    assert sorted(tensors) == [1, 2]
    assert sorted(os.listdir(workspace.frames_dir)) == ["00001", "00002"]
    workspace.close()


# -- without Ray -----------------------------------------------------------------------------

def test_missing_ray_is_one_line_naming_the_extra(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    cli("init", tmp_path / "ws")
    for command in (["preprocess"], ["clips", "propose"], ["clips", "cut"]):
        result = cli("-w", tmp_path / "ws", *command, "--executor", "ray")
        assert result.exit_code == 1, command
        assert result.stderr == f"Error: {RAY_MISSING}\n"
    assert RAY_MISSING == ('--executor ray needs Ray, which is not installed: pip install '
                           '"dfew-build[ray]" (from a checkout: pip install -e ".[ray]")')
    result = cli("-w", tmp_path / "ws", "clips", "cut", "--ray-address", "auto")
    assert result.exit_code == 1
    assert result.stderr == ("Error: --ray-address is for --executor ray; add --executor ray "
                             "or leave --ray-address out\n")


def test_nothing_imports_ray_unless_asked():
    code = ("import sys, dfew_build.cli, dfew_build.faces.pipeline, dfew_build.clips.cut, "
            "dfew_build.clips.propose, dfew_build.executors; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout == "False\n"
