"""Where preprocessing results live on disk (DESIGN.md §4).

* ``WS/faces/frames/{clip:05d}/{clip:05d}_{i:05d}.jpg``: every kept aligned face (i is
  1-based over the kept frames), DFEW's naming. A clip's folder is written under a
  temporary name and renamed into place, so it is either complete or absent.
* ``WS/faces/tensors/{size}px_{T}f.npy``: uint8 [N, T, H, W, 3] in RGB order, opened as a
  memory map; ``{size}px_{T}f_index.csv`` (``row,clip_id,detector,temporal,
  source_frames``) says which clip each row holds. Only rows listed in the index are
  valid: the array keeps spare capacity. A row is written and flushed before its index
  line is appended, so an interrupted run leaves at worst an unlisted row, which the next
  run reuses (new clips take the lowest free row): no duplicates, no holes.

Readers call ``open_tensor_store``; the preprocess stage writes through ``TensorStore``.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Iterable

import numpy as np

from dfew_build.errors import FacesError
from dfew_build.tempfiles import remove_stale, temp_path

INDEX_COLUMNS = ("row", "clip_id", "detector", "temporal", "source_frames")
JPEG_QUALITY = 95
MIN_CAPACITY = 16


# -- aligned frames ------------------------------------------------------------------------

def clip_frames_dir(frames_root: Path, clip_id: int) -> Path:
    return Path(frames_root) / f"{clip_id:05d}"


def frame_name(clip_id: int, i: int) -> str:
    return f"{clip_id:05d}_{i:05d}.jpg"


def encode_jpeg(face_bgr: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    import cv2

    ok, data = cv2.imencode(".jpg", face_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise FacesError(f"OpenCV could not encode a {face_bgr.shape} face as JPEG")
    return data.tobytes()


def write_clip_frames(frames_root: Path, clip_id: int, faces_bgr: Iterable[np.ndarray],
                      quality: int = JPEG_QUALITY) -> Path:
    """Write a clip's aligned faces as JPEGs, replacing any earlier set atomically."""
    frames_root = Path(frames_root)
    target = clip_frames_dir(frames_root, clip_id)
    tag = f"{clip_id:05d}.{os.getpid()}"
    temp, old = frames_root / f".tmp-{tag}", frames_root / f".old-{tag}"
    try:
        frames_root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        for i, face in enumerate(faces_bgr, start=1):
            (temp / frame_name(clip_id, i)).write_bytes(encode_jpeg(face, quality))
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        temp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise FacesError(f"cannot write the aligned frames of clip {clip_id} to {target}: "
                         f"{exc.strerror or exc}") from None
    return target


def remove_stale_temporaries(frames_root: Path) -> int:
    """Folders left by an interrupted run (call only while holding the preprocess lock)."""
    removed = 0
    if Path(frames_root).is_dir():
        for entry in Path(frames_root).iterdir():
            if entry.is_dir() and entry.name.startswith((".tmp-", ".old-")):
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
    return removed


def remove_stale_store_temporaries(tensors_dir: Path) -> int:
    """Copies of a store or index that a killed run left (call only while holding the
    preprocess lock): pid-named ones whose writer is gone, and those of versions before
    pid names (``112px_16f.npy.tmp``; with the lock held, nobody is writing them)."""
    removed = len(remove_stale(tensors_dir))
    if Path(tensors_dir).is_dir():
        for path in Path(tensors_dir).glob("*px_*f*.tmp"):
            if not path.name.startswith("."):
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def read_clip_frames(frames_root: Path, clip_id: int) -> list[Path]:
    return sorted(clip_frames_dir(frames_root, clip_id).glob(f"{clip_id:05d}_*.jpg"))


# -- the tensor store ------------------------------------------------------------------------

def tensor_paths(tensors_dir: Path, size: int, frames: int) -> tuple[Path, Path]:
    stem = f"{size}px_{frames}f"
    return Path(tensors_dir) / f"{stem}.npy", Path(tensors_dir) / f"{stem}_index.csv"


def _complete_lines(data: bytes) -> list[str]:
    """The index's lines, without a torn last line (a write cut short has no newline)."""
    text = data.decode("utf-8")
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
    return [line for line in text.splitlines() if line.strip()]


