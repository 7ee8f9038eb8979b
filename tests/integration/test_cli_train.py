"""`dfew-build models`, `train` and `evaluate` through the CLI on tmp workspaces."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from dfew_build.bench.motion import fill_workspace
from dfew_build.workspace import init_workspace


@pytest.fixture
def ready(workspace):
    """Fourteen 16×16-pixel clips in two folds, with votes and a tensor store."""
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    return workspace


def test_models_lists_parameters_and_gmacs(cli):
    result = cli("models", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert len(rows) == 8
    assert rows["resnet3d_18"]["parameters"] == 33_207_495
    assert rows["resnet3d_18"]["gmacs"] == pytest.approx(8.308, abs=0.01)
    assert rows["c3d"]["parameters"] == 78_024_455
    table = cli("models").output
    assert "3D Resnet18" in table and "33,207,495" in table


def test_dry_run(cli, ready):
    result = cli("-w", ready.root, "train", "--model", "resnet3d_18", "--loss", "ecstfl",
                 "--size", "16", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("dry run ok: resnet3d_18 + ecstfl, batch [2, 3, 16, 16, 16]")
    assert "(7 training / 7 test clips)" in result.output
    assert list(ready.runs_dir.iterdir()) == []


def test_train_evaluate_and_transfer_to_another_workspace(cli, ready, tmp_path):
    result = cli("-w", ready.root, "train", "--model", "resnet3d_18", "--size", "16",
                 "--epochs", "1", "--workers", "0", "--batch-size", "8", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    run = out["run"]
    assert run.startswith("resnet3d_18-ce-fold1-") and out["n"] == 7
    assert sorted(p.name for p in (ready.runs_dir / run).iterdir()) == [
        "best.pt", "config.json", "confusion.png", "last.pt", "metrics.csv", "metrics.json",
        "predictions.csv", "tsne.png"]

    scored = cli("-w", ready.root, "evaluate", run)
    assert scored.exit_code == 0, scored.output
    assert f"{run} (last.pt, epoch 1) on fold 1 of scheme 'default'" in scored.output

    other, _ = init_workspace(tmp_path / "other")
    fill_workspace(other, None, per_class=2, size=16, k=2, seed=5)
    transfer = json.loads(cli("-w", ready.root, "evaluate", run, "--on", other.root,
                              "--json").output)
    assert transfer["on"] == "all clips" and transfer["n"] == 14
    assert transfer["workspace"] == str(other.root)

    fine_tuned = cli("-w", other.root, "train", "--model", "resnet3d_18", "--size", "16",
                     "--epochs", "1", "--workers", "0", "--init-from",
                     ready.runs_dir / run / "last.pt", "--json")
    assert fine_tuned.exit_code == 0, fine_tuned.output
    config = json.loads((other.runs_dir / json.loads(fine_tuned.output)["run"] /
                         "config.json").read_text())
    assert config["init_from"] == str(ready.runs_dir / run / "last.pt")


def test_resume_continues_a_run_with_more_epochs(cli, ready):
    first = json.loads(cli("-w", ready.root, "train", "--model", "resnet3d_18", "--size", "16",
                           "--epochs", "1", "--workers", "0", "--json").output)
    result = cli("-w", ready.root, "train", "--resume", first["run"], "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "fold 1 epoch 2: train loss" in result.output
    assert "fold 1 epoch 1:" not in result.output
    history = pd.read_csv(ready.runs_dir / first["run"] / "metrics.csv")
    assert history["epoch"].tolist() == [1, 2]


@pytest.mark.parametrize("args, message", [
    (["--model", "c4d"], "Error: unknown model 'c4d'; choose one of: c3d, i3d, p3d, "
                         "r2plus1d_18, r3d_18, resnet18_lstm, resnet3d_18, vgg11_lstm "
                         "(see `dfew-build models`)"),
    (["--model", "c3d", "--loss", "focal"],
     "Error: unknown loss 'focal'; choose one of: ce, center, ecstfl, ldl"),
    (["--loss", "ce"], "Error: --model is required (see `dfew-build models`), or --resume RUN"),
    (["--model", "c3d", "--scheme", "nope"],
     "Error: no folds for scheme 'nope' in this workspace (stored schemes: default): run "
     "`dfew-build folds` first (or `dfew-build import-dfew` for the official split, scheme "
     "'dfew-official')"),
    (["--resume", "nothing-here"], "Error: no run 'nothing-here' to resume: "),
    (["--resume", "x", "--model", "c3d"],
     "Error: --resume continues a run with its own settings; leave out --model/--init-from "
     "(only --epochs, --device, --workers, --amp may change)"),
])
def test_errors_are_one_clear_line(cli, ready, args, message):
    result = cli("-w", ready.root, "train", *args)
    assert result.exit_code == 1
    assert result.output.startswith(message), result.output
    assert "Traceback" not in result.output


def test_no_tensor_store_yet(cli, workspace):
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    result = cli("-w", workspace.root, "train", "--model", "c3d")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: no tensor store for 112px × 16 frames "
        f"({workspace.tensors_dir / '112px_16f.npy'} not found): run `dfew-build preprocess "
        "--size 112 --frames 16` first")


def test_bad_fold_is_a_usage_error(cli, ready):
    result = cli("-w", ready.root, "train", "--model", "c3d", "--fold", "six")
    assert result.exit_code == 2
    assert "'six' is not a fold number (1, 2, …) or 'all'" in result.output


def test_evaluate_an_unknown_run(cli, ready):
    result = cli("-w", ready.root, "evaluate", "nope")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: no run 'nope': {ready.runs_dir / 'nope' / 'config.json'} not found")


@pytest.mark.slow
def test_torchrun_with_two_processes_trains_with_ddp(ready):
    """The DistributedDataParallel path on the CPU (Gloo): two ranks, one writer."""
    import os
    import shutil
    import subprocess

    torchrun, script = shutil.which("torchrun"), shutil.which("dfew-build")
    # Both come with the install (torch's console script and ours): missing means broken.
    assert torchrun and script, "torchrun or the dfew-build script is not on PATH"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    done = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "--no-python", script, "-w", str(ready.root),
         "train", "--model", "resnet3d_18", "--size", "16", "--epochs", "1", "--workers", "0",
         "--batch-size", "4", "--json"],
        capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    config = json.loads((ready.runs_dir / out["run"] / "config.json").read_text())
    assert config["world_size"] == 2 and config["train_clips"] == 7
    assert len(list(ready.runs_dir.iterdir())) == 1  # only rank 0 wrote a run folder
