"""`import-dfew ROOT`: a DFEW release (Clip/, EmoLabel_DataSplit/, Annotation/) into a new or
empty workspace.

* Clips keep their DFEW numbers as ids (00012 -> clip 12), source `imported`, no movie.
  Original videos are linked (or copied) to WS/clips/ and probed for their duration; a
  clip without its video gets the duration of its aligned frames at ASSUMED_FPS.
* Vote counts become votes of placeholder annotators `dfew-release:rater-01`.. (inactive;
  the prefix tells annotator-quality views to skip them), with assignments of source
  `imported`: a clip whose counts sum to n gets exactly those n votes.
* The single labels of the annotation table and the split CSVs are checked against the
  votes at threshold 6; disagreements are reported (the votes are what is stored).
* test(single-labeled)/set_k.csv gives fold k of the scheme `dfew-official`.
* Aligned frames are linked into WS/faces/frames/{clip:05d}/ with a face_track (detector
  `dfew-release`, kept, face rate 1.0); the 16-frame sets are packed into the 224px_16f
  and 112px_16f tensor stores.
Every bad row, missing file or folder is reported and the rest imported. Clips are
committed in batches, so an interrupted import keeps what it finished; a second run adds
nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select, text

from dfew_build.db.models import Assignment, Clip, FaceTrack, Fold, Person, Vote
from dfew_build.emotions import NAMES, NUM_EMOTIONS
from dfew_build.errors import FormatError, ProbeError
from dfew_build.formats.layout import (FRAMES_16F_DIR, FRAMES_DIR, ORIGINAL_DIR, RELEASE_FRAMES,
                                       TEST_DIR, TRAIN_DIR, VIDEO_SUFFIXES, Tally, clip_name,
                                       frame_name, parse_clip_name, place_file, remove_stale,
                                       sorted_frames)
from dfew_build.formats.release import (AnnotationRow, Problem, read_annotation, read_split,
                                        split_files)
from dfew_build.labels.consensus import DEFAULT_THRESHOLD, single_labels

OFFICIAL_SCHEME = "dfew-official"
DETECTOR = "dfew-release"
RATER_PREFIX = "dfew-release:rater-"
MIN_RATERS = 10
ASSUMED_FPS = 25.0          # DFEW's movies are mostly 24-25 fps
TENSOR_SIZES = (224, 112)   # the release's size, and the trainer's default
BATCH = 200                 # clips per commit


def rater_name(index: int) -> str:
    return f"{RATER_PREFIX}{index:02d}"


@dataclass
class ImportReport:
    root: Path
    annotation: str = ""
    clips_added: int = 0
    clips_present: int = 0
    votes_added: int = 0
    clips_votes_present: int = 0
    tracks_added: int = 0
    label_disagreements: int = 0
    folds_added: int = 0
    folds_present: int = 0
    folds_k: int = 0
    tensors_added: dict[str, int] = field(default_factory=dict)
    files: Tally = field(default_factory=Tally)
    problems: list[str] = field(default_factory=list)

    def problem(self, item: Problem | str) -> None:
        self.problems.append(str(item))

    def as_dict(self) -> dict:
        return {"root": str(self.root), "annotation": self.annotation,
                "clips": {"added": self.clips_added, "present": self.clips_present},
                "votes": {"added": self.votes_added,
                          "clips_already_voted": self.clips_votes_present},
                "face_tracks_added": self.tracks_added,
                "folds": {"scheme": OFFICIAL_SCHEME, "k": self.folds_k,
                          "added": self.folds_added, "present": self.folds_present},
                "tensors_added": self.tensors_added,
                "label_disagreements": self.label_disagreements,
                "files": self.files.as_dict(), "problems": self.problems}


# -- scanning the release ----------------------------------------------------------------

def _scan(root: Path, folder: Path, known: set[int], report: ImportReport, *,
          files: bool) -> dict[int, Path]:
    """clip id -> video file (files=True) or frame folder in one Clip/ sub-folder."""
    where = folder.as_posix()
    found: dict[int, Path] = {}
    if not (root / folder).is_dir():
        report.problem(f"{where}: folder missing")
        return found
    unknown = []
    for entry in sorted((root / folder).iterdir()):
        if entry.name.startswith("."):
            continue
        if files and not (entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES):
            continue
        if not files and not entry.is_dir():
            continue
        clip_id = parse_clip_name(entry.stem if files else entry.name)
        if clip_id is None:
            report.problem(f"{where}/{entry.name}: not a DFEW clip name; skipped")
        elif clip_id not in known:
            unknown.append(entry.name)
        else:
            found.setdefault(clip_id, entry)
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more"
                                           if len(unknown) > 10 else "")
        report.problem(f"{where}: {len(unknown)} clip(s) not in the annotation table, "
                       f"skipped: {shown}")
    return found


# -- one clip ------------------------------------------------------------------------------

def _place_video(workspace, clip_id: int, video: Path, report: ImportReport,
                 root: Path) -> tuple[str, float, str] | None:
    """Link the original into WS/clips; (relative path, duration, sha256) or None."""
    from dfew_build.media.fingerprint import file_sha256
    from dfew_build.media.probe import probe

    try:
        duration = probe(video).duration_s
    except ProbeError as exc:
        report.problem(f"{video.relative_to(root).as_posix()}: {exc}; clip "
                       f"{clip_name(clip_id)} imported without its video")
        return None
    relative = f"clips/{clip_name(clip_id)}{video.suffix.lower()}"
    target = Path(workspace.root) / relative
    report.files.add("original clips", place_file(video, target))
    return relative, duration, file_sha256(target)


def _place_frames(workspace, clip_id: int, folder: Path, report: ImportReport) -> int:
    frames = sorted_frames(folder)
    target = Path(workspace.frames_dir) / clip_name(clip_id)
    keep = set()
    for index, path in enumerate(frames, start=1):
        keep.add(frame_name(clip_id, index))
        report.files.add("aligned frames", place_file(path, target / frame_name(clip_id, index)))
    report.files.add("aligned frames", "removed", remove_stale(target, keep))
    return len(frames)


def _stored_counts(session, clip_id: int) -> tuple[int, ...]:
    counts = [0] * NUM_EMOTIONS
    for emotion, n in session.execute(select(Vote.emotion, func.count())
                                      .where(Vote.clip_id == clip_id).group_by(Vote.emotion)):
        counts[emotion - 1] = n
    return tuple(counts)


def _votes(row: AnnotationRow) -> list[int]:
    """The counts as one emotion per placeholder rater, in DFEW order."""
    return [code for code, n in enumerate(row.votes, start=1) for _ in range(n)]


def _import_clip(session, workspace, root: Path, row: AnnotationRow, raters: list[int],
                 video: Path | None, frames: Path | None, report: ImportReport) -> None:
    clip = session.get(Clip, row.clip_id)
    frame_count = _place_frames(workspace, row.clip_id, frames, report) if frames else 0
    placed = None
    if video is not None and (clip is None or clip.path is None):
        placed = _place_video(workspace, row.clip_id, video, report, root)
    if clip is None:
        if placed:
            path, duration, sha = placed
        else:
            path, sha = None, None
            duration = max(frame_count, 1) / ASSUMED_FPS
            if not frame_count:
                report.problem(f"clip {clip_name(row.clip_id)}: no original video and no "
                               f"aligned frames; duration unknown, stored as 1 frame at "
                               f"{ASSUMED_FPS:g} fps")
        session.add(Clip(id=row.clip_id, movie_id=None, start_s=0.0, end_s=duration,
                         duration_s=duration, path=path, sha256=sha, source="imported",
                         status="accepted"))
        session.flush()
        report.clips_added += 1
    else:
        report.clips_present += 1
        if placed:
            clip.path, clip.sha256 = placed[0], placed[2]
    stored = _stored_counts(session, row.clip_id)
    if not any(stored):
        votes = _votes(row)
        if votes:
            pairs = [{"clip_id": row.clip_id, "annotator_id": raters[i], "source": "imported"}
                     for i in range(len(votes))]
            session.execute(insert(Assignment), pairs)
            session.execute(insert(Vote), [{"clip_id": row.clip_id, "annotator_id": raters[i],
                                            "emotion": code} for i, code in enumerate(votes)])
            report.votes_added += len(votes)
    elif stored == row.votes:
        report.clips_votes_present += 1
    else:
        report.problem(f"clip {clip_name(row.clip_id)}: the workspace holds the votes "
                       f"{list(stored)}, the release {list(row.votes)} (annotation row "
                       f"{row.row}); left unchanged")
    if frame_count:
        track = session.scalar(select(FaceTrack).where(FaceTrack.clip_id == row.clip_id,
                                                       FaceTrack.detector == DETECTOR))
        if track is None:
            session.add(FaceTrack(clip_id=row.clip_id, detector=DETECTOR,
                                  frames_total=frame_count, frames_with_face=frame_count,
                                  face_rate=1.0, status="kept",
                                  storage=f"faces/frames/{clip_name(row.clip_id)}"))
            report.tracks_added += 1


def _raters(workspace, count: int) -> list[int]:
    with workspace.session() as session:
        ids = []
        for index in range(1, count + 1):
            person = session.scalar(select(Person).where(Person.name == rater_name(index)))
            if person is None:
                person = Person(name=rater_name(index), role="annotator", active=False)
                session.add(person)
                session.flush()
            ids.append(person.id)
    return ids


# -- labels and folds ----------------------------------------------------------------------

def _check_labels(rows: list[AnnotationRow], where: str, report: ImportReport) -> pd.Series:
    matrix = pd.DataFrame([r.votes for r in rows], columns=list(NAMES),
                          index=pd.Index([r.clip_id for r in rows], name="clip_id"))
    computed = single_labels(matrix, DEFAULT_THRESHOLD)
    for row in rows:
        mine = int(computed.get(row.clip_id, 0))
        if mine != row.label:
            report.label_disagreements += 1
            report.problem(Problem(where, row.row, f"clip {clip_name(row.clip_id)} has label "
                                   f"{row.label} but its votes {list(row.votes)} give "
                                   f"{mine} at threshold {DEFAULT_THRESHOLD} (0 = not "
                                   "single-labelled); the votes are stored"))
    return computed


def _read_folds(root: Path, known: set[int], computed: pd.Series,
                report: ImportReport) -> dict[int, int]:
    tests = split_files(root, TEST_DIR)
    if not tests:
        report.problem(f"{TEST_DIR.as_posix()}: no set_k.csv files; no folds stored")
        return {}
    fold_of: dict[int, int] = {}
    for fold, path in sorted(tests.items()):
        rows, problems = read_split(root, path)
        where = path.relative_to(root).as_posix()
        for row in rows:
            name = clip_name(row.clip_id)
            if row.clip_id not in known:
                problems.append(Problem(where, row.row, f"clip {name} is not in the annotation "
                                                        "table; no fold stored for it"))
            elif row.clip_id in fold_of and fold_of[row.clip_id] != fold:
                problems.append(Problem(where, row.row, f"clip {name} is also in test set "
                                                        f"{fold_of[row.clip_id]}; kept there"))
            else:
                fold_of[row.clip_id] = fold
                mine = int(computed.get(row.clip_id, 0))
                if mine != row.label:
                    report.label_disagreements += 1
                    problems.append(Problem(where, row.row, f"clip {name} has label "
                                                            f"{row.label} but its votes give "
                                                            f"{mine}"))
        for problem in sorted(problems, key=lambda p: p.row or 0):
            report.problem(problem)
    for fold, path in sorted(split_files(root, TRAIN_DIR).items()):
        rows, problems = read_split(root, path)
        where = path.relative_to(root).as_posix()
        for problem in problems:
            report.problem(problem)
        for row in rows:
            if row.clip_id in known and fold_of.get(row.clip_id) == fold:
                report.problem(Problem(where, row.row, f"clip {clip_name(row.clip_id)} is in "
                                                       f"both the train and the test set {fold}"))
    return fold_of


def _store_folds(workspace, fold_of: dict[int, int], present: set[int],
                 report: ImportReport) -> None:
    with workspace.session() as session:
        stored = dict(session.execute(select(Fold.clip_id, Fold.fold)
                                      .where(Fold.scheme == OFFICIAL_SCHEME)).all())
        for clip_id, fold in sorted(fold_of.items()):
            if clip_id not in present:
                continue
            if clip_id not in stored:
                session.add(Fold(clip_id=clip_id, scheme=OFFICIAL_SCHEME, fold=fold))
                report.folds_added += 1
            elif stored[clip_id] == fold:
                report.folds_present += 1
            else:
                report.problem(f"clip {clip_name(clip_id)}: scheme {OFFICIAL_SCHEME!r} already "
                               f"puts it in fold {stored[clip_id]}, the release in fold {fold}; "
                               "left unchanged")
    report.folds_k = max(fold_of.values(), default=0)


# -- 16-frame sets -------------------------------------------------------------------------

def _load_16f(folder: Path, root: Path, report: ImportReport) -> np.ndarray | None:
    import cv2

    frames = sorted_frames(folder)
    where = folder.relative_to(root).as_posix()
    if len(frames) != RELEASE_FRAMES:
        report.problem(f"{where}: {len(frames)} frames, expected {RELEASE_FRAMES}; not packed "
                       "into the tensor store")
        return None
    images = []
    for path in frames:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            report.problem(f"{where}/{path.name}: not a readable JPEG; clip not packed")
            return None
        if image.shape[:2] != (TENSOR_SIZES[0],) * 2:
            image = cv2.resize(image, (TENSOR_SIZES[0],) * 2, interpolation=cv2.INTER_AREA)
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return np.stack(images)


def _pack_16f(workspace, root: Path, folders: dict[int, Path], present: set[int],
              report: ImportReport, progress: bool) -> None:
    import cv2
    from tqdm import tqdm

    from dfew_build.faces.store import TensorStore

    stores = {size: TensorStore(workspace.tensors_dir, size, RELEASE_FRAMES)
              for size in TENSOR_SIZES}
    try:
        todo = [c for c in sorted(folders) if c in present
                and any(c not in store for store in stores.values())]
        for clip_id in tqdm(todo, desc="16-frame sets", unit="clip", disable=not progress):
            tensor = _load_16f(folders[clip_id], root, report)
            if tensor is None:
                continue
            for size, store in stores.items():
                if clip_id in store:
                    continue
                sized = tensor if size == TENSOR_SIZES[0] else np.stack(
                    [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in tensor])
                store.write(clip_id, sized, detector=DETECTOR, temporal="dfew-release",
                            source_frames=RELEASE_FRAMES)
                key = f"{size}px_{RELEASE_FRAMES}f"
                report.tensors_added[key] = report.tensors_added.get(key, 0) + 1
    finally:
        for store in stores.values():
            store.close()


# -- the import ----------------------------------------------------------------------------

def _check_workspace(workspace) -> set[int]:
    with workspace.session() as session:
        foreign = session.scalar(select(func.count()).select_from(Clip)
                                 .where(Clip.source != "imported"))
        if foreign:
            raise FormatError(
                f"the workspace {workspace.root} already holds {foreign} clip(s) that did not "
                "come from a DFEW release; import into a new workspace: dfew-build import-dfew "
                "ROOT --workspace-path NEW_FOLDER")
        return set(session.scalars(select(Clip.id)).all())


def _advance_postgres_sequence(workspace) -> None:
    """Explicit ids do not move PostgreSQL's serial sequence; later clips would collide."""
    if workspace.engine.dialect.name == "postgresql":
        with workspace.session() as session:
            session.execute(text("SELECT setval(pg_get_serial_sequence('clip', 'id'), "
                                 "COALESCE((SELECT MAX(id) FROM clip), 1))"))