def _parse_index(path: Path) -> list[dict]:
    try:
        lines = _complete_lines(path.read_bytes())
    except OSError as exc:
        raise FacesError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FacesError(f"{path} is not UTF-8 text; delete it and the .npy next to it, then "
                         "run `dfew-build preprocess` again") from None
    if not lines:
        return []
    header = lines[0].split(",")
    if header[:2] != ["row", "clip_id"]:
        raise FacesError(f"{path} line 1: the header must start with row,clip_id (got "
                         f"{lines[0]!r}); delete the file and the .npy next to it, then run "
                         "`dfew-build preprocess` again")
    entries, seen_rows, seen_clips = [], set(), set()
    for number, line in enumerate(lines[1:], start=2):
        values = line.split(",")
        entry = dict(zip(header, values))
        try:
            entry["row"], entry["clip_id"] = int(values[0]), int(values[1])
        except (ValueError, IndexError):
            raise FacesError(f"{path} line {number}: {line!r} does not start with two "
                             "integers (row, clip_id); fix or delete the line, then run "
                             "`dfew-build preprocess` again to redo the clip") from None
        if entry["row"] in seen_rows or entry["clip_id"] in seen_clips:
            raise FacesError(f"{path} line {number}: row {entry['row']} / clip "
                             f"{entry['clip_id']} is listed twice; delete the line, then "
                             "run `dfew-build preprocess` again to redo the clip")
        seen_rows.add(entry["row"])
        seen_clips.add(entry["clip_id"])
        entries.append(entry)
    return entries


