"""The trainer on real (tiny) workspaces: epoch and evaluation dicts, checkpoints, resuming,
the k-fold aggregate, dry runs, re-scoring, and the errors a user can run into.

A 3D ResNet-18 with 4–8 channels on 16×16-pixel clips keeps every run to seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from sqlalchemy import select

from dfew_build.bench.checkpoint import load_checkpoint, save_checkpoint
from dfew_build.bench.config import TrainConfig, validate
from dfew_build.bench.data import load_labelled_clips, split_fold
from dfew_build.bench.metrics import summarize
from dfew_build.bench.motion import fill_workspace, write_tensor_store
from dfew_build.bench.protocol import dry_run, evaluate_run, train
from dfew_build.bench.train import (TrainStep, build_datasets, build_loss, build_model,
                                    evaluate, make_loaders, make_optimizer, train_one_epoch)
from dfew_build.db.models import Run
from dfew_build.errors import TrainingError
from dfew_build.workspace import init_workspace

TINY = {"block_inplanes": (4, 8, 8, 8)}


def tiny_config(**changes) -> TrainConfig:
    base = TrainConfig(model="resnet3d_18", model_kwargs=TINY, size=16, batch_size=4,
                       workers=0, epochs=2, flip=False, optimizer="adam", lr=1e-3,
                       weight_decay=0.0)
    return replace(base, **changes)


@pytest.fixture
def small(workspace):
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    return workspace


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished two-fold run (two epochs per fold) on 21 clips, shared by the tests below."""
    ws, _ = init_workspace(tmp_path_factory.mktemp("trained") / "ws")
    fill_workspace(ws, None, per_class=3, size=16, k=2)
    result = train(ws, tiny_config(fold="all"))
    yield ws, result
    ws.close()


def test_train_one_epoch_and_evaluate_return_dicts(small):
    config = tiny_config()
    train_table, test_table = split_fold(load_labelled_clips(small, "default"), 1)
    train_ds, test_ds, info = build_datasets(small, config, train_table, test_table)
    assert info == {"train_clips": 7, "test_clips": 7, "left_out_no_faces": 0}
    torch.manual_seed(0)
    model = build_model(config)
    step = TrainStep(model, build_loss(config, model.feature_dim))
    train_loader, test_loader, _ = make_loaders(train_ds, test_ds, config)
    out = train_one_epoch(step, train_loader, make_optimizer(config, step.parameters()),
                          device=torch.device("cpu"))
    assert out["clips"] == 7 and math.isfinite(out["loss"]) and out["ce"] == out["loss"]
    assert out["seconds"] > 0
    result = evaluate(model, test_loader, device=torch.device("cpu"), collect_features=True)
    assert result["n"] == 7 and sorted(result["clip_ids"]) == sorted(test_table.index)
    assert np.allclose(result["probs"].sum(axis=1), 1, atol=1e-5)
    assert result["war"] == pytest.approx(np.mean(result["y_true"] == result["y_pred"]))
    assert result["uar"] == summarize(result["y_true"], result["y_pred"])["uar"]
    assert result["features"].shape == (7, model.feature_dim)
    assert math.isfinite(result["loss"])


def test_resume_after_an_interruption_ends_like_an_uninterrupted_run(small):
    config = tiny_config(loss="center", epochs=3)

    whole = train(small, replace(config, workers=2))

    def stop_after_first(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small, config, on_epoch_end=stop_after_first)
    interrupted = sorted(p.name for p in small.runs_dir.iterdir() if p.name != whole["run"])[0]
    assert load_checkpoint(small.runs_dir / interrupted / "last.pt")["epoch"] == 1
    resumed = train(small, resume=interrupted)

    columns = ["epoch", "lr", "train_loss", "train_ce", "train_center", "test_loss",
               "test_war", "test_uar"]
    a = pd.read_csv(whole["run_dir"] / "metrics.csv")[columns]
    b = pd.read_csv(resumed["run_dir"] / "metrics.csv")[columns]
    assert len(b) == 3
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    pa = pd.read_csv(whole["run_dir"] / "predictions.csv")
    pb = pd.read_csv(resumed["run_dir"] / "predictions.csv")
    pd.testing.assert_frame_equal(pa, pb, check_exact=True)
    assert resumed["metrics"]["uar"] == whole["metrics"]["uar"]
    # resuming a finished run does nothing and returns its result
    again = train(small, resume=interrupted)
    assert again["metrics"]["finished"] == resumed["metrics"]["finished"]


