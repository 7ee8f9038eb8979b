"""SCRFD (Guo et al. 2021), the detector of insightface's model packs, on onnxruntime.

Frames are letterboxed into the model's input (640x640 unless the model fixes it): scaled
to fit, padded right/bottom with black. The nets output, per feature stride (8, 16, 32
or 8 ... 128) and in that order, face scores, then box distances (left, top, right,
bottom), then five landmark offsets, all in stride units from anchor centres laid out
row by row with ``num_anchors`` anchors per cell. Input is RGB scaled by (x - 127.5) / 128.
The insightface package is not needed; its model files are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from dfew_build.errors import DetectorError
from dfew_build.faces.detectors.base import FrameFaces, as_bgr
from dfew_build.faces.detectors.boxes import nms
from dfew_build.faces.detectors.runtime import (check_device, check_number, check_threads,
                                                create_session, uses_cuda)

# Output count -> (feature strides, anchors per cell, has landmarks), as insightface reads it.
LAYOUTS = {
    6: ((8, 16, 32), 2, False),
    9: ((8, 16, 32), 2, True),
    10: ((8, 16, 32, 64, 128), 1, False),
    15: ((8, 16, 32, 64, 128), 1, True),
}
MAX_BATCH = 16


def _input_size(value) -> tuple[int, int]:
    try:
        width, height = (value, value) if isinstance(value, int) else (int(v) for v in value)
    except (TypeError, ValueError):
        raise DetectorError(f"input_size must be an int or (width, height), got {value!r}")
    if width < 32 or height < 32 or width % 32 or height % 32:
        raise DetectorError(f"input_size must be multiples of 32 (e.g. 640), got {value!r}")
    return width, height


class ScrfdDetector:
    """Batched SCRFD on onnxruntime from one detection .onnx (e.g. buffalo_l/det_10g.onnx).

    score_threshold: the face score a detection must reach (insightface uses 0.5).
    nms_threshold: IoU above which the lower-scored of two boxes is dropped.
    input_size: the letterbox (width, height) for models without a fixed input size.
    """

    def __init__(self, model_path: str | Path, *, device: str = "cpu",
                 threads: int | None = None, score_threshold: float = 0.5,
                 nms_threshold: float = 0.4, input_size=(640, 640)):
        check_device(device)
        threads = check_threads(threads)
        score_threshold = check_number("score_threshold", score_threshold, 0, 1)
        nms_threshold = check_number("nms_threshold", nms_threshold, 0, 1, low_open=True)
        self.model_path = Path(model_path)
        self.name = f"insightface:{self.model_path.stem}"
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self._session = create_session(self.model_path, device, threads)
        self.device = "cuda" if uses_cuda(self._session) else "cpu"
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        if len(shape) != 4 or len(outputs) not in LAYOUTS:
            raise DetectorError(
                f"{self.model_path} is not an SCRFD face detector (inputs "
                f"{[i.shape for i in inputs]}, {len(outputs)} outputs; expected one "
                "[N,3,H,W] input and 6, 9, 10 or 15 outputs); pass a pack's det_*.onnx")
        self.strides, self.num_anchors, has_landmarks = LAYOUTS[len(outputs)]
        if not has_landmarks:
            raise DetectorError(f"{self.model_path} detects faces without the 5 landmarks "
                                "alignment needs; use a *kps model such as buffalo_l/det_10g.onnx")
        self._input_name = inputs[0].name
        self._output_names = [o.name for o in outputs]
        if isinstance(shape[2], int) and isinstance(shape[3], int):
            self.input_size = (shape[3], shape[2])
        else:
            self.input_size = _input_size(input_size)
        self._batch = 1 if isinstance(shape[0], int) else MAX_BATCH
        self._centres: dict[int, np.ndarray] = {}

    def __repr__(self) -> str:
        return (f"ScrfdDetector({str(self.model_path)!r}, device={self.device!r}, "
                f"input_size={self.input_size}, score_threshold={self.score_threshold})")

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameFaces]:
        frames = [as_bgr(frame, i) for i, frame in enumerate(frames)]
        result = []
        for start in range(0, len(frames), self._batch):
            result.extend(self._detect_batch(frames[start:start + self._batch]))
        return result

    def _letterbox(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        width, height = self.input_size
        h, w = frame.shape[:2]
        if h == 0 or w == 0:
            return np.zeros((height, width, 3), np.uint8), 1.0
        scale = min(width / w, height / h)
        new_w, new_h = max(1, min(width, int(w * scale))), max(1, min(height, int(h * scale)))
        canvas = np.zeros((height, width, 3), np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(frame, (new_w, new_h))
        return canvas, new_h / h

    def _anchor_centres(self, stride: int) -> np.ndarray:
        if stride not in self._centres:
            width, height = self.input_size
            ys, xs = np.mgrid[:height // stride, :width // stride]
            centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            self._centres[stride] = np.repeat(centres, self.num_anchors, axis=0)
        return self._centres[stride]

    def _detect_batch(self, frames: list[np.ndarray]) -> list[FrameFaces]:
        canvases, scales = zip(*(self._letterbox(f) for f in frames))
        batch = np.stack(canvases)[..., ::-1].transpose(0, 3, 1, 2)  # BGR NHWC -> RGB NCHW
        blob = (batch.astype(np.float32) - np.float32(127.5)) / np.float32(128.0)
        outs = self._session.run(self._output_names, {self._input_name: blob})
        n, levels = len(frames), len(self.strides)
        frame_idx, boxes, scores, points = [], [], [], []
        for level, stride in enumerate(self.strides):
            centres = self._anchor_centres(stride)
            score = self._per_frame(outs[level], n, len(centres), 1)[..., 0]
            dist = self._per_frame(outs[level + levels], n, len(centres), 4) * stride
            kps = self._per_frame(outs[level + 2 * levels], n, len(centres), 10) * stride
            f, a = np.nonzero(score >= self.score_threshold)
            c = centres[a]
            d = dist[f, a]
            boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
            points.append(c[:, None, :] + kps[f, a].reshape(-1, 5, 2))
            scores.append(score[f, a])
            frame_idx.append(f)
        frame_idx, boxes = np.concatenate(frame_idx), np.concatenate(boxes)
        scores, points = np.concatenate(scores), np.concatenate(points)
        # Back to each frame's pixels.
        frame_scale = np.asarray(scales, np.float64)[frame_idx]
        boxes = boxes / frame_scale[:, None]
        points = points / frame_scale[:, None, None]
        keep = nms(boxes, scores, self.nms_threshold, "union", groups=frame_idx)
        result = [FrameFaces.empty() for _ in frames]
        for f in range(n):
            mine = keep[frame_idx[keep] == f]  # nms keeps best first
            if len(mine) == 0:
                continue
            result[f] = FrameFaces.inside(frames[f], boxes[mine], scores[mine], points[mine])
        return result

    def _per_frame(self, out: np.ndarray, n: int, anchors: int, width: int) -> np.ndarray:
        """An output as [frames, anchors, width], whether the export kept the batch axis
        ([N, A, C]) or flattened it into the rows ([N*A, C])."""
        if out.size != n * anchors * width:
            raise DetectorError(
                f"{self.model_path}: an output has shape {list(out.shape)}, expected "
                f"{n * anchors * width} values for {n} frame(s) at input size "
                f"{self.input_size}; is this an SCRFD model?")
        return out.reshape(n, anchors, width).astype(np.float32, copy=False)
