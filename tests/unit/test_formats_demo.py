"""The demo's folds + export step: folds sized for a few clips, explained, idempotent."""

from __future__ import annotations

from dfew_build.formats.demo import run_formats_demo
from dfew_build.splits import load_folds
from tests.dfew_fixture import build_workspace


def test_demo_folds_and_export_then_nothing_changes(workspace):
    # Single-labelled and kept: clips 1, 2, 6 (3); single-labelled at all: 1, 2, 4, 5, 6.
    build_workspace(workspace, folds=False)
    summary = run_formats_demo(workspace)
    assert summary["folds"] == {
        "scheme": "default", "k": 5, "subset": "single", "include_unprocessed": True,
        "clips": 5, "status": "created",
        "why": "5 clip(s) in 5 folds; --include-unprocessed: preprocessing kept too few clips",
        "command": "dfew-build folds --k 5 --scheme default --include-unprocessed --replace"}
    with workspace.session() as session:
        assert sorted(load_folds(session).tolist()) == [1, 2, 3, 4, 5]
    out = workspace.root / "exports" / "dfew"
    export = summary["export"]
    assert (export["out"], export["clips"], export["folds"]) == (str(out), 6, 5)
    assert export["missing"] == {
        "not in the 16-frame tensor store": 1,
        "dropped by preprocessing (no kept face track): no aligned frames": 1,
        "not preprocessed: no aligned frames (run dfew-build preprocess)": 1,
        "not cut: no clip file (run dfew-build clips cut)": 1}
    assert (out / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_5.csv").is_file()

    again = run_formats_demo(workspace)
    assert again["folds"]["status"] == "unchanged"
    assert all(set(counts) == {"skipped"} for counts in again["export"]["files"].values())


def test_demo_with_too_few_clips_explains_and_still_exports(workspace):
    summary = run_formats_demo(workspace)
    assert summary["folds"] == {"scheme": "default", "status": "not made",
                                "why": "fewer than 2 voted clips: nothing to split"}
    assert summary["export"]["clips"] == 0
    assert (workspace.root / "exports" / "dfew" / "Annotation" / "annotation.csv").read_text() \
        == "1happy,2sad,3neutral,4angry,5surprise,6disgust,7fear,order,label\n"


def test_demo_keeps_copies_of_one_clip_in_one_fold(workspace):
    import shutil

    build_workspace(workspace, folds=False)
    clips = workspace.root / "clips"
    shutil.copyfile(clips / "00001.mp4", clips / "00002.mp4")   # the same footage twice
    summary = run_formats_demo(workspace)
    assert summary["folds"]["k"] == 4
    assert summary["folds"]["why"] == (
        "5 clip(s) in 4 folds; --include-unprocessed: preprocessing kept too few clips; "
        "near-duplicate or overlapping clips kept together: 4 group(s) of clips (`dfew-build "
        "folds --k 4 --include-unprocessed` prints the pairs); k = 4 instead of DFEW's 5: the demo has only 4 such groups")
    with workspace.session() as session:
        folds = load_folds(session)
    assert folds[1] == folds[2] and sorted(folds.unique().tolist()) == [1, 2, 3, 4]
