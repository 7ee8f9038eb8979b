"""Vectorised box operations shared by the detectors (x1, y1, x2, y2 in pixels).

Areas count pixels inclusively (``x2 - x1 + 1``), as MTCNN and insightface's NMS both do.
"""

from __future__ import annotations

import numpy as np


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union",
        groups: np.ndarray | None = None) -> np.ndarray:
    """Indices of the boxes greedy non-maximum suppression keeps, best score first.

    boxes: [N, >=4] (x1, y1, x2, y2), inclusive pixel edges; scores: [N]; threshold: the
    overlap above which the lower-scored box is dropped. ``mode`` "union" compares
    intersection over union (OpenCV's ``cv2.dnn.NMSBoxes``/``NMSBoxesBatched``), "min"
    intersection over the smaller box (MTCNN's last stage; a few boxes, numpy). With
    ``groups`` (e.g. the frame index of each box) boxes of different groups never
    suppress one another, so one call handles a whole batch of frames. Ties keep the
    input order. Returns int64 [K].
    """
    if len(boxes) == 0:
        return np.zeros((0,), np.int64)
    boxes = np.asarray(boxes, np.float64)[:, :4]
    if mode == "union":
        return _nms_opencv(boxes, scores, threshold, groups)
    if groups is not None and len(groups):
        span = float(np.abs(boxes).max()) * 2 + 2
        boxes = boxes + (np.asarray(groups, np.float64) * span)[:, None]
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        if mode == "min":
            overlap = inter / np.minimum(areas[i], areas[rest])
        else:
            raise ValueError(f"unknown NMS mode {mode!r}; use union or min")
        order = rest[overlap <= threshold]
    return np.asarray(keep, np.int64)


def _nms_opencv(boxes: np.ndarray, scores, threshold: float, groups) -> np.ndarray:
    import cv2

    # Inclusive edges as OpenCV rects: width x2 - x1 + 1 gives the same areas and overlaps.
    rects = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0] + 1,
                      boxes[:, 3] - boxes[:, 1] + 1], axis=1)
    # OpenCV takes float32 scores above a threshold >= 0: dense ranks (1..n) keep the
    # order and the ties of any float64 scores exactly, and are all above 0.
    ranks = np.unique(np.asarray(scores, np.float64), return_inverse=True)[1].reshape(-1)
    ranks = (ranks + 1).astype(np.float32)
    if groups is None:
        keep = cv2.dnn.NMSBoxes(rects, ranks, 0.0, float(threshold))
    else:
        keep = cv2.dnn.NMSBoxesBatched(rects, ranks, np.asarray(groups, np.int32), 0.0,
                                       float(threshold))
    return np.asarray(keep, np.int64).reshape(-1)


def square(boxes: np.ndarray) -> np.ndarray:
    """Boxes grown to squares around the same centre (side = the longer side)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of boxes a [N,4] and b [M,4] -> [N,M] (edge areas)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
