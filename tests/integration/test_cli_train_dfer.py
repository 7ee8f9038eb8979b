"""`dfew-build train` and `evaluate` with the DFER models of issue 19 on a tensor store, and the
snippet-based filter's switch and report."""

from __future__ import annotations

import json

import pytest

from dfew_build.bench.motion import fill_workspace


@pytest.fixture
def ready(workspace):
    """Fourteen 16×16-pixel clips in two folds, with votes and a tensor store (no frames)."""
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    return workspace


@pytest.mark.parametrize("model", ["nr_dfernet", "former_dfer", "lfer_ldl"])
def test_the_dfer_models_train_on_a_tensor_store(cli, ready, model):
    result = cli("-w", ready.root, "train", "--model", model, "--input", "tensors", "--size",
                 "16", "--epochs", "1", "--workers", "0", "--batch-size", "8", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["n"] == 7 and out["model"] == model
    config = json.loads((ready.runs_dir / out["run"] / "config.json").read_text())
    assert config["optimizer"] == "sgd" and config["batch_size"] == 8   # given wins
    assert ("snippet_filter" in out) == (model == "nr_dfernet")


def test_papers_default_input_is_frames_and_the_error_names_the_fix(cli, ready):
    result = cli("-w", ready.root, "train", "--model", "nr_dfernet", "--size", "16",
                 "--epochs", "1", "--dry-run")
    assert result.exit_code == 1
    assert result.output.endswith(
        "run `dfew-build preprocess` first (nr_dfernet samples U × V aligned frames by "
        "default, as its paper), or pass --input tensors to train on 16px_16f.npy\n")


def test_snippet_filter_switch_and_report(cli, ready):
    result = cli("-w", ready.root, "train", "--model", "nr_dfernet", "--input", "tensors",
                 "--size", "16", "--epochs", "1", "--workers", "0", "--batch-size", "8")
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[-1]
    assert line.startswith("snippet filter (L = 3, S = 2, μ1 = 0.7, μ2 = 0.05) on: UAR ")
    assert "without → with it; neutral zeroed for " in line and " of 7 clips, " in line
    run = next(line for line in result.output.splitlines()
               if line.startswith("run ")).split()[1][:-1]
    on = json.loads(cli("-w", ready.root, "evaluate", run, "--json").output)
    off = json.loads(cli("-w", ready.root, "evaluate", run, "--no-snippet-filter",
                         "--json").output)
    assert on["snippet_filter"]["on"] is True and off["snippet_filter"]["on"] is False
    for metrics in (on, off):
        effect = metrics["snippet_filter"]
        assert (effect["window"], effect["stride"], effect["snippets"]) == (3, 2, 7)
        assert effect["fixed"] + effect["broken"] <= effect["changed"] <= effect["neutral_zeroed"]
    assert on["war"] == on["snippet_filter"]["filtered"]["war"] == \
        off["snippet_filter"]["filtered"]["war"]
    assert off["war"] == off["snippet_filter"]["unfiltered"]["war"]
    text = cli("-w", ready.root, "evaluate", run, "--no-snippet-filter").output
    assert "snippet filter (L = 3, S = 2, μ1 = 0.7, μ2 = 0.05) off (reported without it)" in text
    refused = cli("-w", ready.root, "train", "--model", "resnet3d_18", "--size", "16",
                  "--snippet-filter", "--dry-run")
    assert refused.exit_code == 1
    assert refused.output == ("Error: --snippet-filter: resnet3d_18 has no snippet-based filter "
                              "(nr_dfernet has one)\n")