def test_run_folder_checkpoints_and_run_table(trained):
    ws, result = trained
    fold1 = result["run_dir"] / "fold1"
    for name in ("config.json", "metrics.csv", "last.pt", "predictions.csv",
                 "confusion.png", "tsne.png", "metrics.json"):
        assert (fold1 / name).is_file(), name
    # --keep defaults to the checkpoint --select reports (last): best.pt is not kept
    assert not (fold1 / "best.pt").exists()
    assert json.loads((fold1 / "config.json").read_text())["keep"] == "last"
    assert not list(fold1.glob(".*tmp*"))
    state = torch.load(fold1 / "last.pt", weights_only=True)
    assert state["model_name"] == "resnet3d_18" and state["epoch"] == 2
    assert {"model", "loss", "optimizer", "scheduler", "scaler", "rng"} <= set(state)
    assert len(pd.read_csv(fold1 / "metrics.csv")) == 2
    with ws.session() as session:
        rows = {r.name: r for r in session.scalars(select(Run))}
    name = result["run"]
    assert set(rows) == {name, f"{name}/fold1", f"{name}/fold2"}
    assert rows[name].fold is None and rows[f"{name}/fold2"].fold == 2
    assert rows[name].metrics["uar"] == result["metrics"]["uar"]
    assert all(r.finished_at is not None for r in rows.values())
    assert rows[f"{name}/fold1"].checkpoint_path == f"runs/{name}/fold1/last.pt"


def test_fold_all_headline_is_the_mean_over_folds_with_pooled_second(trained):
    _ws, result = trained
    base, metrics = result["run_dir"], result["metrics"]
    pooled = pd.read_csv(base / "predictions.csv")
    assert len(pooled) == 21 and sorted(pooled["fold"].unique()) == [1, 2]
    per_fold_war = [m["war"] for m in metrics["per_fold"]]
    per_fold_uar = [m["uar"] for m in metrics["per_fold"]]
    # the headline: mean of the folds ± their standard deviation (ddof 1)
    assert metrics["headline"] == "mean over folds"
    assert metrics["war"] == pytest.approx(np.mean(per_fold_war))
    assert metrics["uar"] == pytest.approx(np.mean(per_fold_uar))
    assert metrics["war_sd"] == pytest.approx(np.std(per_fold_war, ddof=1))
    assert metrics["uar_sd"] == pytest.approx(np.std(per_fold_uar, ddof=1))
    assert metrics["mean"]["war"] == metrics["war"]
    # the second line: every prediction scored together
    assert metrics["pooled"]["war"] == pytest.approx(
        (pooled["label"] == pooled["prediction"]).mean())
    expected = summarize(pooled["label"] - 1, pooled["prediction"] - 1)
    assert metrics["pooled"]["uar"] == pytest.approx(expected["uar"])
    summary = pd.read_csv(base / "summary.csv")
    assert list(summary.columns) == ["Model", "Split", "Happy", "Sad", "Neutral", "Angry",
                                     "Surprise", "Disgust", "Fear", "UAR", "WAR"]
    assert summary["Split"].tolist() == ["fd1", "fd2", "mean", "sd", "pooled"]
    assert summary["Model"].iloc[0] == "3D Resnet18"
    assert summary["WAR"].iloc[2] == pytest.approx(round(100 * metrics["war"], 2))
    assert summary["WAR"].iloc[-1] == pytest.approx(round(100 * metrics["pooled"]["war"], 2))
    text = (base / "summary.md").read_text()
    # the table is padded to read as a table raw (issue 17 item 6): cells, not spacing
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| 3D Resnet18")]
    assert [row[1] for row in rows] == ["fd1", "fd2", "mean", "sd", "pooled"]
    assert "mean over 2 folds (± sd): UAR " in text
    assert "pooled over all 21 test predictions: " in text
    assert (base / "confusion.png").is_file()


