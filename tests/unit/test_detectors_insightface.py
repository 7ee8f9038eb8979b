"""The insightface (SCRFD) detector: model pack lookup, its errors, and decoding end to end.

No real pack can be downloaded here, so the decoding is checked with small ONNX models
built on the spot with SCRFD's signature (one [N,3,H,W] input; scores, box distances and
landmark offsets per stride). Their stride-16 score is high exactly on white 16x16 cells
and zero elsewhere; distances and offsets are constants, so every decoded box and point
is known in advance.
"""

from __future__ import annotations

import numpy as np
import pytest

from dfew_build.errors import DetectorError
from dfew_build.faces.detectors import create_detector
from dfew_build.faces.detectors.packs import PACK_URL

import onnx  # the [test] extra installs it
from onnx import TensorProto, helper

DISTANCES = [0.5, 1.0, 1.5, 2.0]  # left, top, right, bottom, in stride units
OFFSETS = [-1.0, -0.5, 1.0, -0.5, 0.0, 0.25, -0.75, 1.0, 0.75, 1.0]  # 5 x (dx, dy)
FIRING_STRIDE = 16


def build_scrfd(path, *, batch_axis=True, fixed_input=None, kps=True, anchors=2):
    """Write a stand-in SCRFD .onnx (strides 8/16/32) to path and return it."""
    strides = (8, 16, 32)
    nodes, outputs = [], {"score": [], "bbox": [], "kps": []}
    batch, height, width = ("N", "H", "W") if fixed_input is None else (1, *fixed_input[::-1])
    const = helper.make_tensor
    for s in strides:
        n = f"s{s}"
        nodes += [
            helper.make_node("AveragePool", ["input.1"], [f"{n}_pool"],
                             kernel_shape=[s, s], strides=[s, s]),
            helper.make_node("ReduceMean", [f"{n}_pool"], [f"{n}_mean"], axes=[1], keepdims=1),
            # (mean - 0.5) * 40 -> ~+20 on white cells, ~-60 on black ones
            helper.make_node("Sub", [f"{n}_mean", "half"], [f"{n}_centred"]),
            helper.make_node("Mul", [f"{n}_centred", "gain"], [f"{n}_logit"]),
            helper.make_node("Sigmoid", [f"{n}_logit"], [f"{n}_sig"]),
            helper.make_node("Mul", [f"{n}_sig", "on" if s == FIRING_STRIDE else "off"],
                             [f"{n}_score_map"]),
            helper.make_node("Mul", [f"{n}_mean", "off"], [f"{n}_zero"]),
        ]
        heads = [("score", f"{n}_score_map", None), ("bbox", f"{n}_zero", "dist"),
                 ("kps", f"{n}_zero", "offs")]
        for head, source, constant in heads:
            if head == "kps" and not kps:
                continue
            values = source
            if constant is not None:  # a [N,C,h,w] map of constants
                nodes.append(helper.make_node("Add", [source, constant], [f"{n}_{head}_map"]))
                values = f"{n}_{head}_map"
            channels = {"score": 1, "bbox": 4, "kps": 10}[head]
            nodes.append(helper.make_node("Transpose", [values], [f"{n}_{head}_nhwc"],
                                          perm=[0, 2, 3, 1]))
            nodes.append(helper.make_node("Concat", [f"{n}_{head}_nhwc"] * anchors,
                                          [f"{n}_{head}_anchors"], axis=3))
            name = f"{head}_{s}"
            nodes.append(helper.make_node("Reshape", [f"{n}_{head}_anchors",
                                                      "shape3" if batch_axis else "shape2",
                                                      ], [name]))
            # Reshape targets differ per head width, so each head gets its own shape.
            nodes[-1].input[1] = f"{nodes[-1].input[1]}_{channels}"
            dims = [batch, None, channels] if batch_axis else [None, channels]
            outputs[head].append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    initializers = [
        const("half", TensorProto.FLOAT, [], [0.5]), const("gain", TensorProto.FLOAT, [], [40.0]),
        const("on", TensorProto.FLOAT, [], [1.0]), const("off", TensorProto.FLOAT, [], [0.0]),
        const("dist", TensorProto.FLOAT, [1, 4, 1, 1], DISTANCES),
        const("offs", TensorProto.FLOAT, [1, 10, 1, 1], OFFSETS),
    ]
    for channels in (1, 4, 10):
        initializers.append(const(f"shape3_{channels}", TensorProto.INT64, [3], [0, -1, channels]))
        initializers.append(const(f"shape2_{channels}", TensorProto.INT64, [2], [-1, channels]))
    graph = helper.make_graph(
        nodes, "scrfd_standin",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [batch, 3, height, width])],
        outputs["score"] + outputs["bbox"] + outputs["kps"], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def frame_with_face(width, height, x, y, side):
    frame = np.zeros((height, width, 3), np.uint8)
    frame[y:y + side, x:x + side] = 255
    return frame


