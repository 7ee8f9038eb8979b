"""Training data: the tensor store reader, U×V frame sampling, augmentation, the sampler,
and the labelled clips of a fold scheme (real workspaces, real files)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from dfew_build.bench.data import (MEAN, STD, VOTE_COLUMNS, Augment, EpochSampler,
                                   FrameClipDataset, TensorClipDataset, load_labelled_clips,
                                   open_tensor_store, sample_indices, split_fold, to_tensor)
from dfew_build.bench.motion import add_labelled_clips, write_tensor_store
from dfew_build.errors import TrainingError


def _table(clip_ids, labels):
    table = pd.DataFrame({"label": labels, "fold": 1}, index=pd.Index(clip_ids, name="clip_id"))
    for i, column in enumerate(VOTE_COLUMNS):
        table[column] = np.float32(i)
    return table


def _store(tmp_path, n=4, frames=16, size=8):
    rng = np.random.default_rng(0)
    clips = rng.integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)
    write_tensor_store(tmp_path, [101 + i for i in range(n)], clips)
    return clips


def _normalised(frames_thwc):
    x = torch.from_numpy(frames_thwc.astype(np.float32) / 255).permute(3, 0, 1, 2)
    return (x - torch.tensor(MEAN).view(3, 1, 1, 1)) / torch.tensor(STD).view(3, 1, 1, 1)


def test_tensor_dataset_returns_normalised_rgb_clips_labels_and_votes(tmp_path):
    clips = _store(tmp_path)
    store = open_tensor_store(tmp_path, size=8, frames=16)
    dataset = TensorClipDataset(store, _table([103, 101], [4, 0]), size=8, train=False)
    x, label, votes, clip_id = dataset[0]
    assert x.dtype == torch.float32 and x.shape == (3, 16, 8, 8)
    assert (label, clip_id) == (4, 103)
    assert votes.tolist() == list(range(7))
    assert torch.allclose(x, _normalised(clips[2]), atol=1e-5)


def test_only_rows_listed_in_the_index_are_used(tmp_path):
    clips = _store(tmp_path, n=3)
    (tmp_path / "8px_16f_index.csv").write_text("row,clip_id,detector\n2,7,mtcnn\n")
    store = open_tensor_store(tmp_path, size=8, frames=16)
    assert store.rows == {7: 2}
    assert np.array_equal(store.clip(7), clips[2])
    assert 101 not in store


def test_missing_store_names_the_fix(tmp_path):
    with pytest.raises(TrainingError) as excinfo:
        open_tensor_store(tmp_path, size=112, frames=16)
    assert str(excinfo.value) == (
        f"no tensor store for 112px × 16 frames ({tmp_path / '112px_16f.npy'} not found): "
        "run `dfew-build preprocess --size 112 --frames 16` first")


def test_store_of_the_wrong_shape_is_refused(tmp_path):
    _store(tmp_path, size=8)
    (tmp_path / "8px_16f.npy").rename(tmp_path / "9px_16f.npy")
    (tmp_path / "8px_16f_index.csv").rename(tmp_path / "9px_16f_index.csv")
    with pytest.raises(TrainingError, match=r"not uint8 \[N, 16, 9, 9, 3\]"):
        open_tensor_store(tmp_path, size=9, frames=16)


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path):
    _store(tmp_path, n=2)
    store = open_tensor_store(tmp_path, size=8, frames=16)
    table = _table([101, 102], [0, 1])
    a = TensorClipDataset(store, table, size=8, train=True, seed=3)
    b = TensorClipDataset(store, table, size=8, train=True, seed=3)
    assert torch.equal(a[1][0], b[1][0])
    draws = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        draws.add(a[1][0].sum().item())
    assert len(draws) > 1  # a different crop/flip from epoch to epoch


def test_flip_and_crop(tmp_path):
    frames = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    frames[:, :, :4] = 255  # left half white
    rng = np.random.default_rng(0)
    flips = {to_tensor(frames, 8, train=True, augment=Augment(crop_scale=1.0, flip=True),
                       rng=rng)[0, 0, 0, 0].item() for _ in range(20)}
    assert len(flips) == 2  # white (kept) or black (mirrored) top-left pixel
    plain = to_tensor(frames, 8, train=False, augment=Augment(), rng=rng)
    assert torch.allclose(plain, _normalised(frames), atol=1e-5)
    cropped = to_tensor(frames, 4, train=True, augment=Augment(crop_scale=0.5, flip=False),
                        rng=rng)
    assert cropped.shape == (3, 2, 4, 4)


def test_dynamic_sampling_centres_in_evaluation_and_random_offsets_in_training():
    assert sample_indices(32, 8, 2, train=False).tolist() == [
        1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22, 25, 26, 29, 30]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        chosen = sample_indices(32, 8, 2, train=True, rng=rng)
        assert len(chosen) == 16
        segments = chosen.reshape(8, 2)
        assert (segments[:, 1] == segments[:, 0] + 1).all()
        assert ((segments[:, 0] // 4) == np.arange(8)).all()  # inside its own segment
        seen.add(tuple(chosen))
    assert len(seen) > 1
    short = sample_indices(5, 8, 2, train=False)
    assert len(short) == 16 and short.min() == 0 and short.max() == 4
    assert (np.diff(short) >= 0).all()


def test_frame_dataset_reads_aligned_jpegs_as_rgb(tmp_path):
    import cv2

    folder = tmp_path / "frames" / "00042"
    folder.mkdir(parents=True)
    for i in range(1, 21):
        image = np.zeros((16, 16, 3), dtype=np.uint8)
        image[..., 2] = 200          # red in OpenCV's BGR order
        image[..., 1] = i * 10       # green encodes the frame number
        cv2.imwrite(str(folder / f"00042_{i:05d}.jpg"), image)
    dataset = FrameClipDataset(tmp_path / "frames", _table([42], [2]), size=16, train=False)
    x, label, _votes, clip_id = dataset[0]
    assert x.shape == (3, 16, 16, 16) and (label, clip_id) == (2, 42)
    red = x[0] * STD[0] + MEAN[0]
    green = (x[1] * STD[1] + MEAN[1]) * 255
    assert red.mean() == pytest.approx(200 / 255, abs=0.03)
    expected = (sample_indices(20, 8, 2, train=False) + 1) * 10
    assert np.allclose(green.mean(dim=(1, 2)).numpy(), expected, atol=4)


def test_sampler_order_is_seeded_per_epoch_and_sharded():
    labels = np.array([0] * 90 + [1] * 10)
    sampler = EpochSampler(labels, seed=1)
    sampler.set_epoch(1)
    first = list(sampler)
    assert sorted(first) == list(range(100))
    assert list(sampler) == first
    sampler.set_epoch(2)
    assert list(sampler) != first
    balanced = EpochSampler(labels, balanced=True, seed=1)
    drawn = labels[list(balanced)]
    assert 0.35 < drawn.mean() < 0.65  # about half of the draws from the rare class
    shards = [list(EpochSampler(labels[:7], seed=1, rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert set(sum(shards, [])) == set(range(7))


def test_labelled_clips_of_a_scheme(workspace):
    ids = add_labelled_clips(workspace, [1, 7, 3, 3], [1, 2, 1, 2], agreeing=8)
    ambiguous = add_labelled_clips(workspace, [2], [1], agreeing=5, seed=1)
    table = load_labelled_clips(workspace, "default")
    assert list(table.index) == ids  # the 5-of-10 clip is not single-labelled
    assert ambiguous[0] not in table.index
    assert table["label"].tolist() == [0, 6, 2, 2]
    assert table["fold"].tolist() == [1, 2, 1, 2]
    assert table.loc[ids[0], "votes_happy"] == 8
    assert table.loc[ids[0], VOTE_COLUMNS].sum() == 10
    train, test = split_fold(table, 2)
    assert list(test.index) == [ids[1], ids[3]] and list(train.index) == [ids[0], ids[2]]
    with pytest.raises(TrainingError) as excinfo:
        split_fold(table, 3)
    assert str(excinfo.value) == "fold 3 has no clips in this scheme (folds: 1, 2)"
    # Folds made with `--subset all`: the ambiguous clip trains on its plurality vote.
    everything = load_labelled_clips(workspace, "default", plurality=True)
    assert list(everything.index) == ids + ambiguous
    assert everything.loc[ambiguous[0], "label"] == 1  # 5 of 10 votes for sad


def test_no_folds_names_the_command_to_run(workspace):
    add_labelled_clips(workspace, [1], [1], scheme="mine")
    with pytest.raises(TrainingError) as excinfo:
        load_labelled_clips(workspace, "default")
    assert str(excinfo.value) == (
        "no folds for scheme 'default' in this workspace (stored schemes: mine): run "
        "`dfew-build folds` first (or `dfew-build import-dfew` for the official split, "
        "scheme 'dfew-official')")
