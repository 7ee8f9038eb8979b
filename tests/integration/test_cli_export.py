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
        "note: 1 clip(s) in scheme 'default' are not single-labelled at threshold 6; the split "
        "CSVs give them their plurality vote"]
    assert result.stdout.splitlines() == [
        "original clips: 5 linked",
        "aligned frames: 9 linked, 3 written",
        "16-frame sets: 48 written",
        "split CSVs: 4 written",
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
    import openpyxl  # the [test] extra installs it

    sheet = openpyxl.load_workbook(out / "Annotation" / "annotation.xlsx").active
    assert [list(r) for r in sheet.iter_rows(values_only=True)][3] == [0, 0, 5, 5, 0, 0, 0,
                                                                       "00003", 0]

    with workspace.session() as session:
        folds = load_folds(session)
    plurality = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 7}  # clip 3 ties neutral/angry: first wins
    for k in (1, 2):
        test = _rows(out / "EmoLabel_DataSplit" / "test(single-labeled)" / f"set_{k}.csv")
        train = _rows(out / "EmoLabel_DataSplit" / "train(single-labeled)" / f"set_{k}.csv")
        assert test[0] == train[0] == ["video_name", "label"]
        assert test[1:] == [[f"{c:05d}", str(plurality[c])] for c in folds.index
                            if folds[c] == k]
        assert train[1:] == [[f"{c:05d}", str(plurality[c])] for c in folds.index
                             if folds[c] != k]

    root = workspace.root
    assert os.path.samefile(out / "Clip" / "original" / "00001.mp4", root / "clips" / "00001.mp4")
    assert os.path.samefile(out / "Clip" / "clip_224x224" / "00002" / "00002_00003.jpg",
                            root / "faces" / "frames" / "00002" / "00002_00003.jpg")
    import cv2

    resized = cv2.imread(str(out / "Clip" / "clip_224x224" / "00003" / "00003_00001.jpg"))
    assert resized.shape == (224, 224, 3)
    sixteen = sorted(p.name for p in (out / "Clip" / "clip_224x224_16f" / "00006").iterdir())
    assert sixteen == [f"00006_{i:05d}.jpg" for i in range(1, 17)]
    frame = cv2.imread(str(out / "Clip" / "clip_224x224_16f" / "00006" / "00006_00005.jpg"))
    expected = cv2.resize(face_image(6, 4, 112), (224, 224), interpolation=cv2.INTER_CUBIC)
    assert frame.shape == (224, 224, 3)
    assert np.abs(frame.astype(int) - expected.astype(int)).mean() < 4
    assert not (out / "Clip" / "clip_224x224" / "00004").exists()

    again = cli("-w", workspace.root, "export", "--format", "dfew", out, "--json")
    summary = json.loads(again.stdout)
    assert summary["files"] == {"original clips": {"skipped": 5},
                                "aligned frames": {"skipped": 12},
                                "16-frame sets": {"skipped": 48},
                                "split CSVs": {"skipped": 4},
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
        "00004, 00005"]
    assert result.stdout.splitlines() == [
        "list files: 4 written",
        f"exported 4 clips and 2 folds of scheme 'default' to {out} (former-dfer)"]
    frames = workspace.root / "faces" / "frames"
    for k in (1, 2):
        test = (out / f"set_{k}_test.txt").read_text().splitlines()
        assert test == [f"{frames / f'{c:05d}'} 3 {labels0[c]}" for c in folds.index
                        if folds[c] == k and c in (1, 2, 3, 6)]

    out16 = tmp_path / "lists16"
    result = cli("-w", workspace.root, "export", "--format", "former-dfer", out16,
                 "--frames", "16")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "missing: 3 clip(s) not in the 16-frame tensor store: left out: 00003, 00004, 00005"]
    lines = (out16 / f"set_{int(folds[1])}_test.txt").read_text().splitlines()
    assert f"{out16 / 'clip_112x112_16f' / '00001'} 16 0" in lines
    assert len(list((out16 / "clip_112x112_16f" / "00001").iterdir())) == 16


def test_former_dfer_needs_folds(cli, workspace, tmp_path):
    result = cli("-w", workspace.root, "export", "--format", "former-dfer", tmp_path / "x")
    assert result.exit_code == 1
    assert result.stderr == ("Error: no folds stored for scheme 'default': the list files are "
                             "per fold; run dfew-build folds first (or pass --scheme NAME)\n")
    assert not (tmp_path / "x").exists()
