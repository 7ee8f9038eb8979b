"""`dfew-build export`: the DFEW release layout and Former-DFER lists from a workspace with
cut clips, votes, aligned frames (224 px and 112 px), a 112 px tensor store and folds."""

from __future__ import annotations

import csv
import json
import os

import numpy as np

from dfew_build.splits import load_folds
from tests.dfew_fixture import build_workspace as build
from tests.dfew_fixture import face_image


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_export_dfew_layout_then_rerun_skips_everything(cli, workspace, tmp_path):
    build(workspace)
    out = tmp_path / "DFEW"
    result = cli("-w", workspace.root, "export", "--format", "dfew", out)
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "missing: 1 clip(s) not in the 16-frame tensor store: 00003",
        "missing: 1 clip(s) dropped by preprocessing (no kept face track): no aligned frames: "
        "00004",
        "missing: 1 clip(s) not preprocessed: no aligned frames (run dfew-build preprocess): "
        "00005",
        "missing: 1 clip(s) not cut: no clip file (run dfew-build clips cut): 00006",
        "note: 16-frame sets resized from the 112px store to 224px (no 224px store)",
        "note: 1 clip(s) in scheme 'default' are not single-labelled at threshold 6 (folds made "
        "with --subset all): train(single-labeled) and test(single-labeled) list only its 5 "
        "single-labelled clip(s), and train(plurality-labeled) and test(plurality-labeled) list "
        "all 6 with their plurality vote (for the single-labelled folders alone, dfew-build "
        "folds --subset single --replace)"]
    assert result.stdout.splitlines() == [
        "original clips: 5 linked",
        "aligned frames: 9 linked, 3 written",
        "16-frame sets: 48 written",
        "split CSVs: 8 written",
        "annotation table: 2 written",
        f"exported 6 clips and 2 folds of scheme 'default' to {out} (dfew)"]

    assert _rows(out / "Annotation" / "annotation.csv") == [
        ["1happy", "2sad", "3neutral", "4angry", "5surprise", "6disgust", "7fear", "order",
         "label"],
        ["8", "2", "0", "0", "0", "0", "0", "00001", "1"],
        ["0", "7", "3", "0", "0", "0", "0", "00002", "2"],
        ["0", "0", "5", "5", "0", "0", "0", "00003", "0"],
        ["0", "0", "0", "9", "0", "0", "1", "00004", "4"],
        ["0", "0", "0", "0", "10", "0", "0", "00005", "5"],
        ["0", "0", "0", "0", "0", "3", "7", "00006", "7"]]
    import pandas as pd

    # Public DFEW loaders read the workbook by sheet name (a sheet called "annotation" failed).
    sheet = pd.read_excel(out / "Annotation" / "annotation.xlsx", sheet_name="Sheet1",
                          dtype={"order": str})
    assert sheet.iloc[2].tolist() == [0, 0, 5, 5, 0, 0, 0, "00003", 0]

    with workspace.session() as session:
        folds = load_folds(session)
    plurality = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 7}  # clip 3 ties neutral/angry: first wins
    split = out / "EmoLabel_DataSplit"
    for k in (1, 2):
        test = _rows(split / "test(single-labeled)" / f"set_{k}.csv")
        train = _rows(split / "train(single-labeled)" / f"set_{k}.csv")
        assert test[0] == train[0] == ["video_name", "label"]
        # Clip 3 (5 of 10 votes each for neutral and angry) is not single-labelled.
        assert test[1:] == [[f"{c:05d}", str(plurality[c])] for c in folds.index
                            if folds[c] == k and c != 3]
        assert train[1:] == [[f"{c:05d}", str(plurality[c])] for c in folds.index
                             if folds[c] != k and c != 3]
        all_test = _rows(split / "test(plurality-labeled)" / f"set_{k}.csv")
        all_train = _rows(split / "train(plurality-labeled)" / f"set_{k}.csv")
        assert all_test[1:] == [[f"{c:05d}", str(plurality[c])] for c in folds.index
                                if folds[c] == k]
        assert all_train[1:] == [[f"{c:05d}", str(plurality[c])] for c in folds.index
                                 if folds[c] != k]
    assert ["00003", "3"] in _rows(split / "test(plurality-labeled)" / f"set_{folds[3]}.csv")

    root = workspace.root
    assert os.path.samefile(out / "Clip" / "original" / "00001.mp4", root / "clips" / "00001.mp4")
    assert os.path.samefile(out / "Clip" / "clip_224x224" / "00002" / "00002_00003.jpg",
                            root / "faces" / "frames" / "00002" / "00002_00003.jpg")
    import cv2

    resized = cv2.imread(str(out / "Clip" / "clip_224x224" / "00003" / "00003_00001.jpg"))
    assert resized.shape == (224, 224, 3)
    # The release names the 16 TIM frames 1.jpg ... 16.jpg (loaders address them by index).
    sixteen = {p.name for p in (out / "Clip" / "clip_224x224_16f" / "00006").iterdir()}
    assert sixteen == {f"{i}.jpg" for i in range(1, 17)}
    frame = cv2.imread(str(out / "Clip" / "clip_224x224_16f" / "00006" / "5.jpg"))
    expected = cv2.resize(face_image(6, 4, 112), (224, 224), interpolation=cv2.INTER_CUBIC)
    assert frame.shape == (224, 224, 3)
    assert np.abs(frame.astype(int) - expected.astype(int)).mean() < 4
    assert not (out / "Clip" / "clip_224x224" / "00004").exists()

    again = cli("-w", workspace.root, "export", "--format", "dfew", out, "--json")
    summary = json.loads(again.stdout)
    assert summary["files"] == {"original clips": {"skipped": 5},
                                "aligned frames": {"skipped": 12},
                                "16-frame sets": {"skipped": 48},
                                "split CSVs": {"skipped": 8},
                                "annotation table": {"skipped": 2}}
    assert summary["missing"]["not cut: no clip file (run dfew-build clips cut)"] == ["00006"]


