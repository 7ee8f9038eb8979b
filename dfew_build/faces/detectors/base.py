"""The detector interface every face detector implements (DESIGN.md §7).

Frames go in as a batch of HxWx3 uint8 BGR arrays (OpenCV's order); out comes one
FrameFaces per frame, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

# Landmark order, as insightface and the ArcFace template use it (image left/right):
# left eye, right eye, nose tip, left mouth corner, right mouth corner.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class FrameFaces:
    """The faces found in one frame, best score first."""

    boxes: np.ndarray      # float32 [K, 4]: x1, y1, x2, y2 in pixels
    scores: np.ndarray     # float32 [K]
    landmarks: np.ndarray  # float32 [K, 5, 2]: x, y in pixels, LANDMARK_NAMES order

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> "FrameFaces":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                   np.zeros((0, 5, 2), np.float32))


class FaceDetector(Protocol):
    name: str  # stored in face_track.detector, e.g. "mtcnn" or "insightface:buffalo_l"

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameFaces]:
        """Faces in each frame of a batch (frames may differ in size)."""
        ...
