"""The detector interface every face detector implements (DESIGN.md §7).

Frames go in as a batch of HxWx3 uint8 BGR arrays (OpenCV's order); out comes one
FrameFaces per frame, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from dfew_build.errors import DetectorError

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
    def inside(cls, frame: np.ndarray, boxes, scores, landmarks) -> "FrameFaces":
        """Detections of one frame as float32, boxes clipped to the frame's edges."""
        height, width = frame.shape[:2]
        boxes = np.array(boxes, dtype=np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        return cls(boxes, np.asarray(scores, np.float32), np.asarray(landmarks, np.float32))

    @classmethod
    def empty(cls) -> "FrameFaces":
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32),
                   np.zeros((0, 5, 2), np.float32))


class FaceDetector(Protocol):
    name: str  # stored in face_track.detector, e.g. "mtcnn" or "insightface:buffalo_l"

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameFaces]:
        """Faces in each frame of a batch (frames may differ in size)."""
        ...


def as_bgr(frame, index: int = 0) -> np.ndarray:
    """One frame as a contiguous HxWx3 uint8 BGR array.

    Grayscale (HxW or HxWx1) and BGRA (HxWx4) frames are converted; anything that is not
    an 8-bit image raises DetectorError naming the frame's position in the batch.
    """
    if not isinstance(frame, np.ndarray):
        raise DetectorError(f"frame {index}: expected a numpy image array, "
                            f"got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise DetectorError(f"frame {index}: expected uint8 pixels, got {frame.dtype}; "
                            "convert it first, e.g. np.clip(frame, 0, 255).astype(np.uint8)")
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[:, :, 0]
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise DetectorError(f"frame {index}: expected an HxW, HxWx3 (BGR) or HxWx4 (BGRA) "
                            f"image, got shape {tuple(frame.shape)}")
    if frame.shape[2] == 4:
        frame = frame[:, :, :3]
    return np.ascontiguousarray(frame)