def test_export_dfew_without_folds_writes_the_rest(cli, workspace, tmp_path):
    build(workspace)
    out = tmp_path / "DFEW"
    result = cli("-w", workspace.root, "export", "--format", "dfew", out, "--scheme", "other")
    assert result.exit_code == 0
    assert ("note: no folds stored for scheme 'other': EmoLabel_DataSplit not written (run "
            "dfew-build folds)") in result.stderr.splitlines()
    assert result.stdout.splitlines()[-1] == f"exported 6 clips and no folds to {out} (dfew)"
    assert not (out / "EmoLabel_DataSplit").exists()
    assert (out / "Annotation" / "annotation.csv").is_file()


def test_export_former_dfer_lists(cli, workspace, tmp_path):
    build(workspace)
    with workspace.session() as session:
        folds = load_folds(session)
    labels0 = {1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 6}
    out = tmp_path / "lists"
    result = cli("-w", workspace.root, "export", "--format", "former-dfer", out)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "missing: 2 clip(s) without aligned frames (run dfew-build preprocess): left out: "
        "00004, 00005",
        "note: 4 clip(s) have fewer than 16 frames (00001, 00002, 00003, 00006): Former-DFER's "
        "2021 loader skips them (it keeps lines with num_frames >= 16) and DFER-CLIP repeats "
        "their last frame; export --frames 16 lists 16-frame sets instead (made by dfew-build "
        "preprocess --frames 16)",
        "note: 1 clip(s) in scheme 'default' are not single-labelled at threshold 6 (folds made "
        "with --subset all): the lists give them their plurality vote"]
    assert result.stdout.splitlines() == [
        "list files: 4 written",
        f"exported 4 clips and 2 folds of scheme 'default' to {out} (former-dfer)"]
    frames = workspace.root / "faces" / "frames"
    # Former-DFER and DFER-CLIP hard-code ./annotation/DFEW_set_{k}_{train,test}.txt.
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "annotation/DFEW_set_1_test.txt", "annotation/DFEW_set_1_train.txt",
        "annotation/DFEW_set_2_test.txt", "annotation/DFEW_set_2_train.txt"]
    for k in (1, 2):
        test = (out / "annotation" / f"DFEW_set_{k}_test.txt").read_text().splitlines()
        assert test == [f"{frames / f'{c:05d}'} 3 {labels0[c]}" for c in folds.index
                        if folds[c] == k and c in (1, 2, 3, 6)]

    out16 = tmp_path / "lists16"
    result = cli("-w", workspace.root, "export", "--format", "former-dfer", out16,
                 "--frames", "16")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "missing: 3 clip(s) not in the 16-frame tensor store: left out: 00003, 00004, 00005"]
    lines = (out16 / "annotation" / f"DFEW_set_{int(folds[1])}_test.txt").read_text()
    assert f"{out16 / 'clip_112x112_16f' / '00001'} 16 0" in lines.splitlines()
    # Zero-padded names: both loaders sort a folder's names as text.
    assert sorted(p.name for p in (out16 / "clip_112x112_16f" / "00001").iterdir()) == [
        f"00001_{i:05d}.jpg" for i in range(1, 17)]