def expected(x, y, scale):
    """The box and points the stand-in yields for a white cell whose top-left corner lands
    at (x, y) in the 640x640 letterbox, mapped back to the frame (divided by scale)."""
    cx, cy, s = x, y, FIRING_STRIDE
    l, t, r, b = DISTANCES
    box = np.array([cx - l * s, cy - t * s, cx + r * s, cy + b * s]) / scale
    points = (np.array([cx, cy]) + np.array(OFFSETS).reshape(5, 2) * s) / scale
    return box, points


@pytest.fixture
def pack(tmp_path):
    folder = tmp_path / "models" / "buffalo_l"
    folder.mkdir(parents=True)
    build_scrfd(folder / "det_10g.onnx")
    (folder / "w600k_r50.onnx").write_bytes(b"recognition model, not a detector")
    return folder


@pytest.mark.parametrize("batch_axis", [True, False])
def test_decoding_end_to_end_with_letterbox_and_batch(tmp_path, batch_axis):
    model = build_scrfd(tmp_path / "det_standin.onnx", batch_axis=batch_axis)
    detector = create_detector("insightface", model_dir=model, threads=1)
    assert detector.name == "insightface:det_standin"
    frames = [
        frame_with_face(640, 640, 320, 160, 16),    # letterbox scale 1
        frame_with_face(1280, 720, 640, 320, 32),   # scale 0.5, padded at the bottom
        np.zeros((480, 640, 3), np.uint8),          # no face
        frame_with_face(320, 320, 96, 48, 8),       # scale 2
    ]
    result = detector.detect(frames)
    assert [len(f) for f in result] == [1, 1, 0, 1]
    for faces, (x, y, scale) in zip([result[0], result[1], result[3]],
                                    [(320, 160, 1.0), (320, 160, 0.5), (192, 96, 2.0)]):
        box, points = expected(x, y, scale)
        np.testing.assert_allclose(faces.boxes[0], box, atol=1e-3)
        np.testing.assert_allclose(faces.landmarks[0], points, atol=1e-3)
        assert faces.scores[0] > 0.99
        assert faces.boxes.dtype == np.float32


def test_a_fixed_batch_of_one_runs_frame_by_frame_at_the_model_size(tmp_path):
    model = build_scrfd(tmp_path / "scrfd_fixed.onnx", fixed_input=(320, 320))
    detector = create_detector("insightface", model_dir=model, input_size=640)
    assert detector.input_size == (320, 320)  # the model's own size wins
    result = detector.detect([frame_with_face(320, 320, 160, 64, 16),
                              frame_with_face(640, 640, 320, 128, 32), np.zeros((9, 9), np.uint8)])
    assert [len(f) for f in result] == [1, 1, 0]
    np.testing.assert_allclose(result[1].boxes[0], expected(160, 64, 0.5)[0], atol=1e-3)


def test_boxes_are_clipped_to_the_frame(tmp_path):
    detector = create_detector("insightface", model_dir=build_scrfd(tmp_path / "det.onnx"))
    (faces,) = detector.detect([frame_with_face(640, 640, 0, 0, 16)])
    np.testing.assert_allclose(faces.boxes[0], [0, 0, 24, 32])


def test_pack_lookup_and_auto(pack, tmp_path):
    root = pack.parent
    for model_dir in (pack, root, pack / "det_10g.onnx"):
        detector = create_detector("auto", model_dir=model_dir)
        assert detector.name == "insightface:det_10g"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert create_detector("auto", model_dir=empty).name == "mtcnn"


