"""Protagonist tracking (DESIGN.md §7): link detections across frames by IoU into tracks and
keep the track with the most face frames (ties: the larger mean box area).

Linking is greedy per frame: each detection joins the live track whose last box overlaps
it most (IoU >= min_iou), best pairs first; a track survives up to max_gap frames without
a detection, so one missed frame or a blink does not split the protagonist in two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

MIN_IOU = 0.3
MAX_GAP = 5


@dataclass
class Track:
    """One face followed through a clip: frame index -> detection index in that frame."""

    frames: list[int] = field(default_factory=list)
    detections: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def mean_area(self) -> float:
        boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        if not len(boxes):
            return 0.0
        return float(np.mean((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))

    def add(self, frame: int, detection: int, box: np.ndarray) -> None:
        self.frames.append(frame)
        self.detections.append(detection)
        self.boxes.append(np.asarray(box, np.float64))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a [M,4] against every box in b [N,4] (x1, y1, x2, y2)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def link_tracks(boxes_per_frame: Sequence[np.ndarray], *, min_iou: float = MIN_IOU,
                max_gap: int = MAX_GAP) -> list[Track]:
    """Every track in the clip, in order of creation. boxes_per_frame[i] is [K_i, 4]."""
    tracks: list[Track] = []
    live: list[int] = []  # indices into tracks that may still be extended
    for frame, boxes in enumerate(boxes_per_frame):
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        live = [t for t in live if frame - tracks[t].frames[-1] <= max_gap + 1]
        unmatched = set(range(len(boxes)))
        if live and len(boxes):
            last = np.stack([tracks[t].boxes[-1] for t in live])
            overlap = iou_matrix(last, boxes)
            used_tracks: set[int] = set()
            # Best overlaps first: the pairing does not depend on detection order.
            for flat in np.argsort(-overlap, axis=None, kind="stable"):
                row, col = divmod(int(flat), len(boxes))
                if overlap[row, col] < min_iou:
                    break
                if row in used_tracks or col not in unmatched:
                    continue
                tracks[live[row]].add(frame, col, boxes[col])
                used_tracks.add(row)
                unmatched.discard(col)
        for col in sorted(unmatched):
            track = Track()
            track.add(frame, col, boxes[col])
            tracks.append(track)
            live.append(len(tracks) - 1)
    return tracks


def protagonist(tracks: Sequence[Track]) -> Track | None:
    """The track with the most frames; ties go to the larger mean box area, then the
    earlier track. None when there is no track (no face in the clip)."""
    best: Track | None = None
    for track in tracks:
        if best is None or (len(track), track.mean_area) > (len(best), best.mean_area):
            best = track
    return best