def test_former_dfer_needs_folds(cli, workspace, tmp_path):
    result = cli("-w", workspace.root, "export", "--format", "former-dfer", tmp_path / "x")
    assert result.exit_code == 1
    assert result.stderr == ("Error: no folds stored for scheme 'default': the list files are "
                             "per fold; run dfew-build folds first (or pass --scheme NAME)\n")
    assert not (tmp_path / "x").exists()


def test_export_dfew_replaces_what_an_older_export_named_differently(cli, workspace, tmp_path):
    """A release written before: annotation.xlsx with a sheet called "annotation", 16-frame
    sets named 00006_00001.jpg, plurality folders of a --subset all scheme. Exporting again
    leaves Sheet1, 1.jpg .. 16.jpg and (once the scheme is single-labelled only) no
    plurality folders."""
    import openpyxl
    import pandas as pd

    from dfew_build.splits import plan_folds, save_folds

    build(workspace)
    out = tmp_path / "DFEW"
    assert cli("-w", workspace.root, "export", "--format", "dfew", out).exit_code == 0
    book = openpyxl.load_workbook(out / "Annotation" / "annotation.xlsx")
    book.active.title = "annotation"
    book.save(out / "Annotation" / "annotation.xlsx")
    old_frames = out / "Clip" / "clip_224x224_16f" / "00006"
    for i in (1, 2):
        (old_frames / f"00006_{i:05d}.jpg").write_bytes(b"old")
    with workspace.session() as session:
        save_folds(session, plan_folds(session, k=2, seed=0, require_kept=False),
                   replace=True)

    result = cli("-w", workspace.root, "export", "--format", "dfew", out, "--json")
    summary = json.loads(result.stdout)
    assert summary["files"]["annotation table"] == {"skipped": 1, "written": 1}
    assert summary["files"]["16-frame sets"] == {"removed": 2, "skipped": 48}
    assert summary["files"]["split CSVs"] == {"removed": 4, "written": 4}
    assert openpyxl.load_workbook(out / "Annotation" / "annotation.xlsx").sheetnames == [
        "Sheet1"]
    assert len(pd.read_excel(out / "Annotation" / "annotation.xlsx", sheet_name="Sheet1")) == 6
    assert {p.name for p in old_frames.iterdir()} == {f"{i}.jpg" for i in range(1, 17)}
    split = out / "EmoLabel_DataSplit"
    assert sorted(p.name for p in split.iterdir()) == [
        "test(plurality-labeled)", "test(single-labeled)", "train(plurality-labeled)",
        "train(single-labeled)"]
    assert list((split / "test(plurality-labeled)").iterdir()) == []
    assert not any("plurality" in note for note in summary["notes"])