def import_dfew(workspace, root: str | Path, *, progress: bool = False) -> ImportReport:
    from tqdm import tqdm

    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FormatError(f"{root} is not a folder; pass the root of a DFEW release (the folder "
                          "holding Clip/, EmoLabel_DataSplit/ and Annotation/)")
    rows, problems, table = read_annotation(root)
    report = ImportReport(root, annotation=table.relative_to(root).as_posix())
    for problem in problems:
        report.problem(problem)
    _check_workspace(workspace)
    known = {r.clip_id for r in rows}
    videos = _scan(root, ORIGINAL_DIR, known, report, files=True)
    aligned = _scan(root, FRAMES_DIR, known, report, files=False)
    sets_16f = _scan(root, FRAMES_16F_DIR, known, report, files=False)
    for what, found in (("no original video", videos), ("no aligned frames", aligned),
                        ("no 16-frame set", sets_16f)):
        lacking = sorted(known - set(found))
        if lacking and len(found):  # a wholly missing folder is already reported
            names = ", ".join(clip_name(c) for c in lacking[:10])
            more = f" and {len(lacking) - 10} more" if len(lacking) > 10 else ""
            report.problem(f"{len(lacking)} clip(s) with {what}: {names}{more}")
    raters = _raters(workspace, max([MIN_RATERS, *(sum(r.votes) for r in rows)]))

    for start in tqdm(range(0, len(rows), BATCH), desc="import dfew", unit="batch",
                      disable=not progress):
        with workspace.session() as session:
            for row in rows[start:start + BATCH]:
                _import_clip(session, workspace, root, row, raters, videos.get(row.clip_id),
                             aligned.get(row.clip_id), report)
    _advance_postgres_sequence(workspace)

    computed = _check_labels(rows, report.annotation, report)
    fold_of = _read_folds(root, known, computed, report)
    _store_folds(workspace, fold_of, known, report)
    if sets_16f:
        _pack_16f(workspace, root, sets_16f, known, report, progress)
    return report

