"""A `train` that is refused makes no run folder, on every path; `evaluate`, `train
--resume` and `--init-from` say what an old empty or unfinished run folder is
(issue 17 item 12)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from dfew_build.bench.config import TrainConfig
from dfew_build.bench.motion import add_labelled_clips, fill_workspace, write_tensor_store
from dfew_build.bench.protocol import train
from dfew_build.errors import TrainingError

COMMON = ["--size", "16", "--epochs", "1", "--workers", "0"]


@pytest.fixture
def ready(workspace):
    fill_workspace(workspace, None, per_class=2, size=16, k=2)
    return workspace


def run_folders(workspace) -> list[str]:
    folder = workspace.runs_dir
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def refused(cli, workspace, *args) -> str:
    result = cli("-w", workspace.root, "train", *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert run_folders(workspace) == [], "a refused train left a run folder"
    return result.output.strip()


def test_no_store_of_the_size_asked_for(cli, ready):
    output = refused(cli, ready, "--model", "resnet3d_18", "--size", "224", "--epochs", "1")
    assert output.startswith("Error: no tensor store for 224px × 16 frames")
    assert output.endswith("(stores here: 16px; --size N trains on one of them)")


def test_no_store_for_one_fold_of_all_is_refused_before_fold_one_trains(cli, workspace):
    """Fold 3's clips have no tensor row: the run stops before it trains fold 1."""
    ids = add_labelled_clips(workspace, [1, 2, 3, 4, 5, 6, 7] * 3,
                             [1] * 7 + [2] * 7 + [3] * 7)
    clips = np.random.default_rng(0).integers(0, 256, (14, 16, 16, 16, 3), dtype=np.uint8)
    write_tensor_store(workspace.tensors_dir, ids[:14], clips)
    output = refused(cli, workspace, "--model", "resnet3d_18", *COMMON, "--fold", "all")
    assert output.startswith("Error: empty test set: none of the 7 clips of fold 3 is in "
                             "the tensor store 16px_16f.npy")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is here")
def test_cuda_on_a_machine_without_one(cli, ready):
    output = refused(cli, ready, "--model", "resnet3d_18", *COMMON, "--device", "cuda")
    assert output.startswith("Error: --device cuda: no CUDA device is available")


def test_a_fold_the_scheme_does_not_have(cli, ready):
    output = refused(cli, ready, "--model", "resnet3d_18", *COMMON, "--fold", "7")
    assert output == "Error: fold 7 has no clips in this scheme (folds: 1, 2)"


def test_no_labelled_clips(cli, workspace):
    output = refused(cli, workspace, "--model", "resnet3d_18", *COMMON)
    assert output.startswith("Error: no folds for scheme 'default'")


def test_an_init_from_that_is_not_a_checkpoint(cli, ready, tmp_path):
    bogus = tmp_path / "weights.pt"
    bogus.write_bytes(b"not a checkpoint")
    output = refused(cli, ready, "--model", "resnet3d_18", *COMMON, "--init-from", bogus)
    assert output.startswith(f"Error: cannot read the checkpoint {bogus}")


def test_an_init_from_file_that_is_not_there(cli, ready, tmp_path):
    missing = tmp_path / "gone" / "best.pt"
    output = refused(cli, ready, "--model", "resnet3d_18", *COMMON, "--init-from", missing)
    assert output == (f"Error: --init-from {missing}: no such checkpoint file (give a .pt "
                      f"file, or the name of a run in {ready.runs_dir})")


def test_an_init_from_of_another_shape(cli, ready):
    """A checkpoint of the same model with other widths: refused by the shape check on
    the meta device, before any folder."""
    small = TrainConfig(model="resnet3d_18", model_kwargs={"block_inplanes": (4, 8, 8, 8)},
                        size=16, epochs=1, workers=0, batch_size=8, tsne=False)
    done = train(ready, small)
    source = done["run_dir"] / "last.pt"
    before = run_folders(ready)
    result = cli("-w", ready.root, "train", "--model", "resnet3d_18", *COMMON,
                 "--init-from", source)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: checkpoint {source} does not fit model "
                                    "'resnet3d_18' with these options: ")
    assert run_folders(ready) == before


