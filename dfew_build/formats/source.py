"""What an export reads from a workspace: votes, labels, clip files, aligned frames, folds.

Only counted votes (labels.matrix.counted_votes): a retired clip, or one voted on only by
excluded annotators, is not exported, and the annotation table's counts leave excluded
annotators' votes out. Labels follow the single-label rule l_k / n_i > r / n with n =
`[annotation] raters_per_clip`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select

from dfew_build.db.models import Clip, FaceTrack
from dfew_build.labels.consensus import single_labels
from dfew_build.labels.matrix import VoteAccounting, vote_accounting, vote_matrix
from dfew_build.labels.views import raters_per_clip
from dfew_build.splits import load_folds, retired_in_scheme


@dataclass
class ExportSource:
    root: Path
    matrix: pd.DataFrame                 # clip_id x 7 counted votes, clips with counted votes
    single: pd.Series                    # clip_id -> 1..7, single-labelled clips
    plurality: pd.Series                 # clip_id -> 1..7, every voted clip
    videos: dict[int, Path | None]       # clip_id -> its cut file (None: not cut / missing)
    frames: dict[int, Path]              # clip_id -> aligned-frames folder of its kept track
    preprocessed: set[int]               # clips with any face_track row (kept or not)
    folds: pd.Series                     # clip_id -> fold, empty when the scheme has none
    scheme: str
    threshold: int
    raters: int = 10
    retired_in_folds: set[int] = field(default_factory=set)   # retired clips of the scheme
    accounting: VoteAccounting = field(default_factory=VoteAccounting)
    notes: list[str] = field(default_factory=list)

    def label(self, clip_id: int) -> int:
        """The label a split file gives a clip: its single label, else (a scheme made with
        --subset all) its plurality vote."""
        return int(self.single.get(clip_id, self.plurality[clip_id]))


def resolve_video(root: Path, stored: str | None) -> Path | None:
    """clip.path is workspace-relative (clips/00042.mp4); absolute paths are honoured too."""
    if not stored:
        return None
    path = Path(stored)
    path = path if path.is_absolute() else root / path
    return path if path.is_file() else None


def gather(workspace, *, scheme: str, threshold: int) -> ExportSource:
    root = Path(workspace.root)
    raters = raters_per_clip(workspace.config)
    with workspace.session() as session:
        matrix = vote_matrix(session)
        ids = [int(c) for c in matrix.index]
        paths = dict(session.execute(select(Clip.id, Clip.path)).all())
        tracks = session.execute(
            select(FaceTrack.clip_id, FaceTrack.status, FaceTrack.storage)
            .order_by(FaceTrack.created_at, FaceTrack.id)).all()
        folds = load_folds(session, scheme, missing_ok=True)
        retired = set(retired_in_scheme(session, scheme)) if len(folds) else set()
        accounting = vote_accounting(session)
    frames: dict[int, Path] = {}
    preprocessed: set[int] = set()
    for clip_id, status, storage in tracks:  # the latest kept track wins
        preprocessed.add(int(clip_id))
        if status == "kept" and storage:
            folder = Path(storage)
            frames[int(clip_id)] = folder if folder.is_absolute() else root / folder
    values = matrix.to_numpy()
    plurality = pd.Series(values.argmax(axis=1) + 1 if len(values) else np.zeros(0, int),
                          index=matrix.index, dtype="int64")
    return ExportSource(
        root=root, matrix=matrix, single=single_labels(matrix, threshold, raters),
        plurality=plurality, videos={c: resolve_video(root, paths.get(c)) for c in ids},
        frames=frames, preprocessed=preprocessed, folds=folds, scheme=scheme,
        threshold=threshold, raters=raters, retired_in_folds=retired, accounting=accounting)


def not_counted_notes(source: ExportSource) -> list[str]:
    """Notes for an export report: what the counted-vote rule kept out of it."""
    phrases = source.accounting.phrases()
    if not phrases:
        return []
    return ["not exported (stored, not counted): " + "; ".join(phrases)]


def fold_miss_reason(source: ExportSource, clip_id: int, tail: str) -> str:
    """Why a clip of the scheme is left out of the split files."""
    if int(clip_id) in source.retired_in_folds:
        return (f"in the folds but retired: {tail} (dfew-build folds --replace rebuilds "
                f"scheme {source.scheme!r} without them)")
    return f"in the folds but without counted votes: {tail}"
