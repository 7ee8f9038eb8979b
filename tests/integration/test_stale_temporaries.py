"""Every atomic writer names its temporary after its pid, and the next run of its stage
deletes what a killed writer left (the pid is gone), never a live writer's (issue 17
item 13). The train/evaluate sweep is tested in tests/unit/test_bench_keep.py, `clips
cut`'s in tests/integration/test_stage_interrupts.py."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dfew_build.labels.files import atomic_write_text
from tests.dfew_fixture import build_workspace


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def live_pid():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child.pid
    child.kill()
    child.wait()


def test_atomic_text_writes_sweep_their_own_stale_temporaries(tmp_path, live_pid):
    gone = dead_pid()
    stale = tmp_path / f".report.md.{gone}-k2j9x.tmp"
    live = tmp_path / f".report.md.{live_pid}-a8b7c.tmp"
    other = tmp_path / f".notes.txt.{gone}.tmp"  # another file's: not this writer's to judge
    for path in (stale, live, other):
        path.write_text("partial")
    atomic_write_text(tmp_path / "report.md", "# report\n")
    assert (tmp_path / "report.md").read_text() == "# report\n"
    assert not stale.exists() and live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["report.md", live.name, other.name])  # its own temporary is gone too


def test_votes_export_sweeps_a_killed_export(cli, tmp_path, live_pid):
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    out = tmp_path / "exports"
    out.mkdir()
    gone = dead_pid()
    stale = out / f".votes.csv.{gone}-q1w2e.tmp"
    live = out / f".votes.csv.{live_pid}-r4t5y.tmp"
    for path in (stale, live):
        path.write_text("clip_id,annotator,emotion\n1,")
    result = cli("-w", ws, "votes", "export", out / "votes.csv")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(["votes.csv", live.name])


def test_preprocess_sweeps_store_copies_of_a_killed_run(cli, workspace):
    tensors = workspace.tensors_dir
    tensors.mkdir(parents=True, exist_ok=True)
    gone = dead_pid()
    stale = [tensors / f".112px_16f.npy.{gone}.tmp", tensors / f".112px_16f_index.csv.{gone}.tmp",
             tensors / "112px_16f.npy.tmp"]  # the name before pids
    for path in stale:
        path.write_bytes(b"\0" * 1024)
    result = cli("-w", workspace.root, "preprocess", "--detector", "mtcnn")
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale)


def test_export_sweeps_a_killed_export(cli, workspace, tmp_path):
    build_workspace(workspace)
    out = tmp_path / "DFEW"
    assert cli("-w", workspace.root, "export", "--format", "dfew", out).exit_code == 0
    gone = dead_pid()
    stale = [out / "Annotation" / f".annotation.{gone}.tmp.xlsx",
             out / "Clip" / "original" / f".00001.mp4.{gone}.tmp"]
    frames = next(p for p in (out / "Clip" / "clip_224x224").iterdir() if p.is_dir())
    stale.append(frames / f".{frames.name}_00001.jpg.{gone}.tmp")
    for path in stale:
        path.write_bytes(b"partial")
    result = cli("-w", workspace.root, "export", "--format", "dfew", out)
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale)


def test_frame_hash_cache_sweeps_a_killed_save(tmp_path, live_pid):
    import numpy as np

    from dfew_build.dedup import HashCache, HashSource

    path = tmp_path / "cache" / "frame_hashes.json"
    path.parent.mkdir()
    stale = path.with_name(f".frame_hashes.json.{dead_pid()}.tmp")
    live = path.with_name(f".frame_hashes.json.{live_pid}.tmp")
    for leftover in (stale, live):
        leftover.write_text('{"params": ')
    cache = HashCache(path)
    cache.put(HashSource(1, "/m.mp4", "sig"), np.array([1, 2], dtype=np.uint64))
    cache.save()
    assert path.is_file() and not stale.exists() and live.exists()


def test_queue_order_setting_sweeps_a_killed_write(cli, tmp_path):
    from dfew_build.annotation.assign import QueueOrder
    from dfew_build.annotation.order_setting import record_queue_order

    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    config = ws / "dfew.toml"
    stale = config.with_name(f".dfew.toml.{dead_pid()}.tmp")
    stale.write_text("[annotation]\norder = ")
    record_queue_order(config, "id", 3, QueueOrder("random", 0))
    assert not stale.exists() and 'order = "id"' in config.read_text()
