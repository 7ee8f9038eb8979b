"""A synthetic DFEW release, written by the tests: tiny MP4s, JPEG frames, annotation table
and split CSVs laid out as DFEW ships them (docs/formats.md)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.videos import write_video

HEADER = ["1happy", "2sad", "3neutral", "4angry", "5surprise", "6disgust", "7fear", "order",
          "label"]


@dataclass
class ReleaseClip:
    clip_id: int
    votes: tuple[int, ...]
    label: int              # as the annotation table states it
    fold: int | None        # test set it is listed in (None: in no split)
    video: bool = True
    frames: int = 5         # aligned frames in Clip/clip_224x224 (0: no folder)
    frames_16f: bool = True


# Six clips: five single-labelled (>= 7 of 10 votes), one tie (label 0), in three folds.
STANDARD = (
    ReleaseClip(1, (8, 2, 0, 0, 0, 0, 0), 1, 1),
    ReleaseClip(2, (0, 7, 3, 0, 0, 0, 0), 2, 2),
    ReleaseClip(3, (0, 0, 5, 5, 0, 0, 0), 0, None),
    ReleaseClip(4, (0, 0, 0, 9, 0, 0, 1), 4, 3),
    ReleaseClip(5, (0, 0, 0, 0, 10, 0, 0), 5, 1),
    ReleaseClip(12, (0, 0, 0, 0, 0, 3, 7), 7, 2),
)


def face_image(clip_id: int, index: int, size: int = 224) -> np.ndarray:
    """A BGR image that differs per clip and frame (JPEG-friendly smooth content)."""
    y, x = np.mgrid[0:size, 0:size]
    base = (x * 0.5 + y * 0.25 + clip_id * 37 + index * 11) % 256
    return np.stack([base, (base + 60) % 256, (255 - base)], axis=-1).astype(np.uint8)


def write_clip_video(path: Path, clip_id: int, frames: int = 12, width: int = 64,
                     height: int = 48) -> Path:
    """An H.264 clip whose picture is the clip's own (blocks seeded by the clip id), so no two
    clips of a fixture are near-duplicates for the leakage check."""
    import av
    import cv2

    blocks = np.random.default_rng(1000 + clip_id).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    picture = cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            frame = np.clip(picture.astype(int) + i, 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frames(folder: Path, clip_id: int, count: int, size: int = 224,
                 names: str = "dfew") -> list[Path]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(1, count + 1):
        name = f"{clip_id:05d}_{i:05d}.jpg" if names == "dfew" else f"{i}.jpg"
        path = folder / name
        cv2.imwrite(str(path), face_image(clip_id, i, size))
        paths.append(path)
    return paths


def write_csv(path: Path, header: list[str] | None, rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def annotation_rows(clips) -> list[list[object]]:
    return [[*c.votes, f"{c.clip_id:05d}", c.label] for c in clips]


def write_splits(root: Path, clips, *, names: str = "padded") -> None:
    folds = sorted({c.fold for c in clips if c.fold is not None})
    for k in folds:
        def rows(members):
            return [[f"{c.clip_id:05d}" if names == "padded" else str(c.clip_id), c.label]
                    for c in members]
        write_csv(root / "EmoLabel_DataSplit" / "test(single-labeled)" / f"set_{k}.csv",
                  ["video_name", "label"], rows([c for c in clips if c.fold == k]))
        write_csv(root / "EmoLabel_DataSplit" / "train(single-labeled)" / f"set_{k}.csv",
                  ["video_name", "label"],
                  rows([c for c in clips if c.fold is not None and c.fold != k]))


def write_release(root: Path, clips=STANDARD, *, annotation: str = "csv",
                  splits: bool = True, video_frames: int = 48) -> Path:
    """The release folder; `annotation` is csv, xlsx or none."""
    root.mkdir(parents=True, exist_ok=True)
    for c in clips:
        name = f"{c.clip_id:05d}"
        if c.video:
            (root / "Clip" / "original").mkdir(parents=True, exist_ok=True)
            write_video(root / "Clip" / "original" / f"{name}.mp4", frames=video_frames,
                        width=64, height=48)
        if c.frames:
            write_frames(root / "Clip" / "clip_224x224" / name, c.clip_id, c.frames)
        if c.frames_16f:
            write_frames(root / "Clip" / "clip_224x224_16f" / name, c.clip_id + 100, 16)
    if annotation == "csv":
        write_csv(root / "Annotation" / "annotation.csv", HEADER, annotation_rows(clips))
    elif annotation == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        book.active.append(HEADER)
        for row in annotation_rows(clips):
            book.active.append([int(row[7]) if i == 7 else v for i, v in enumerate(row)])
        (root / "Annotation").mkdir(parents=True, exist_ok=True)
        book.save(root / "Annotation" / "annotation.xlsx")
    if splits:
        write_splits(root, clips)
    return root


# clip id -> (votes in DFEW order, cut?, face track status or None, frame size)
WORKSPACE_CLIPS = {
    1: ((8, 2, 0, 0, 0, 0, 0), True, "kept", 224),
    2: ((0, 7, 3, 0, 0, 0, 0), True, "kept", 224),
    3: ((0, 0, 5, 5, 0, 0, 0), True, "kept", 112),
    4: ((0, 0, 0, 9, 0, 0, 1), True, "dropped_low_face_rate", None),
    5: ((0, 0, 0, 0, 10, 0, 0), True, None, None),
    6: ((0, 0, 0, 0, 0, 3, 7), False, "kept", 224),
}
IN_STORE = (1, 2, 6)


def add_voted_clip(session, raters, clip_id: int, votes, path: str | None) -> None:
    """A 0.5 s clip row with votes[k] of the raters voting emotion code k+1 (each vote on
    an assignment, as the schema requires)."""
    from dfew_build.db.models import Assignment, Clip, Vote

    session.add(Clip(id=clip_id, start_s=0, end_s=0.5, duration_s=0.5, path=path))
    session.flush()
    emotions = [code for code, n in enumerate(votes, 1) for _ in range(n)]
    for rater, emotion in zip(raters, emotions):
        session.add(Assignment(clip_id=clip_id, annotator_id=rater.id))
        session.flush()
        session.add(Vote(clip_id=clip_id, annotator_id=rater.id, emotion=emotion))


def build_workspace(workspace, *, folds: bool = True) -> None:
    """Six voted clips in every state an export meets (see WORKSPACE_CLIPS), a 112px
    tensor store and a 2-fold scheme `default` made with --subset all --include-unprocessed."""
    from dfew_build.db.models import FaceTrack, Person
    from dfew_build.faces.store import TensorStore
    from dfew_build.splits import plan_folds, save_folds

    root = workspace.root
    with workspace.session() as session:
        raters = [Person(name=f"r{i}", role="annotator") for i in range(10)]
        session.add_all(raters)
        session.flush()
        for clip_id, (votes, cut, status, size) in WORKSPACE_CLIPS.items():
            path = None
            if cut:
                path = f"clips/{clip_id:05d}.mp4"
                write_clip_video(root / path, clip_id)
            add_voted_clip(session, raters, clip_id, votes, path)
            if status:
                storage = f"faces/frames/{clip_id:05d}" if status == "kept" else None
                if storage:
                    write_frames(root / storage, clip_id, 3, size=size)
                session.add(FaceTrack(clip_id=clip_id, detector="mtcnn", status=status,
                                      storage=storage, frames_total=3, frames_with_face=3,
                                      face_rate=1.0))
        store = TensorStore(workspace.tensors_dir, 112, 16)
        for clip_id in IN_STORE:
            tensor = np.stack([face_image(clip_id, i, 112)[:, :, ::-1] for i in range(16)])
            store.write(clip_id, np.ascontiguousarray(tensor))
        store.close()
        if folds:
            save_folds(session, plan_folds(session, k=2, seed=0, subset="all",
                                           require_kept=False))
