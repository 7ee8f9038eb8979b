"""Round trip: a workspace built with the real stages (ingest, clips import + cut, votes
import, preprocess on real faces, folds) -> export --format dfew -> import-dfew into a new
workspace gives the same vote counts, labels, folds (as dfew-official) and kappa."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sqlalchemy import select

from dfew_build.annotation.votes import import_votes
from dfew_build.clips import cut_clips
from dfew_build.clips.importer import import_clips
from dfew_build.db.models import Clip, FaceTrack, Person
from dfew_build.faces.pipeline import preprocess
from dfew_build.faces.store import open_tensor_store
from dfew_build.formats.dfew_export import export_dfew
from dfew_build.formats.dfew_import import OFFICIAL_SCHEME, import_dfew
from dfew_build.labels.agreement import fleiss_agreement
from dfew_build.labels.consensus import single_labels
from dfew_build.labels.matrix import vote_matrix
from dfew_build.media.ingest import ingest
from dfew_build.splits import load_folds, plan_folds, save_folds
from dfew_build.workspace import init_workspace

# movie, start, end, votes (10 raters) in DFEW order
CLIPS = [
    ("single_face.mp4", 0.0, 1.2, (8, 2, 0, 0, 0, 0, 0)),
    ("single_face.mp4", 1.2, 2.4, (0, 7, 3, 0, 0, 0, 0)),
    ("WolfgangLanger_Pexels.mp4", 0.0, 1.0, (0, 1, 9, 0, 0, 0, 0)),
    ("WolfgangLanger_Pexels.mp4", 1.0, 2.0, (0, 0, 0, 10, 0, 0, 0)),
    ("WolfgangLanger_Pexels.mp4", 2.0, 3.0, (0, 0, 0, 0, 7, 0, 3)),
    ("WolfgangLanger_Pexels.mp4", 3.0, 4.0, (0, 0, 0, 0, 0, 5, 5)),   # not single-labelled
    ("no_face.mp4", 0.0, 1.0, (0, 0, 0, 0, 0, 8, 2)),                 # dropped: no face
]


@pytest.mark.slow
def test_export_then_import_keeps_votes_labels_folds_and_kappa(tmp_path, workspace,
                                                               sample_media):
    ws = workspace
    ingest(ws, [sample_media / name for name in sorted({c[0] for c in CLIPS})], {})
    clips_csv = tmp_path / "clips.csv"
    with open(clips_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movie", "start", "end", "extractor"])
        writer.writerows([movie, start, end, "extractor-1"] for movie, start, end, _ in CLIPS)
    assert not import_clips(ws, clips_csv).refused
    cut = cut_clips(ws)
    assert not cut.failed
    with ws.session() as session:
        raters = [Person(name=f"rater {i}", role="annotator") for i in range(10)]
        session.add_all(raters)
        ids = list(session.scalars(select(Clip.id).order_by(Clip.id)))
    votes_csv = tmp_path / "votes.csv"
    with open(votes_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["clip_id", "annotator", "emotion"])
        for clip_id, (*_, votes) in zip(ids, CLIPS):
            emotions = [code for code, n in enumerate(votes, 1) for _ in range(n)]
            writer.writerows([clip_id, f"rater {i}", e] for i, e in enumerate(emotions))
    with ws.session() as session:
        assert not import_votes(session, votes_csv).problems
    preprocess(ws, detector="mtcnn")
    with ws.session() as session:
        kept = set(session.scalars(select(FaceTrack.clip_id).where(FaceTrack.status == "kept")))
        assert kept == set(ids[:6])
        save_folds(session, plan_folds(session, k=3, seed=1))
        before_matrix = vote_matrix(session)
        before_folds = load_folds(session)
        durations = dict(session.execute(select(Clip.id, Clip.duration_s)).all())
        frame_counts = dict(session.execute(select(FaceTrack.clip_id,
                                                   FaceTrack.frames_with_face)
                                            .where(FaceTrack.status == "kept")).all())

    release = tmp_path / "DFEW"
    report = export_dfew(ws, release)
    assert report.missing == {"dropped by preprocessing (no kept face track): no aligned "
                              "frames": [ids[6]]}

    copy, _ = init_workspace(tmp_path / "copy")
    imported = import_dfew(copy, release)
    # The no-face clip has a video and votes but no frames in the release.
    assert imported.problems == [f"1 clip(s) with no aligned frames: {ids[6]:05d}",
                                 f"1 clip(s) with no 16-frame set: {ids[6]:05d}"]
    with copy.session() as session:
        after_matrix = vote_matrix(session)
        after_folds = load_folds(session, OFFICIAL_SCHEME)
        tracks = dict(session.execute(select(FaceTrack.clip_id, FaceTrack.frames_total)).all())
        new_durations = dict(session.execute(select(Clip.id, Clip.duration_s)).all())
    assert after_matrix.equals(before_matrix)
    assert single_labels(after_matrix).equals(single_labels(before_matrix))
    assert after_folds.equals(before_folds)
    assert len(after_folds) == 5
    before_kappa = fleiss_agreement(before_matrix.to_numpy(), bootstrap=0).overall.value
    after_kappa = fleiss_agreement(after_matrix.to_numpy(), bootstrap=0).overall.value
    assert after_kappa == before_kappa and before_kappa is not None
    assert tracks == frame_counts
    for clip_id, duration in durations.items():
        assert new_durations[clip_id] == pytest.approx(duration, abs=0.1)
    for size in (224, 112):
        _, index = open_tensor_store(copy.tensors_dir, size, 16)
        assert sorted(index["clip_id"]) == sorted(ids[:6])
    original, original_index = open_tensor_store(ws.tensors_dir, 112, 16)
    back, back_index = open_tensor_store(copy.tensors_dir, 112, 16)
    row_a = int(original_index.set_index("clip_id").loc[ids[0], "row"])
    row_b = int(back_index.set_index("clip_id").loc[ids[0], "row"])
    # 112 -> 224 JPEG -> 112: the faces survive up to resampling and JPEG noise.
    assert np.abs(original[row_a].astype(int) - back[row_b].astype(int)).mean() < 6
    copy.close()