def test_bad_model_kwargs(ready):
    config = TrainConfig(model="resnet3d_18", model_kwargs={"no_such_option": 1}, size=16,
                         epochs=1, workers=0)
    with pytest.raises(TrainingError) as excinfo:
        train(ready, config)
    assert str(excinfo.value).startswith("cannot build model 'resnet3d_18': ")
    assert "no_such_option" in str(excinfo.value)
    assert run_folders(ready) == []
    with pytest.raises(TrainingError):
        train(ready, replace(config, model_kwargs={}, snippet_filter=True))
    assert run_folders(ready) == []


def test_old_empty_run_folder(cli, ready):
    empty = ready.runs_dir / "resnet3d_18-ce-fold1-20250101-120000"
    empty.mkdir(parents=True)
    fix = (f"run {empty.name!r} is an empty folder ({empty}): a `train` that stopped before "
           f"its first epoch left it; nothing is lost by deleting it: rm -r {empty}")
    for args in (["evaluate", empty.name], ["train", "--resume", empty.name],
                 ["train", "--model", "resnet3d_18", *COMMON, "--init-from", empty.name]):
        result = cli("-w", ready.root, *args)
        assert result.exit_code == 1, result.output
        assert result.output.strip() == f"Error: {fix}", args
    assert run_folders(ready) == [empty.name]


def test_run_folder_without_a_checkpoint(cli, ready):
    """config.json but no checkpoint: a run stopped (killed) in its first epoch."""
    folder = ready.runs_dir / "resnet3d_18-ce-fold1-20250101-120000"
    folder.mkdir(parents=True)
    config = TrainConfig(model="resnet3d_18", size=16, epochs=1, workers=0)
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    result = cli("-w", ready.root, "evaluate", folder.name)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: run {folder.name!r} has no checkpoint: it stopped before its first epoch "
        f"ended; continue it with `dfew-build train --resume {folder.name}`, or delete "
        f"{folder}")


def test_a_fold_without_single_labels_names_plurality(cli, workspace):
    """Folds made with `folds --subset all` can hold a fold of clips none of which is
    single-labelled: `train` named it absent from the scheme, and `--fold all` quietly
    became a 2-fold run. Both now refuse and name --plurality."""
    ids = add_labelled_clips(workspace, [1, 2, 3, 4, 5, 6, 7] * 2, [1] * 7 + [2] * 7)
    ids += add_labelled_clips(workspace, [1, 2, 3], [3] * 3, agreeing=5, seed=1)
    clips = np.random.default_rng(0).integers(0, 256, (len(ids), 16, 16, 16, 3),
                                              dtype=np.uint8)
    write_tensor_store(workspace.tensors_dir, ids, clips)
    hint = ("fold(s) 3 of this scheme hold 3 clip(s), none single-labelled (more than the "
            "threshold of votes for one emotion); for folds made with `dfew-build folds "
            "--subset all`, train with --plurality")
    one = refused(cli, workspace, "--model", "resnet3d_18", *COMMON, "--fold", "3")
    assert one.startswith(f"Error: {hint}"), one
    every = refused(cli, workspace, "--model", "resnet3d_18", *COMMON, "--fold", "all")
    assert every.startswith(f"Error: --fold all: {hint}"), every
    # a fold the scheme does not have is still named as such
    absent = refused(cli, workspace, "--model", "resnet3d_18", *COMMON, "--fold", "4")
    assert absent.startswith("Error: fold 4 has no clips in this scheme (folds: 1, 2)"), absent


def test_amp_on_the_cpu_is_named_not_silently_ignored(cli, ready):
    result = cli("-w", ready.root, "train", "--model", "resnet3d_18", *COMMON, "--amp")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: --amp (mixed precision) runs on CUDA only; "
                                    "this --device cpu run trains in float32")
