"""Writing a clip's frames into an export: aligned frames (linked or resized), named
`{clip:05d}_{i:05d}.jpg`, and 16-frame sets from the tensor store, named by the caller
(`{i}.jpg` in the release's clip_224x224_16f; zero-padded for list-file loaders, which sort
names as text)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from dfew_build.formats.layout import (Tally, encode_jpeg, frame_name, place_file, remove_stale,
                                       sorted_frames, write_bytes)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    import cv2

    if image.shape[:2] == (size, size):
        return image
    # Area averaging when shrinking (no aliasing), bicubic when enlarging.
    shrink = image.shape[0] > size or image.shape[1] > size
    return cv2.resize(image, (size, size),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def export_aligned(source: Path, clip_id: int, target: Path, size: int, tally: Tally,
                   kind: str = "aligned frames") -> int:
    """Every aligned frame of a clip into `target`; frames of another size are resized
    (a resized frame is redone only when its source is newer). Returns the frame count."""
    import cv2

    frames = sorted_frames(source)
    if not frames:
        return 0
    first = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED)
    resize = first is None or first.shape[:2] != (size, size)
    keep: set[str] = set()
    for index, path in enumerate(frames, start=1):
        name = frame_name(clip_id, index)
        keep.add(name)
        out = target / name
        if not resize:
            tally.add(kind, place_file(path, out))
        elif out.is_file() and out.stat().st_mtime >= path.stat().st_mtime:
            tally.add(kind, "skipped")
        else:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                tally.add(kind, "unreadable")
                continue
            tally.add(kind, write_bytes(out, encode_jpeg(_resize(image, size))))
    tally.add(kind, "removed", remove_stale(target, keep))
    return len(frames)


def export_tensor(tensor_rgb: np.ndarray, clip_id: int, target: Path, size: int | None,
                  tally: Tally, kind: str = "16-frame sets",
                  naming: Callable[[int, int], str] = frame_name) -> int:
    """A [T, H, W, 3] RGB tensor as T JPEGs (resized to `size` unless None), the i-th
    (1-based) named naming(clip_id, i). Each JPEG is re-encoded and compared, so identical
    files are left untouched; other JPEGs in `target` (an older naming) are removed."""
    import cv2

    keep: set[str] = set()
    for index, frame in enumerate(tensor_rgb, start=1):
        image = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR)
        if size is not None:
            image = _resize(image, size)
        name = naming(clip_id, index)
        keep.add(name)
        tally.add(kind, write_bytes(target / name, encode_jpeg(image)))
    tally.add(kind, "removed", remove_stale(target, keep))
    return len(tensor_rgb)