def open_tensor_store(tensors_dir: str | os.PathLike, size: int = 112, frames: int = 16):
    """(array, index) for readers: a read-only uint8 memmap [capacity, T, H, W, 3] in RGB
    and a DataFrame with columns row, clip_id, ... (one line per stored clip). Use only the
    rows the index lists."""
    import pandas as pd

    npy, index_path = tensor_paths(Path(tensors_dir), size, frames)
    if not npy.is_file() or not index_path.is_file():
        raise FacesError(f"no {size}px {frames}-frame tensor store in {tensors_dir} "
                         f"({npy.name} and {index_path.name}); run `dfew-build preprocess "
                         f"--size {size} --frames {frames}` first")
    try:
        array = np.load(npy, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise FacesError(f"{npy} is not a readable .npy file ({exc}); delete it and its "
                         "index, then run `dfew-build preprocess` again") from None
    _check_shape(npy, array.shape, array.dtype, size, frames)
    entries = _parse_index(index_path)
    columns = list(INDEX_COLUMNS)
    for entry in entries:
        columns += [key for key in entry if key not in columns]
    index = pd.DataFrame(entries, columns=columns)
    index[["row", "clip_id"]] = index[["row", "clip_id"]].astype("int64")
    if "source_frames" in index:
        index["source_frames"] = pd.to_numeric(index["source_frames"], errors="coerce")
    if len(index) and index["row"].max() >= len(array):
        raise FacesError(f"{index_path} lists row {index['row'].max()} but {npy.name} holds "
                         f"{len(array)} rows; the store is damaged: delete both files and "
                         "run `dfew-build preprocess` again")
    return array, index


def _check_shape(path: Path, shape, dtype, size: int, frames: int) -> None:
    expected = (frames, size, size, 3)
    if dtype != np.uint8 or len(shape) != 5 or tuple(shape[1:]) != expected:
        raise FacesError(f"{path} holds {dtype} {tuple(shape)}, not uint8 [N, {frames}, "
                         f"{size}, {size}, 3]; delete it and its index, then run "
                         "`dfew-build preprocess` again")


class TensorStore:
    """The writer side of one ``{size}px_{T}f`` store. One writer at a time (the caller
    holds the preprocess lock)."""

    def __init__(self, tensors_dir: str | os.PathLike, size: int = 112, frames: int = 16):
        self.size, self.frames = size, frames
        self.npy_path, self.index_path = tensor_paths(Path(tensors_dir), size, frames)
        self._array: np.memmap | None = None
        self.entries: list[dict] = []
        self.rows: dict[int, int] = {}  # clip_id -> row
        self._load()

    # -- opening -------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            self.npy_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FacesError(f"cannot create {self.npy_path.parent}: {exc.strerror}") from None
        if self.index_path.is_file():
            self.entries = _parse_index(self.index_path)
            # Drop a torn last line for good, so appends start on a fresh line.
            self._rewrite_index()
        if self.npy_path.is_file():
            try:
                self._array = np.load(self.npy_path, mmap_mode="r+")
            except (OSError, ValueError) as exc:
                raise FacesError(f"{self.npy_path} is not a readable .npy file ({exc}); delete "
                                 "it and its index, then run `dfew-build preprocess` again") \
                    from None
            _check_shape(self.npy_path, self._array.shape, self._array.dtype, self.size,
                         self.frames)
        elif self.entries:
            raise FacesError(f"{self.index_path} lists {len(self.entries)} clips but "
                             f"{self.npy_path.name} is missing; delete the index and run "
                             "`dfew-build preprocess` again")
        self.rows = {e["clip_id"]: e["row"] for e in self.entries}
        if self.rows and max(self.rows.values()) >= self.capacity:
            raise FacesError(f"{self.index_path} lists row {max(self.rows.values())} but "
                             f"{self.npy_path.name} holds {self.capacity} rows; delete both "
                             "files and run `dfew-build preprocess` again")

    @property
    def capacity(self) -> int:
        return 0 if self._array is None else len(self._array)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, clip_id: int) -> bool:
        return clip_id in self.rows

    def entry(self, clip_id: int) -> dict | None:
        return next((e for e in self.entries if e["clip_id"] == clip_id), None)

    def _free_row(self) -> int:
        """The lowest row no clip holds: a row freed by remove() is reused first."""
        used = set(self.rows.values())
        return next(r for r in range(len(used) + 1) if r not in used)

    # -- capacity --------------------------------------------------------------------------

    def reserve(self, more: int) -> None:
        """Make room for `more` new rows (at least doubling, so growth is amortised)."""
        needed = max([len(self.rows) + more] + [r + 1 for r in self.rows.values()])
        if needed <= self.capacity:
            return
        new_capacity = max(needed, 2 * self.capacity, MIN_CAPACITY)
        shape = (new_capacity, self.frames, self.size, self.size, 3)
        try:
            if self._array is None:
                self._array = np.lib.format.open_memmap(self.npy_path, mode="w+",
                                                        dtype=np.uint8, shape=shape)
            else:
                self._grow(shape)
        except OSError as exc:
            raise FacesError(f"cannot grow {self.npy_path} to {new_capacity} rows: "
                             f"{exc.strerror or exc}") from None

    def _grow(self, shape: tuple[int, ...]) -> None:
        """Extend the file, then rewrite the header's shape in place (numpy leaves room for
        it). Until the header changes, readers see the old, still valid, shape."""
        offset = self._array.offset
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                     "fortran_order": False, "shape": shape})
        self._array.flush()
        self._array = None
        if len(header.getvalue()) == offset:
            with open(self.npy_path, "r+b") as handle:
                handle.truncate(offset + int(np.prod(shape)))
                handle.flush()
                os.fsync(handle.fileno())
                handle.seek(0)
                handle.write(header.getvalue())
                handle.flush()
                os.fsync(handle.fileno())
        else:  # an old-style header without room: copy into a new file, then swap
            temp = temp_path(self.npy_path)
            old = np.load(self.npy_path, mmap_mode="r")
            new = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=shape)
            new[:len(old)] = old
            new.flush()
            del new, old
            os.replace(temp, self.npy_path)
        self._array = np.load(self.npy_path, mmap_mode="r+")

    # -- writing ---------------------------------------------------------------------------

    def write(self, clip_id: int, tensor_rgb: np.ndarray, **extra) -> int:
        """Store one clip's [T, H, W, 3] uint8 RGB tensor; returns its row. A clip already
        in the store keeps its row and is overwritten."""
        expected = (self.frames, self.size, self.size, 3)
        if tensor_rgb.shape != expected or tensor_rgb.dtype != np.uint8:
            raise FacesError(f"clip {clip_id}: tensor {tensor_rgb.dtype} {tensor_rgb.shape} "
                             f"does not fit the store (uint8 {expected})")
        row = self.rows.get(clip_id)
        new = row is None
        if new:
            self.reserve(1)
            row = self._free_row()
        self._array[row] = tensor_rgb
        self._array.flush()
        entry = {"row": row, "clip_id": clip_id, **{k: extra.get(k, "") for k in
                                                     INDEX_COLUMNS[2:]}}
        if new:
            self._append_index(entry)
            self.entries.append(entry)
            self.rows[clip_id] = row
        else:
            self.entries = [entry if e["clip_id"] == clip_id else e for e in self.entries]
            self._rewrite_index()
        return row

    def remove(self, clip_id: int) -> None:
        """Unlist a clip; its row is reused by the next write."""
        if self.rows.pop(clip_id, None) is not None:
            self.entries = [e for e in self.entries if e["clip_id"] != clip_id]
            self._rewrite_index()

    def _line(self, entry: dict) -> str:
        return ",".join(str(entry.get(c, "")) for c in INDEX_COLUMNS) + "\n"

    def _append_index(self, entry: dict) -> None:
        fresh = not self.index_path.exists()
        data = ((",".join(INDEX_COLUMNS) + "\n") if fresh else "") + self._line(entry)
        try:
            fd = os.open(self.index_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise FacesError(f"cannot append to {self.index_path}: {exc.strerror}") from None

    def _rewrite_index(self) -> None:
        temp = temp_path(self.index_path)
        text = ",".join(INDEX_COLUMNS) + "\n" + "".join(self._line(e) for e in self.entries)
        try:
            with open(temp, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.index_path)
        except OSError as exc:
            raise FacesError(f"cannot write {self.index_path}: {exc.strerror}") from None

    def read(self, clip_id: int) -> np.ndarray:
        row = self.rows.get(clip_id)
        if row is None:
            raise FacesError(f"clip {clip_id} is not in {self.npy_path.name}")
        return np.array(self._array[row])

    def close(self) -> None:
        if self._array is not None:
            self._array.flush()
            self._array = None