def test_auto_without_a_pack_in_insightface_home_uses_mtcnn(monkeypatch, tmp_path):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path))
    assert create_detector("auto").name == "mtcnn"
    with pytest.raises(DetectorError) as info:
        create_detector("insightface")
    assert str(info.value) == (
        f"no insightface model pack found in {tmp_path / 'models'} (looked for det_*.onnx / "
        f"scrfd*.onnx there and in its subfolders); download buffalo_l from {PACK_URL}, unzip "
        "it and pass its folder with --model-dir, or use --detector mtcnn")


def test_a_pack_in_insightface_home_is_found(monkeypatch, pack):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(pack.parent.parent))
    assert create_detector("auto").name == "insightface:det_10g"


def test_missing_or_wrong_model_dir(tmp_path):
    with pytest.raises(DetectorError) as info:
        create_detector("insightface", model_dir=tmp_path / "nowhere")
    assert str(info.value) == (f"model directory {tmp_path / 'nowhere'} does not exist; pass "
                               "the folder of an insightface model pack (e.g. buffalo_l) to "
                               "--model-dir")
    with pytest.raises(DetectorError) as info:
        create_detector("auto", model_dir=tmp_path / "nowhere")
    assert "does not exist" in str(info.value)
    text = tmp_path / "det_10g.txt"
    text.write_text("x")
    with pytest.raises(DetectorError) as info:
        create_detector("insightface", model_dir=text)
    assert str(info.value) == (f"{text} is not an .onnx model; pass the folder of an "
                               "insightface model pack (e.g. buffalo_l) to --model-dir")
    with pytest.raises(DetectorError) as info:
        create_detector("insightface", model_dir=tmp_path)
    assert str(info.value).startswith(f"no insightface model pack found in {tmp_path} ")


def test_unusable_models_are_refused_with_the_reason(tmp_path):
    broken = tmp_path / "det_broken.onnx"
    broken.write_bytes(b"\x00\x01 not protobuf")
    with pytest.raises(DetectorError, match=r"^cannot load the ONNX model .*det_broken\.onnx: "):
        create_detector("insightface", model_dir=broken)
    no_kps = build_scrfd(tmp_path / "det_nokps.onnx", kps=False)
    with pytest.raises(DetectorError) as info:
        create_detector("insightface", model_dir=no_kps)
    assert str(info.value) == (f"{no_kps} detects faces without the 5 landmarks alignment "
                               "needs; use a *kps model such as buffalo_l/det_10g.onnx")
    mtcnn_like = tmp_path / "det_pnet.onnx"
    from dfew_build.faces.detectors.mtcnn import mtcnn_weights_dir

    mtcnn_like.write_bytes((mtcnn_weights_dir() / "pnet.onnx").read_bytes())
    with pytest.raises(DetectorError, match=r"is not an SCRFD face detector \(inputs "):
        create_detector("insightface", model_dir=mtcnn_like)
    one_anchor = build_scrfd(tmp_path / "det_one_anchor.onnx", anchors=1)
    detector = create_detector("insightface", model_dir=one_anchor)
    with pytest.raises(DetectorError, match=r"an output has shape \[1, 6400, 1\], expected 12800 "):
        detector.detect([np.zeros((64, 64, 3), np.uint8)])


def test_insightface_options_are_checked(tmp_path):
    model = build_scrfd(tmp_path / "det.onnx")
    with pytest.raises(DetectorError) as info:
        create_detector("insightface", model_dir=model, input_size=100)
    assert str(info.value) == "input_size must be multiples of 32 (e.g. 640), got 100"
    with pytest.raises(DetectorError) as info:
        create_detector("insightface", model_dir=model, nms_threshold=0)
    assert str(info.value) == "nms_threshold must be a number within (0, 1], got 0"
    with pytest.raises(DetectorError) as info:
        create_detector("insightface", model_dir=model, min_face_size=20)
    assert str(info.value) == ("detector 'insightface' has no option min_face_size; its options "
                               "are device, threads, score_threshold, nms_threshold, input_size")
