"""The face tensor store as the interop code sees it: which stores exist, and clip -> row.

The store itself (format, atomic growth, the index) belongs to dfew_build.faces.store;
this module only picks a store and reads rows through `open_tensor_store`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfew_build.faces.store import open_tensor_store, tensor_paths

_STORE_NAME = re.compile(r"^(\d+)px_(\d+)f\.npy$")


def available_sizes(tensors_dir: Path, frames: int) -> list[int]:
    """Sizes of the stores with `frames` frames per clip (both files present), ascending."""
    sizes = []
    if Path(tensors_dir).is_dir():
        for path in Path(tensors_dir).iterdir():
            match = _STORE_NAME.match(path.name)
            if match and int(match.group(2)) == frames:
                size = int(match.group(1))
                if tensor_paths(Path(tensors_dir), size, frames)[1].is_file():
                    sizes.append(size)
    return sorted(sizes)


@dataclass
class StoreView:
    array: np.ndarray         # read-only memmap [capacity, T, H, W, 3] RGB
    rows: dict[int, int]      # clip_id -> row, only the valid rows
    size: int
    frames: int

    def clip(self, clip_id: int) -> np.ndarray:
        return np.asarray(self.array[self.rows[clip_id]])


def open_view(tensors_dir: Path, size: int, frames: int) -> StoreView | None:
    if size not in available_sizes(tensors_dir, frames):
        return None
    array, index = open_tensor_store(tensors_dir, size, frames)
    rows = {int(c): int(r) for c, r in zip(index["clip_id"], index["row"])}
    return StoreView(array, rows, size, frames)


def best_view(tensors_dir: Path, frames: int, preferred: int) -> StoreView | None:
    """The store at the preferred size, else the largest (callers resize), else None."""
    sizes = available_sizes(tensors_dir, frames)
    if not sizes:
        return None
    return open_view(tensors_dir, preferred if preferred in sizes else sizes[-1], frames)
