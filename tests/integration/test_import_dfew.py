"""`dfew-build import-dfew` on synthetic DFEW releases: the full layout, missing parts, bad
rows, labels that disagree with the votes, re-running."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sqlalchemy import select

from dfew_build.db.models import Assignment, Clip, FaceTrack, Person
from dfew_build.faces.store import open_tensor_store
from dfew_build.labels.matrix import vote_matrix
from dfew_build.splits import load_folds
from dfew_build.workspace import init_workspace, open_workspace
from tests.databases import backends, throwaway_url
from tests.dfew_fixture import (STANDARD, HEADER, ReleaseClip, annotation_rows, face_image,
                                write_csv, write_release)


def _import(cli, root, ws, *extra):
    return cli("import-dfew", root, "--workspace-path", ws, *extra)


def test_full_release_imports_everything_once(cli, tmp_path):
    root = write_release(tmp_path / "DFEW")
    ws_path = tmp_path / "ws"
    result = _import(cli, root, ws_path)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "aligned frames: 30 linked",
        "original clips: 6 linked",
        "imported 6 clips (0 already present), 60 votes, 6 face tracks, 5 fold rows of scheme "
        "'dfew-official' (3 folds), 16-frame sets: 6 into 224px_16f, 6 into 112px_16f; "
        f"0 problem(s), 0 label disagreement(s) into {ws_path}"]

    ws = open_workspace(ws_path)
    with ws.session() as session:
        clips = session.scalars(select(Clip).order_by(Clip.id)).all()
        assert [c.id for c in clips] == [1, 2, 3, 4, 5, 12]
        assert {(c.source, c.movie_id, c.status) for c in clips} == {("imported", None,
                                                                      "accepted")}
        assert clips[0].path == "clips/00001.mp4"
        assert clips[0].duration_s == pytest.approx(2.0, abs=0.05)  # 48 frames at 24 fps
        assert os.path.samefile(ws_path / "clips" / "00001.mp4",
                                root / "Clip" / "original" / "00001.mp4")
        matrix = vote_matrix(session)
        assert {int(c): tuple(int(v) for v in row) for c, row in
                zip(matrix.index, matrix.to_numpy())} == {c.clip_id: c.votes for c in STANDARD}
        people = session.scalars(select(Person).order_by(Person.name)).all()
        assert [(p.name, p.role, p.active) for p in people] == [
            (f"dfew-release:rater-{i:02d}", "annotator", False) for i in range(1, 11)]
        assert set(session.scalars(select(Assignment.source)).all()) == {"imported"}
        assert load_folds(session, "dfew-official").to_dict() == {1: 1, 2: 2, 4: 3, 5: 1,
                                                                  12: 2}
        tracks = session.scalars(select(FaceTrack).order_by(FaceTrack.clip_id)).all()
        assert [(t.clip_id, t.detector, t.status, t.face_rate, t.frames_total, t.storage)
                for t in tracks][-1] == (12, "dfew-release", "kept", 1.0, 5,
                                         "faces/frames/00012")
    assert sorted(p.name for p in (ws_path / "faces" / "frames" / "00012").iterdir()) == [
        f"00012_{i:05d}.jpg" for i in range(1, 6)]
    array, index = open_tensor_store(ws.tensors_dir, 224, 16)
    row = int(index.set_index("clip_id").loc[12, "row"])
    # Frame 3 of clip 12's 16-frame set (written from face_image(112, 3)), RGB, JPEG-close.
    expected = face_image(112, 3)[:, :, ::-1].astype(int)
    assert np.abs(array[row, 2].astype(int) - expected).mean() < 3
    small, small_index = open_tensor_store(ws.tensors_dir, 112, 16)
    assert small.shape[1:] == (16, 112, 112, 3) and sorted(small_index["clip_id"]) == [
        1, 2, 3, 4, 5, 12]
    ws.close()

    again = _import(cli, root, ws_path, "--json")
    assert again.exit_code == 0
    summary = json.loads(again.stdout)
    assert summary["clips"] == {"added": 0, "present": 6}
    assert summary["votes"] == {"added": 0, "clips_already_voted": 6}
    assert summary["folds"] == {"scheme": "dfew-official", "k": 3, "added": 0, "present": 5}
    assert summary["tensors_added"] == {} and summary["face_tracks_added"] == 0
    assert summary["files"] == {"aligned frames": {"skipped": 30}}
    assert summary["problems"] == []


def test_missing_parts_are_reported_and_the_rest_imported(cli, tmp_path):
    clips = [ReleaseClip(1, (8, 2, 0, 0, 0, 0, 0), 1, 1, video=False, frames_16f=False),
             ReleaseClip(2, (0, 7, 3, 0, 0, 0, 0), 2, 2, video=False, frames=0,
                         frames_16f=False),
             ReleaseClip(3, (0, 0, 0, 0, 10, 0, 0), 5, 2, video=False, frames=0,
                         frames_16f=False)]
    root = write_release(tmp_path / "DFEW", clips)
    # Clip 9 is listed in a split but absent from the annotation table.
    write_csv(root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv",
              ["video_name", "label"], [["00001", 1], ["00009", 3]])
    ws_path = tmp_path / "ws"
    result = _import(cli, root, ws_path)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "problem: Clip/original: folder missing",
        "problem: Clip/clip_224x224_16f: folder missing",
        "problem: 2 clip(s) with no aligned frames: 00002, 00003",
        "problem: clip 00002: no original video and no aligned frames; duration unknown, "
        "stored as 1 frame at 25 fps",
        "problem: clip 00003: no original video and no aligned frames; duration unknown, "
        "stored as 1 frame at 25 fps",
        "problem: EmoLabel_DataSplit/test(single-labeled)/set_1.csv, row 3: clip 00009 is not "
        "in the annotation table; no fold stored for it"]
    assert result.stdout.splitlines()[-1] == (
        "imported 3 clips (0 already present), 30 votes, 1 face tracks, 3 fold rows of scheme "
        "'dfew-official' (2 folds), 16-frame sets: none; 6 problem(s), 0 label "
        f"disagreement(s) into {ws_path}")
    ws = open_workspace(ws_path)
    with ws.session() as session:
        durations = dict(session.execute(select(Clip.id, Clip.duration_s)).all())
        assert durations == {1: 5 / 25, 2: 1 / 25, 3: 1 / 25}  # frames at the assumed 25 fps
        assert session.scalar(select(Clip.path).where(Clip.id == 1)) is None
    ws.close()


def test_bad_rows_and_label_disagreements(cli, tmp_path):
    root = write_release(tmp_path / "DFEW", STANDARD[:3], splits=False)
    rows = annotation_rows(STANDARD[:3])
    rows[1][1] = "seven"                          # non-numeric vote: clip 2 skipped
    rows.append([0, 0, 0, 0, 0, 0, 10, "00007", 8])  # label out of range
    rows.append([0, 0, 0, 0, 0, 6, 4, "00008", 6])   # says single-labelled; votes say not
    write_csv(root / "Annotation" / "annotation.csv", HEADER, rows)
    write_csv(root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv",
              ["video_name", "label"], [["1", 1], ["00003", 4], ["00002", 2], ["x", 1],
                                        ["00008", 0]])
    write_csv(root / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_1.csv",
              ["video_name", "label"], [["00001", 1]])
    result = _import(cli, root, tmp_path / "ws")
    assert result.exit_code == 0
    ann = "Annotation/annotation.csv"
    test1 = "EmoLabel_DataSplit/test(single-labeled)/set_1.csv"
    assert result.stderr.splitlines() == [
        f"problem: {ann}, row 3: clip 00002: vote count for sad is 'seven', not a whole "
        "number ≥ 0; row skipped",
        f"problem: {ann}, row 5: clip 00007: label '8' is out of range (0 = not "
        "single-labelled, 1..7 = DFEW emotions); row skipped",
        "problem: Clip/original: 1 clip(s) not in the annotation table, skipped: 00002.mp4",
        "problem: Clip/clip_224x224: 1 clip(s) not in the annotation table, skipped: 00002",
        "problem: Clip/clip_224x224_16f: 1 clip(s) not in the annotation table, skipped: 00002",
        "problem: 1 clip(s) with no original video: 00008",
        "problem: 1 clip(s) with no aligned frames: 00008",
        "problem: 1 clip(s) with no 16-frame set: 00008",
        "problem: clip 00008: no original video and no aligned frames; duration unknown, "
        "stored as 1 frame at 25 fps",
        f"problem: {ann}, row 6: clip 00008 has label 6 but its votes [0, 0, 0, 0, 0, 6, 4] "
        "give 0 at threshold 6 (0 = not single-labelled); the votes are stored",
        f"problem: {test1}, row 3: clip 00003 has label 4 but its votes give 0",
        f"problem: {test1}, row 4: clip 00002 is not in the annotation table; no fold stored "
        "for it",
        f"problem: {test1}, row 5: video_name 'x' is not a DFEW clip number; row skipped",
        f"problem: {test1}, row 6: clip 00008: label '0' is out of range 1..7; row skipped",
        "problem: EmoLabel_DataSplit/train(single-labeled)/set_1.csv, row 2: clip 00001 is in "
        "both the train and the test set 1"]
    assert "3 clips (0 already present)" in result.stdout
    assert "2 label disagreement(s)" in result.stdout


def test_xlsx_annotation_and_unpadded_split_names(cli, tmp_path):
    root = write_release(tmp_path / "DFEW", STANDARD[:2], annotation="xlsx", splits=False)
    write_csv(root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv",
              ["video_name", "label"], [[1, 1]])
    write_csv(root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_2.csv",
              ["video_name", "label"], [[2, 2]])
    result = _import(cli, root, tmp_path / "ws", "--json")
    summary = json.loads(result.stdout)
    assert summary["annotation"] == "Annotation/annotation.xlsx"
    assert summary["problems"] == []
    assert summary["folds"]["added"] == 2 and summary["clips"]["added"] == 2


def test_refuses_a_workspace_with_its_own_clips(cli, tmp_path, workspace):
    with workspace.session() as session:
        session.add(Clip(start_s=0, end_s=1, duration_s=1, source="manual"))
    root = write_release(tmp_path / "DFEW", STANDARD[:1])
    result = cli("-w", workspace.root, "import-dfew", root)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the workspace {workspace.root} already holds 1 clip(s) that did not come from "
        "a DFEW release; import into a new workspace: dfew-build import-dfew ROOT "
        "--workspace-path NEW_FOLDER\n")


def test_not_a_release(cli, tmp_path):
    result = _import(cli, tmp_path / "nowhere", tmp_path / "ws")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tmp_path / 'nowhere'} is not a folder; pass the root of a DFEW release (the "
        "folder holding Clip/, EmoLabel_DataSplit/ and Annotation/)\n")
    with open(tmp_path / "empty.csv", "w"):
        pass
    (tmp_path / "rel" / "Annotation").mkdir(parents=True)
    write_csv(tmp_path / "rel" / "Annotation" / "annotation.csv", HEADER, [["bad"]])
    result = _import(cli, tmp_path / "rel", tmp_path / "ws")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: nothing imported from "
        f"{tmp_path / 'rel'}: no usable row in Annotation/annotation.csv")


def test_16_frame_sets_with_plain_names_or_a_wrong_count(cli, tmp_path):
    clips = [ReleaseClip(1, (8, 2, 0, 0, 0, 0, 0), 1, 1, video=False, frames_16f=False),
             ReleaseClip(2, (0, 7, 3, 0, 0, 0, 0), 2, 2, video=False, frames_16f=False)]
    root = write_release(tmp_path / "DFEW", clips)
    from tests.dfew_fixture import write_frames

    # Some copies of the release name the 16 frames 1.jpg .. 16.jpg: read in numeric order.
    write_frames(root / "Clip" / "clip_224x224_16f" / "00001", 1, 16, names="plain")
    write_frames(root / "Clip" / "clip_224x224_16f" / "00002", 2, 15)
    result = _import(cli, root, tmp_path / "ws", "--json")
    summary = json.loads(result.stdout)
    assert summary["problems"] == [
        "Clip/original: folder missing",
        "Clip/clip_224x224_16f/00002: 15 frames, expected 16; not packed into the tensor store"]
    assert summary["tensors_added"] == {"224px_16f": 1, "112px_16f": 1}
    ws = open_workspace(tmp_path / "ws")
    array, index = open_tensor_store(ws.tensors_dir, 224, 16)
    assert index["clip_id"].tolist() == [1]
    # Frame 10 is 10.jpg, not the 2nd file in text order (10.jpg < 2.jpg).
    expected = face_image(1, 10)[:, :, ::-1].astype(int)
    assert np.abs(array[0, 9].astype(int) - expected).mean() < 3
    ws.close()


@pytest.mark.parametrize("backend", backends())
def test_import_keeps_dfew_ids_and_new_clips_get_fresh_ids(cli, tmp_path, backend):
    """Explicit ids must not break later inserts (PostgreSQL's serial sequence)."""
    root = write_release(tmp_path / "DFEW", STANDARD[:2], splits=False)
    with throwaway_url(backend, tmp_path) as url:
        ws, _ = init_workspace(tmp_path / "ws", database_url=url)
        result = cli("-w", ws.root, "import-dfew", root, "--json")
        assert json.loads(result.stdout)["clips"] == {"added": 2, "present": 0}
        with ws.session() as session:
            clip = Clip(start_s=0, end_s=1, duration_s=1, source="manual")
            session.add(clip)
            session.flush()
            assert clip.id == 3
            assert vote_matrix(session).loc[2].tolist() == [0, 7, 3, 0, 0, 0, 0]
        ws.close()