def test_evaluate_run_rescores_the_checkpoint_of_a_fold(trained):
    ws, result = trained
    name = f"{result['run']}/fold2"
    again = evaluate_run(ws, name)
    stored = result["metrics"]["per_fold"][1]
    assert again["war"] == pytest.approx(stored["war"]) and again["n"] == stored["n"]
    assert again["checkpoint"] == "last" and again["epoch"] == 2
    assert (ws.runs_dir / name / "evaluations").is_dir()
    with pytest.raises(TrainingError) as excinfo:
        evaluate_run(ws, result["run"])
    assert str(excinfo.value) == (f"{result['run']!r} is a run over all folds: evaluate one "
                                  f"fold's run, e.g. {result['run']}/fold1")


def test_init_from_a_checkpoint_of_another_model_is_refused(trained):
    ws, result = trained
    source = result["run_dir"] / "fold1" / "last.pt"
    with pytest.raises(TrainingError) as excinfo:
        train(ws, tiny_config(model="r3d_18", model_kwargs={}, init_from=str(source)))
    assert str(excinfo.value) == (f"checkpoint {source} holds model 'resnet3d_18', not "
                                  "'r3d_18'; pass --model resnet3d_18 or another checkpoint")


def test_checkpoint_writes_are_atomic_and_foreign_files_refused(tmp_path):
    path = tmp_path / "x.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}, "epoch": 1}, path)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(TrainingError, match="is not a dfew-build checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a zip")
    with pytest.raises(TrainingError, match="cannot read the checkpoint"):
        load_checkpoint(tmp_path / "broken.pt")


def test_dry_run_does_one_batch_and_writes_nothing(small):
    out = dry_run(small, tiny_config(loss="ecstfl", batch_size=24))
    assert out["batch"] == [2, 3, 16, 16, 16] and math.isfinite(out["loss"])
    assert out["train_clips"] == 7 and out["test_clips"] == 7
    assert list(small.runs_dir.iterdir()) == []


def test_ldl_trains_on_the_vote_vectors(small):
    out = dry_run(small, tiny_config(loss="ldl"))
    assert "kl" in out and math.isfinite(out["kl"])


@pytest.mark.parametrize("changes, message", [
    ({"model": "c4d"}, "unknown model 'c4d'; choose one of: c3d, c3d_bn, former_dfer, i3d, "
                       "lfer_ldl, mc3_18, nr_dfernet, p3d, r2plus1d_18, r3d_18, resnet18_lstm, "
                       "resnet18_lstm_basic, resnet3d_18, vgg11_lstm (see `dfew-build models`)"),
    ({"loss": "focal"}, "unknown loss 'focal'; choose one of: ce, center, ecstfl, "
                        "ecstfl_released, ldl, combo"),
    ({"fold": 0}, "--fold must be a fold number 1..k or 'all', got 0"),
    ({"epochs": 0}, "--epochs must be at least 1, got 0"),
])
def test_bad_settings_name_the_choices(changes, message):
    with pytest.raises(TrainingError) as excinfo:
        validate(tiny_config(**changes))
    assert str(excinfo.value) == message


def test_lambda_for_a_loss_without_one_is_refused(small):
    with pytest.raises(TrainingError) as excinfo:
        dry_run(small, tiny_config(loss="ce", lambda_=2.0))
    assert "lambda applies to 'center', 'ecstfl' and 'ecstfl_released' only" in \
        str(excinfo.value)
    assert "(losses: ce, center, ecstfl, ecstfl_released, ldl, combo)" in str(excinfo.value)


