"""The on-disk store: DFEW-named JPEG frames written atomically, and the memory-mapped
uint8 [N,T,H,W,3] RGB tensor with its index (growth, resumption, damaged files)."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from dfew_build.errors import FacesError
from dfew_build.faces.store import (MIN_CAPACITY, TensorStore, open_tensor_store,
                                    read_clip_frames, remove_stale_temporaries,
                                    tensor_paths, write_clip_frames)

SIZE, T = 112, 4


def clip_tensor(seed: int, frames: int = T, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), np.uint8)


def test_frames_use_dfew_names_and_replace_atomically(tmp_path):
    faces = [np.full((SIZE, SIZE, 3), (i * 40, 0, 255 - i * 40), np.uint8) for i in range(3)]
    folder = write_clip_frames(tmp_path, 42, faces)
    assert folder == tmp_path / "00042"
    assert [p.name for p in read_clip_frames(tmp_path, 42)] == [
        "00042_00001.jpg", "00042_00002.jpg", "00042_00003.jpg"]
    decoded = cv2.imread(str(folder / "00042_00003.jpg"))
    assert np.abs(decoded.astype(int) - faces[2]).mean() < 3  # BGR kept, quality 95
    # A second write with fewer frames leaves exactly the new set, no leftovers.
    write_clip_frames(tmp_path, 42, faces[:2])
    assert [p.name for p in read_clip_frames(tmp_path, 42)] == [
        "00042_00001.jpg", "00042_00002.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00042"]


def test_stale_temporaries_of_an_interrupted_run_are_removed(tmp_path):
    (tmp_path / ".tmp-00007.999").mkdir()
    (tmp_path / ".tmp-00007.999" / "00007_00001.jpg").write_bytes(b"partial")
    (tmp_path / ".old-00003.998").mkdir()
    write_clip_frames(tmp_path, 1, [np.zeros((SIZE, SIZE, 3), np.uint8)])
    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00001"]


def test_tensor_rows_round_trip_in_rgb_with_an_index(tmp_path):
    store = TensorStore(tmp_path, SIZE, T)
    tensors = {clip: clip_tensor(clip) for clip in (5, 3, 9)}
    for clip, tensor in tensors.items():
        store.write(clip, tensor, detector="mtcnn", temporal="tim", source_frames=30 + clip)
    store.close()
    npy, index_csv = tensor_paths(tmp_path, SIZE, T)
    assert npy.name == "112px_4f.npy" and index_csv.name == "112px_4f_index.csv"
    assert index_csv.read_text().splitlines() == [
        "row,clip_id,detector,temporal,source_frames",
        "0,5,mtcnn,tim,35", "1,3,mtcnn,tim,33", "2,9,mtcnn,tim,39"]
    array, index = open_tensor_store(tmp_path, SIZE, T)
    assert isinstance(array, np.memmap) and not array.flags.writeable
    assert array.dtype == np.uint8 and array.shape == (MIN_CAPACITY, T, SIZE, SIZE, 3)
    assert list(index.columns[:2]) == ["row", "clip_id"]
    assert index["source_frames"].tolist() == [35, 33, 39]
    for row, clip in zip(index["row"], index["clip_id"]):
        assert (array[row] == tensors[clip]).all()


def test_growing_past_capacity_keeps_every_row(tmp_path):
    store = TensorStore(tmp_path, SIZE, T)
    store.reserve(2)
    assert store.capacity == MIN_CAPACITY
    count = 3 * MIN_CAPACITY + 1
    for clip in range(1, count + 1):
        store.write(clip, clip_tensor(clip), detector="mtcnn", temporal="tim")
    assert store.capacity >= count
    npy, _ = tensor_paths(tmp_path, SIZE, T)
    # Grown in place: the header was rewritten, the file extended, nothing copied aside.
    assert not npy.with_suffix(".npy.tmp").exists()
    assert npy.stat().st_size == 128 + store.capacity * T * SIZE * SIZE * 3
    store.close()
    array, index = open_tensor_store(tmp_path, SIZE, T)
    assert len(index) == count and index["row"].tolist() == list(range(count))
    for row, clip in zip(index["row"], index["clip_id"]):
        assert (array[row] == clip_tensor(clip)).all()


def test_rewriting_a_clip_keeps_its_row_and_one_index_line(tmp_path):
    store = TensorStore(tmp_path, SIZE, T)
    store.write(1, clip_tensor(1), detector="mtcnn", temporal="tim")
    store.write(2, clip_tensor(2), detector="mtcnn", temporal="tim")
    assert store.write(1, clip_tensor(7), detector="mtcnn", temporal="linear") == 0
    store.close()
    array, index = open_tensor_store(tmp_path, SIZE, T)
    assert index[["row", "clip_id", "temporal"]].values.tolist() == [
        [0, 1, "linear"], [1, 2, "tim"]]
    assert (array[0] == clip_tensor(7)).all()


def test_interrupted_writes_leave_no_duplicates_or_holes(tmp_path):
    store = TensorStore(tmp_path, SIZE, T)
    store.write(1, clip_tensor(1), detector="mtcnn", temporal="tim")
    # Killed after writing clip 2's row but before its index line: the row is unlisted...
    store._array[1] = clip_tensor(2)
    store._array.flush()
    store.close()
    # ... and killed half-way through appending clip 3's line: a torn line, no newline.
    _, index_csv = tensor_paths(tmp_path, SIZE, T)
    with open(index_csv, "a") as handle:
        handle.write("1,3,mtc")
    array, index = open_tensor_store(tmp_path, SIZE, T)
    assert index["clip_id"].tolist() == [1]  # readers ignore the torn line
    store = TensorStore(tmp_path, SIZE, T)    # the resumed run
    assert store.write(2, clip_tensor(2), detector="mtcnn", temporal="tim") == 1
    assert store.write(3, clip_tensor(3), detector="mtcnn", temporal="tim") == 2
    store.close()
    assert index_csv.read_text().splitlines()[1:] == [
        "0,1,mtcnn,tim,", "1,2,mtcnn,tim,", "2,3,mtcnn,tim,"]


def test_a_removed_clip_frees_its_row_for_the_next(tmp_path):
    store = TensorStore(tmp_path, SIZE, T)
    for clip in (1, 2, 3):
        store.write(clip, clip_tensor(clip), detector="mtcnn", temporal="tim")
    store.remove(2)
    assert 2 not in store
    assert store.write(4, clip_tensor(4), detector="mtcnn", temporal="tim") == 1
    store.close()
    array, index = open_tensor_store(tmp_path, SIZE, T)
    assert sorted(index[["row", "clip_id"]].values.tolist()) == [[0, 1], [1, 4], [2, 3]]


def test_missing_or_damaged_stores_are_clear_errors(tmp_path):
    with pytest.raises(FacesError) as exc:
        open_tensor_store(tmp_path, 224, 16)
    assert str(exc.value) == (
        f"no 224px 16-frame tensor store in {tmp_path} (224px_16f.npy and "
        "224px_16f_index.csv); run `dfew-build preprocess --size 224 --frames 16` first")
    store = TensorStore(tmp_path, SIZE, T)
    store.write(1, clip_tensor(1), detector="mtcnn", temporal="tim")
    store.close()
    _, index_csv = tensor_paths(tmp_path, SIZE, T)
    with open(index_csv, "a") as handle:
        handle.write("1,1,mtcnn,tim,\n")
    with pytest.raises(FacesError) as exc:
        open_tensor_store(tmp_path, SIZE, T)
    assert str(exc.value) == (
        f"{index_csv} line 3: row 1 / clip 1 is listed twice; delete the line, then run "
        "`dfew-build preprocess` again to redo the clip")
    with pytest.raises(FacesError) as exc:
        open_tensor_store(tmp_path, SIZE, 8)
    assert "no 112px 8-frame tensor store" in str(exc.value)
    np.save(tmp_path / "112px_8f.npy", np.zeros((2, 8, 112, 112), np.uint8))
    (tmp_path / "112px_8f_index.csv").write_text("row,clip_id\n")
    with pytest.raises(FacesError) as exc:
        open_tensor_store(tmp_path, SIZE, 8)
    assert str(exc.value) == (
        f"{tmp_path / '112px_8f.npy'} holds uint8 (2, 8, 112, 112), not uint8 [N, 8, 112, "
        "112, 3]; delete it and its index, then run `dfew-build preprocess` again")


def test_a_tensor_of_the_wrong_shape_is_refused(tmp_path):
    store = TensorStore(tmp_path, SIZE, T)
    with pytest.raises(FacesError) as exc:
        store.write(1, clip_tensor(1, frames=T + 1))
    assert str(exc.value) == ("clip 1: tensor uint8 (5, 112, 112, 3) does not fit the store "
                              "(uint8 (4, 112, 112, 3))")
    assert len(store) == 0 and not os.path.exists(tensor_paths(tmp_path, SIZE, T)[1])
