"""Our exports read exactly as the public DFER code reads a DFEW download (issue 16).

Each check repeats the reading conventions of that code, written here from reading it:

* DFEW release readers: `pandas.read_excel("Annotation/annotation.xlsx", sheet_name="Sheet1")`;
  `pandas.read_csv("EmoLabel_DataSplit/{train,test}(single-labeled)/set_{k}.csv")` with
  columns video_name (read as an int, then `f"{v:05d}"`) and label 1..7; 16-frame sets
  addressed by index as `Clip/clip_224x224_16f/{v:05d}/{i}.jpg`, i = 1..16.
* MAE-DFER's preprocess/dfew.py: the split CSVs above -> `"{video_dir}/{v:05d} {label-1}"`
  lines read back with `pandas.read_csv(path, header=None, delimiter=" ")`, and a clip
  folder's frames as `sorted(glob(folder/*.jpg))`.
* Former-DFER (dataloader/dataset_DFEW.py) and DFER-CLIP (main.py, dataloader/
  video_dataloader.py): `./annotation/DFEW_set_{k}_{train,test}.txt`, lines split on " "
  into path, num_frames, label 0..6; Former-DFER's 2021 loader keeps
  `int(num_frames) >= 16` (its 2022 loader keeps every line); frames are
  `sorted(glob(path/*.jpg))` indexed 0..num_frames-1.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pandas as pd
from PIL import Image

from dfew_build.db.models import FaceTrack, Person
from dfew_build.faces.store import TensorStore
from dfew_build.formats.dfew_export import export_dfew
from dfew_build.formats.former_dfer import export_former_dfer
from dfew_build.splits import load_folds, plan_folds, save_folds
from tests.dfew_fixture import add_voted_clip, face_image, write_clip_video, write_frames

# clip -> (votes in DFEW order, aligned frames); every clip single-labelled, cut and stored.
CLIPS = {
    1: ((9, 1, 0, 0, 0, 0, 0), 20),
    2: ((0, 8, 2, 0, 0, 0, 0), 20),
    3: ((0, 0, 10, 0, 0, 0, 0), 13),
    4: ((0, 0, 0, 7, 3, 0, 0), 13),
    5: ((0, 0, 0, 0, 8, 0, 2), 13),
    6: ((1, 0, 0, 0, 0, 9, 0), 13),
    7: ((0, 0, 0, 0, 0, 3, 7), 13),
    8: ((0, 0, 0, 0, 0, 0, 10), 24),
}


def build(workspace, k: int = 2) -> None:
    root = workspace.root
    with workspace.session() as session:
        raters = [Person(name=f"r{i}", role="annotator") for i in range(10)]
        session.add_all(raters)
        session.flush()
        store = TensorStore(workspace.tensors_dir, 224, 16)
        for clip_id, (votes, frames) in CLIPS.items():
            path = f"clips/{clip_id:05d}.mp4"
            write_clip_video(root / path, clip_id)
            add_voted_clip(session, raters, clip_id, votes, path)
            storage = f"faces/frames/{clip_id:05d}"
            write_frames(root / storage, clip_id, frames, size=224)
            session.add(FaceTrack(clip_id=clip_id, detector="mtcnn", status="kept",
                                  storage=storage, frames_total=frames,
                                  frames_with_face=frames, face_rate=1.0))
            tensor = np.stack([face_image(clip_id, i, 224)[:, :, ::-1] for i in range(16)])
            store.write(clip_id, np.ascontiguousarray(tensor))
        store.close()
        save_folds(session, plan_folds(session, k=k, seed=0))


def test_dfew_release_readers_and_mae_dfer_preprocessing(workspace, tmp_path):
    build(workspace)
    out = tmp_path / "DFEW"
    report = export_dfew(workspace, out)
    assert report.missing == {} and report.folds == 2
    with workspace.session() as session:
        folds = load_folds(session)

    table = pd.read_excel(out / "Annotation" / "annotation.xlsx", sheet_name="Sheet1")
    assert list(table.columns) == ["1happy", "2sad", "3neutral", "4angry", "5surprise",
                                   "6disgust", "7fear", "order", "label"]
    assert table.iloc[:, :7].to_numpy().tolist() == [list(v) for v, _ in CLIPS.values()]
    assert table["label"].tolist() == [1, 2, 3, 4, 5, 6, 7, 7]

    split_dir = out / "EmoLabel_DataSplit"
    video_dir = out / "Clip" / "clip_224x224_16f"
    for k in (1, 2):
        test = pd.read_csv(split_dir / "test(single-labeled)" / f"set_{k}.csv")
        train = pd.read_csv(split_dir / "train(single-labeled)" / f"set_{k}.csv")
        assert list(test.columns) == ["video_name", "label"]
        assert sorted(test.video_name) == [c for c in folds.index if folds[c] == k]
        assert sorted(train.video_name) == [c for c in folds.index if folds[c] != k]
        labels = dict(zip(train.video_name, train.label)) | dict(zip(test.video_name,
                                                                     test.label))
        assert set(labels.values()) <= set(range(1, 8))   # DFEW codes in the release
        for v in labels:
            # Loaders that address the 16 TIM frames by index.
            frames = [video_dir / f"{v:05d}" / f"{i}.jpg" for i in range(1, 17)]
            assert all(p.is_file() for p in frames)
            assert Image.open(frames[0]).convert("RGB").size == (224, 224)
        # MAE-DFER's preprocess/dfew.py with video_dir = Clip/clip_224x224_16f: one line
        # "<video_dir>/<v:05d> <label - 1>" per clip, read back by its dataset class.
        lines = tmp_path / f"split0{k}_train.csv"
        lines.write_text("".join(f"{os.path.join(video_dir, f'{v:05d}')} {label - 1}\n"
                                 for v, label in zip(train.video_name, train.label)))
        cleaned = pd.read_csv(lines, header=None, delimiter=" ")
        assert set(cleaned.values[:, 1]) <= set(range(7))
        for sample in cleaned.values[:, 0]:
            found = sorted(glob.glob(os.path.join(sample, "*.jpg")))
            assert len(found) == 16
            # Sorted as text, as MAE-DFER's VideoReaderFrame does: 1, 10..16, 2..9 (the
            # same order it gets from a real DFEW download, whose files are named alike).
            assert [os.path.basename(p) for p in found[:3]] == ["1.jpg", "10.jpg", "11.jpg"]


def test_former_dfer_and_dfer_clip_lists(workspace, tmp_path):
    build(workspace)
    with workspace.session() as session:
        folds = load_folds(session)
    codes = {c: int(np.argmax(votes)) + 1 for c, (votes, _) in CLIPS.items()}

    out = tmp_path / "Former-DFER"
    report = export_former_dfer(workspace, out)
    # The case: five clips of 13 frames, which Former-DFER's 2021 loader drops.
    assert report.notes == [
        "5 clip(s) have fewer than 16 frames (00003, 00004, 00005, 00006, 00007): "
        "Former-DFER's 2021 loader skips them (it keeps lines with num_frames >= 16) and "
        "DFER-CLIP repeats their last frame; export --frames 16 lists 16-frame sets instead "
        "(made by dfew-build preprocess --frames 16)"]
    out16 = tmp_path / "Former-DFER-16"
    assert export_former_dfer(workspace, out16, frames="16").notes == []

    for root, kept in ((out, [1, 2, 8]), (out16, list(CLIPS))):
        cwd = os.getcwd()
        os.chdir(root)   # both projects open ./annotation/... from their checkout
        try:
            seen = []
            for k in (1, 2):
                for part in ("train", "test"):
                    tmp = [x.strip().split(" ") for x in
                           open(f"./annotation/DFEW_set_{k}_{part}.txt")]
                    former = [item for item in tmp if int(item[1]) >= 16]
                    for path, num_frames, label in former:
                        clip_id = int(path.split("/")[-1])
                        assert (folds[clip_id] == k) == (part == "test")
                        assert int(label) == codes[clip_id] - 1        # 0..6 in the lists
                        frames = sorted(glob.glob(os.path.join(path, "*.jpg")))
                        assert len(frames) == int(num_frames)
                        # Text order is temporal order: the names are zero-padded.
                        numbers = [int(os.path.basename(p)[:-4].split("_")[-1]) for p in frames]
                        assert numbers == list(range(1, int(num_frames) + 1))
                        seen.append(clip_id)
                    # DFER-CLIP reads the same file and keeps every line.
                    assert len(tmp) == sum(1 for c in folds.index
                                           if (folds[c] == k) == (part == "test"))
            assert sorted(set(seen)) == kept
        finally:
            os.chdir(cwd)
