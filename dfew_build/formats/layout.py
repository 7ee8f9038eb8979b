"""The DFEW release layout: paths, clip and frame names, and idempotent file placement.

Files are hard-linked when source and target share a file system (no extra disk space, and
a re-run sees the same inode and skips it), copied otherwise. Every write goes to a
temporary file in the target folder first and is then renamed, so an interrupted export
never leaves a half-written file under its final name.
"""

from __future__ import annotations

import csv
import errno
import filecmp
import io
import os
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from dfew_build.emotions import EMOTIONS
from dfew_build.tempfiles import pid_alive, temp_path, writer_pid

ORIGINAL_DIR = Path("Clip", "original")
FRAMES_DIR = Path("Clip", "clip_224x224")
FRAMES_16F_DIR = Path("Clip", "clip_224x224_16f")
SPLIT_DIR = Path("EmoLabel_DataSplit")
TRAIN_DIR = SPLIT_DIR / "train(single-labeled)"
TEST_DIR = SPLIT_DIR / "test(single-labeled)"
# Folds made with `folds --subset all` also hold clips that are not single-labelled; they are
# listed (with their plurality vote) only here, so the "(single-labeled)" folders stay true.
TRAIN_PLURALITY_DIR = SPLIT_DIR / "train(plurality-labeled)"
TEST_PLURALITY_DIR = SPLIT_DIR / "test(plurality-labeled)"
ANNOTATION_DIR = Path("Annotation")
ANNOTATION_CSV = ANNOTATION_DIR / "annotation.csv"
ANNOTATION_XLSX = ANNOTATION_DIR / "annotation.xlsx"
ANNOTATION_SHEET = "Sheet1"  # public DFEW loaders: pandas.read_excel(..., sheet_name="Sheet1")
# Former-DFER and DFER-CLIP read ./annotation/DFEW_set_{k}_{train,test}.txt from their
# checkout (dataloader/dataset_DFEW.py, main.py). Former-DFER's 2021 loader kept only lines
# whose frame count is at least LOADER_MIN_FRAMES; DFER-CLIP pads shorter clips.
LIST_DIR = Path("annotation")
LOADER_MIN_FRAMES = 16

RELEASE_SIZE = 224          # DFEW's aligned faces are 224 x 224
RELEASE_FRAMES = 16         # frames per clip after TIM
NAME_WIDTH = 5              # DFEW names clips 00001 .. 16372
SPLIT_HEADER = ("video_name", "label")
# DFEW's README: each row holds the 7 votes (DFEW order), the clip name, the label (0 = not
# single-labelled). Column names as in annotation.xlsx; `order` is the clip-name column.
VOTE_COLUMNS = tuple(f"{e.code}{e.name}" for e in EMOTIONS)
ANNOTATION_HEADER = (*VOTE_COLUMNS, "order", "label")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
JPEG_QUALITY = 95

_TRAILING_NUMBER = re.compile(r"(\d+)$")


def clip_name(clip_id: int) -> str:
    """DFEW's clip name: the clip number zero-padded to five digits."""
    return f"{int(clip_id):0{NAME_WIDTH}d}"


def frame_name(clip_id: int, index: int) -> str:
    """The i-th (1-based) frame of a clip, `{clip:05d}_{i:05d}.jpg` as DFEW names them."""
    return f"{clip_name(clip_id)}_{index:05d}.jpg"


def frame_16f_name(clip_id: int, index: int) -> str:
    """The i-th (1-based) of the 16 TIM frames, `{i}.jpg` as the release names them in
    Clip/clip_224x224_16f (loaders address them by index: f"{i}.jpg")."""
    return f"{index}.jpg"


def list_name(fold: int, part: str) -> Path:
    """A Former-DFER / DFER-CLIP list file relative to the export:
    annotation/DFEW_set_{fold}_{part}.txt (part: train or test)."""
    return LIST_DIR / f"DFEW_set_{int(fold)}_{part}.txt"


def parse_clip_name(text: object) -> int | None:
    """A clip number from a release cell: `00012`, `12`, `12.0` (spreadsheets), `00012.mp4`."""
    value = str(text).strip()
    for suffix in VIDEO_SUFFIXES:
        if value.lower().endswith(suffix):
            value = value[:-len(suffix)]
    if value.endswith(".0"):
        value = value[:-2]
    return int(value) if value.isdigit() and int(value) > 0 else None


def frame_number(path: Path) -> int | None:
    """The frame's position from the number that ends its name (00012_00007.jpg, 7.jpg)."""
    match = _TRAILING_NUMBER.search(path.stem)
    return int(match.group(1)) if match else None


def sorted_frames(folder: Path) -> list[Path]:
    """The JPEG frames of a clip folder in temporal order (numerically, not as text: 10 > 9)."""
    if not folder.is_dir():
        return []
    frames = [p for p in folder.iterdir()
              if p.suffix.lower() in (".jpg", ".jpeg") and not p.name.startswith(".")]
    return sorted(frames, key=lambda p: (frame_number(p) is None, frame_number(p) or 0, p.name))


class Tally:
    """What happened to the files of each kind (linked, copied, written, skipped)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {}

    def add(self, kind: str, outcome: str, n: int = 1) -> None:
        if n:
            self.counts.setdefault(kind, Counter())[outcome] += n

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {kind: dict(sorted(c.items())) for kind, c in self.counts.items()}


def _temporary(target: Path) -> Path:
    return temp_path(target)


def _same_content(a: Path, b: Path) -> bool:
    try:
        if os.path.samefile(a, b):
            return True
        return a.stat().st_size == b.stat().st_size and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


# Link failures that mean "this file system cannot link here": copy instead.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES,
            getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)}


def place_file(source: Path, target: Path) -> str:
    """Put `source` at `target`: `skipped` when target already holds the same bytes, else
    `linked` (hard link) or `copied` (other file system, or links not allowed)."""
    if target.exists():
        if _same_content(source, target):
            return "skipped"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(target)
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
        outcome = "linked"
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        shutil.copyfile(source, temporary)
        outcome = "copied"
    os.replace(temporary, target)
    return outcome


def write_bytes(target: Path, data: bytes) -> str:
    """Write atomically; `skipped` when the file already holds exactly these bytes."""
    try:
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return "skipped"
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(target)
    temporary.write_bytes(data)
    os.replace(temporary, target)
    return "written"


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def encode_jpeg(image_bgr) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise ValueError("OpenCV could not encode a JPEG")
    return data.tobytes()


def remove_stale(folder: Path, keep: set[str]) -> int:
    """Delete JPEGs in an exported clip folder that the current export does not hold, and
    the temporaries a killed export left there (their writer pid gone; not counted)."""
    removed = 0
    if folder.is_dir():
        for path in folder.iterdir():
            if path.suffix.lower() in (".jpg", ".jpeg") and path.name not in keep:
                path.unlink()
                removed += 1
            elif (pid := writer_pid(path.name)) is not None and not pid_alive(pid):
                path.unlink(missing_ok=True)
    return removed
