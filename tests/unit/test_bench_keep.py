"""Which checkpoints a finished run keeps (`train --keep`), what is in them, and the
temporaries a killed writer leaves (issue 17 items 13, 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from dfew_build import tempfiles
from dfew_build.bench.checkpoint import RESUME_KEYS
from dfew_build.bench.config import TrainConfig, resolve_keep
from dfew_build.bench.motion import fill_workspace
from dfew_build.bench.protocol import evaluate_run, train
from dfew_build.errors import TrainingError

TINY = {"block_inplanes": (4, 8, 8, 8)}


def tiny_config(**changes) -> TrainConfig:
    base = TrainConfig(model="resnet3d_18", model_kwargs=TINY, size=16, batch_size=8,
                       workers=0, epochs=1, tsne=False, momentum=0.9)
    return replace(base, **changes)


@pytest.fixture
def small(workspace):
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    return workspace


def dead_pid() -> int:
    """The pid of a process that has ended (as a killed writer's is)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("select, keep, expected", [
    (None, None, ("last", "last")),
    ("best", None, ("best", "best")),
    (None, "best", ("best", "best")),
    (None, "both", ("last", "both")),
    ("best", "both", ("best", "both")),
    ("last", "last", ("last", "last")),
])
def test_keep_and_select_fill_in_each_other(select, keep, expected):
    config = resolve_keep(TrainConfig(model="c3d", select=select, keep=keep))
    assert (config.select, config.keep) == expected


def test_keep_that_would_delete_the_reported_checkpoint_is_refused():
    with pytest.raises(TrainingError) as excinfo:
        resolve_keep(TrainConfig(model="c3d", select="last", keep="best"))
    assert str(excinfo.value) == ("--keep best would delete last.pt, the checkpoint whose "
                                  "result --select last reports: use --select best, or "
                                  "--keep both")


def test_keep_best_leaves_weights_only_and_refuses_to_extend_the_run(small):
    result = train(small, tiny_config(keep="best"))
    folder = result["run_dir"]
    assert (folder / "best.pt").is_file() and not (folder / "last.pt").exists()
    best = torch.load(folder / "best.pt", weights_only=True)
    assert not set(RESUME_KEYS) & set(best), sorted(best)
    assert result["metrics"]["select"] == "best"
    assert evaluate_run(small, result["run"])["checkpoint"] == "best"
    with pytest.raises(TrainingError) as excinfo:
        evaluate_run(small, result["run"], checkpoint="last")
    assert str(excinfo.value) == (f"run {result['run']!r} has no last.pt (the run kept only "
                                  "best.pt: --keep best); use --checkpoint best")
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(TrainingError) as excinfo:
        train(small, resume=result["run"], overrides={"epochs": 2})
    assert str(excinfo.value) == (
        f"{result['run']} finished 1 epochs and kept only best.pt (--keep best): without "
        f"last.pt (the optimiser state) it cannot go on to 2 epochs; train a new run with "
        f"--init-from {folder / 'best.pt'} (weights only), or train again with --keep both")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_keep_both_keeps_the_optimiser_state_in_last_only(small):
    """SGD with momentum: last.pt holds a momentum buffer per weight, so it is about twice
    best.pt, which holds the weights alone."""
    result = train(small, tiny_config(keep="both", optimizer="sgd"))
    folder = result["run_dir"]
    last = torch.load(folder / "last.pt", weights_only=True)
    best = torch.load(folder / "best.pt", weights_only=True)
    assert set(RESUME_KEYS) <= set(last) and not set(RESUME_KEYS) & set(best)
    assert last["optimizer"]["state"], "no momentum buffers in last.pt"
    ratio = (folder / "last.pt").stat().st_size / (folder / "best.pt").stat().st_size
    assert 1.8 < ratio < 2.2, ratio
    assert json.loads((folder / "config.json").read_text())["keep"] == "both"
    # kept last.pt: the finished run goes on for more epochs
    more = train(small, resume=result["run"], overrides={"epochs": 2})
    assert more["metrics"]["epochs_done"] == 2


def test_temporary_names_carry_the_writer_pid(tmp_path):
    path = tempfiles.temp_path(tmp_path / "best.pt")
    assert path.name == f".best.pt.{os.getpid()}.tmp"
    assert tempfiles.writer_pid(path.name) == os.getpid()
    png = tempfiles.temp_path(tmp_path / "confusion.png", keep_suffix=True)
    assert png.name.endswith(".tmp.png") and tempfiles.writer_pid(png.name) is not None
    assert tempfiles.writer_pid(".best.pt.tmp") is None
    assert tempfiles.writer_pid("best.pt") is None


def test_stale_temporaries_go_and_live_writers_stay(tmp_path):
    gone = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "sub").mkdir()
        stale = [tmp_path / f".best.pt.{gone}.tmp", tmp_path / "sub" / f".x.{gone}.tmp.png"]
        kept = [tmp_path / f".last.pt.{live.pid}.tmp", tmp_path / "best.pt",
                tmp_path / ".notes.tmp"]
        for path in stale + kept:
            path.write_bytes(b"partial")
        assert tempfiles.remove_stale(tmp_path) == [stale[0]]
        assert tempfiles.remove_stale(tmp_path, recursive=True) == [stale[1]]
        assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)
    finally:
        live.kill()
        live.wait()


def test_train_and_evaluate_clean_what_a_killed_train_left(small):
    first = train(small, tiny_config())
    gone = dead_pid()
    partial = first["run_dir"] / f".best.pt.{gone}.tmp"
    partial.write_bytes(b"half a checkpoint")
    plot = first["run_dir"] / f".confusion.{gone}.tmp.png"
    plot.write_bytes(b"half a plot")
    evaluate_run(small, first["run"])
    assert not plot.exists() and not partial.exists()
    partial.write_bytes(b"half a checkpoint")
    train(small, tiny_config())  # a new run sweeps the others' folders
    assert not partial.exists()


def test_a_run_from_before_keep_still_keeps_both_when_resumed(small):
    """config.json without `keep` (older versions kept best.pt and last.pt): resuming it
    for more epochs must not delete its best.pt."""
    first = train(small, tiny_config(keep="both"))
    config_path = first["run_dir"] / "config.json"
    saved = json.loads(config_path.read_text())
    del saved["keep"]
    config_path.write_text(json.dumps(saved))
    train(small, resume=first["run"], overrides={"epochs": 2})
    assert (first["run_dir"] / "best.pt").is_file() and (first["run_dir"] / "last.pt").is_file()