def test_empty_training_set_and_missing_store(workspace):
    info = fill_workspace(workspace, None, per_class=2, size=16, k=2)
    store = np.load(info["store"])
    test_ids = [c for c, f in zip(info["clip_ids"], info["folds"]) if f == 1]
    write_tensor_store(workspace.tensors_dir, test_ids, store[info["folds"] == 1])
    with pytest.raises(TrainingError) as excinfo:
        train(workspace, tiny_config(fold=1))
    assert str(excinfo.value) == (
        "empty training set: none of the 7 single-labelled clips of the training folds "
        "(scheme 'default', test fold 1) is in the tensor store 16px_16f.npy; run "
        "`dfew-build preprocess` first")
    with pytest.raises(TrainingError) as excinfo:
        train(workspace, tiny_config(size=112))
    assert str(excinfo.value) == (
        f"no tensor store for 112px × 16 frames ({workspace.tensors_dir / '112px_16f.npy'} "
        "not found): run `dfew-build preprocess --size 112 --frames 16` first; 112 px is "
        "resnet3d_18's reference input size (DFEW's configuration) (stores here: 16px; "
        "--size N trains on one of them)")


@pytest.mark.parametrize("model, size", [("p3d", 160), ("i3d", 224), ("c3d", 112)])
def test_without_size_a_run_uses_the_models_reference_store(small, model, size):
    """No --size: the store of the model's reference input size, or the command that
    makes it."""
    config = TrainConfig(model=model, workers=0)
    assert config.size is None and validate(config).size == size
    with pytest.raises(TrainingError) as excinfo:
        dry_run(small, config)
    assert str(excinfo.value) == (
        f"no tensor store for {size}px × 16 frames "
        f"({small.tensors_dir / f'{size}px_16f.npy'} not found): run `dfew-build preprocess "
        f"--size {size} --frames 16` first; {size} px is {model}'s reference input size "
        "(DFEW's configuration) (stores here: 16px; --size N trains on one of them)")


def test_a_reference_size_store_is_found_and_recorded(workspace):
    info = fill_workspace(workspace, None, per_class=2, size=16, k=2)
    store = np.load(info["store"])
    big = np.repeat(np.repeat(store, 10, axis=2), 10, axis=3)      # 16 px -> 160 px
    write_tensor_store(workspace.tensors_dir, info["clip_ids"], big)
    tiny_p3d = tiny_config(model="p3d", model_kwargs={}, size=None, batch_size=2)
    out = dry_run(workspace, tiny_p3d)
    assert out["batch"] == [2, 3, 16, 160, 160]
    other = tiny_config(size=None)                                 # resnet3d_18: 112
    with pytest.raises(TrainingError) as excinfo:
        dry_run(workspace, other)
    assert "(stores here: 16px, 160px; --size N trains on one of them)" in str(excinfo.value)
    assert "; 112 px is resnet3d_18's reference input size" in str(excinfo.value)


def test_bench_demo_runs_one_epoch_or_says_what_is_missing(workspace):
    from dfew_build.bench.demo import run_bench_demo

    skipped = run_bench_demo(workspace)
    assert skipped == {"status": "skipped", "message": f"no tensor store in "
                       f"{workspace.tensors_dir}: run `dfew-build preprocess` first"}
    fill_workspace(workspace, None, per_class=2, size=16, k=2, scheme="demo")
    no_folds = run_bench_demo(workspace)
    assert no_folds["status"] == "skipped"
    assert no_folds["message"].startswith("benchmark skipped: no folds for scheme 'default'")
    done = run_bench_demo(workspace, scheme="demo")
    assert done["status"] == "ok" and done["n"] == 7 and done["train_clips"] == 7
    assert 0 <= done["uar"] <= 1 and (workspace.runs_dir / done["run"] / "last.pt").is_file()
