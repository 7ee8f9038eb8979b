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


def test_models_lists_size_parameters_and_gmacs(cli):
    result = cli("models", "--json")
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert len(rows) == 14
    assert rows["resnet3d_18"]["parameters"] == 33_207_495
    assert rows["resnet3d_18"]["gmacs"] == pytest.approx(8.308, abs=0.01)
    assert rows["c3d"]["parameters"] == 78_024_455
    assert rows["c3d_bn"]["parameters"] == rows["c3d_bn"]["dfew_parameters"] == 78_029_959
    assert rows["mc3_18"]["parameters"] == 11_493_831
    assert rows["resnet18_lstm"]["parameters"] == 17_388_871
    assert (rows["p3d"]["input"], rows["i3d"]["input"]) == ("16x160x160", "16x224x224")
    assert rows["i3d"]["gmacs"] == pytest.approx(27.79, abs=0.02)   # at 224, not 112
    table = cli("models").output.splitlines()
    assert table[0].split() == ["name", "paper_name", "input", "parameters",
                                "dfew_parameters", "gmacs", "feature_dim", "paper_gmacs",
                                "dfew_uar/war"]
    i3d = next(line for line in table if line.startswith("i3d "))
    assert i3d.split() == ["i3d", "I3D-RGB", "16x224x224", "12,294,439", "–", "27.79", "1024",
                           "6.99@16x112x112=6.983", "43.40/54.27"]
    # the DFER models of NR-DFERNet's Table 5, with the published figures beside ours
    assert rows["nr_dfernet"]["published_dfew"]["uar"] == 54.21
    assert rows["nr_dfernet"]["published_dfew"]["war"] == 68.19
    assert rows["former_dfer"]["published_dfew"]["uar"] == 53.69
    assert rows["former_dfer"]["published_dfew"]["war"] == 65.70
    assert rows["nr_dfernet"]["published_cost"]["gmacs"] == 6.33
    assert rows["former_dfer"]["published_cost"]["gmacs"] == 9.11
    assert rows["lfer_ldl"]["published_cost"]["input"] == "1x224x224"
    assert rows["lfer_ldl"]["published_dfew"] is None
    assert any("3D Resnet18" in line and "33,207,495" in line for line in table)


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
        "config.json", "confusion.png", "last.pt", "metrics.csv", "metrics.json",
        "predictions.csv", "tsne.png"]  # --keep: the reported checkpoint (--select last)

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


def test_evaluate_on_clips_without_some_classes_says_their_recall_is_undefined(
        cli, ready, tmp_path):
    import numpy as np

    from dfew_build.bench.motion import add_labelled_clips, write_tensor_store

    run = json.loads(cli("-w", ready.root, "train", "--model", "resnet3d_18", "--size", "16",
                         "--epochs", "1", "--workers", "0", "--json").output)["run"]
    other, _ = init_workspace(tmp_path / "four-classes")
    ids = add_labelled_clips(other, [1, 1, 2, 2, 3, 3, 4], [1] * 7)  # happy … angry only
    clips = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 16, 3), dtype=np.uint8)
    write_tensor_store(other.tensors_dir, ids, clips)
    result = cli("-w", ready.root, "evaluate", run, "--on", other.root)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in ("surprise", "disgust", "fear"):
        assert any(line.split()[:2] == [name, "–"] and "(no test clip)" in line
                   for line in lines), result.output
    assert " over 4 present classes, WAR " in result.output
    assert lines[-1] == ("no test clip of surprise, disgust, fear: recall undefined (–), "
                         "left out of the UAR")
    scored = json.loads(cli("-w", ready.root, "evaluate", run, "--on", other.root,
                            "--json").output)
    assert scored["uar_classes"] == 4
    assert scored["absent_classes"] == ["surprise", "disgust", "fear"]
    assert scored["per_class_recall"]["fear"] is None


def test_fold_all_prints_the_mean_over_folds_then_pooled(cli, ready):
    result = cli("-w", ready.root, "train", "--model", "resnet3d_18", "--size", "16",
                 "--epochs", "1", "--workers", "0", "--fold", "all")
    assert result.exit_code == 0, result.output
    metrics = json.loads(next(ready.runs_dir.iterdir()).joinpath("metrics.json").read_text())
    assert metrics["headline"] == "mean over folds" and metrics["folds"] == [1, 2]
    last = result.output.strip().splitlines()[-1]
    sd = f"{100 * metrics['uar_sd']:.2f}"
    assert last.startswith(f"run {metrics['run']}: UAR {100 * metrics['uar']:.2f}% ± {sd}, ")
    assert "(mean ± sd over 2 folds); pooled over 14 test clips: UAR " in last
    assert "mean over 2 folds (± sd): UAR " in result.output      # summary.md, printed


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
    (["--model", "c4d"], "Error: unknown model 'c4d'; choose one of: c3d, c3d_bn, former_dfer, "
                         "i3d, lfer_ldl, mc3_18, nr_dfernet, p3d, r2plus1d_18, r3d_18, "
                         "resnet18_lstm, resnet18_lstm_basic, resnet3d_18, vgg11_lstm (see "
                         "`dfew-build models`)"),
    (["--model", "c3d", "--loss", "focal"],
     "Error: unknown loss 'focal'; choose one of: ce, center, ecstfl, ecstfl_released, ldl, "
     "combo"),
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
    (workspace.tensors_dir / "16px_16f.npy").unlink()
    result = cli("-w", workspace.root, "train", "--model", "c3d")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: no tensor store for 112px × 16 frames "
        f"({workspace.tensors_dir / '112px_16f.npy'} not found): run `dfew-build preprocess "
        "--size 112 --frames 16` first; 112 px is c3d's reference input size (DFEW's "
        "configuration)")


def test_train_without_size_asks_for_the_models_reference_store(cli, ready):
    """P3D's reference input is 160×160 (DFEW's configuration): the 16 px store is not used
    unless asked for with --size."""
    result = cli("-w", ready.root, "train", "--model", "p3d", "--dry-run")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: no tensor store for 160px × 16 frames "
        f"({ready.tensors_dir / '160px_16f.npy'} not found): run `dfew-build preprocess "
        "--size 160 --frames 16` first; 160 px is p3d's reference input size (DFEW's "
        "configuration) (stores here: 16px; --size N trains on one of them)")
    sized = cli("-w", ready.root, "train", "--model", "resnet3d_18", "--size", "16",
                "--dry-run")
    assert sized.exit_code == 0, sized.output


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
