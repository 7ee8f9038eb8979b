"""onnxruntime sessions for the detectors: device (CPU/CUDA) and thread settings."""

from __future__ import annotations

from pathlib import Path

from dfew_build.errors import DetectorError

DEVICES = ("cpu", "cuda", "auto")


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:  # an install without the dependency
        raise DetectorError("the face detectors need onnxruntime: pip install onnxruntime "
                            "(or onnxruntime-gpu for CUDA)") from exc
    return onnxruntime


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise DetectorError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    return device


def check_threads(threads) -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise DetectorError(f"threads must be a positive integer, got {threads!r}")
    return threads


def check_number(name: str, value, low: float, high: float, *, low_open: bool = False,
                 high_open: bool = False) -> float:
    """A detector setting as a float within [low, high] (bounds open where asked)."""
    bounds = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not (
            (number > low if low_open else number >= low)
            and (number < high if high_open else number <= high)):
        raise DetectorError(f"{name} must be a number within {bounds}, got {value!r}")
    return number


def providers(device: str) -> list[str]:
    """The execution providers to ask for: CUDA first when requested or available."""
    ort = _onnxruntime()
    available = ort.get_available_providers()
    has_cuda = "CUDAExecutionProvider" in available
    if device == "cuda" and not has_cuda:
        raise DetectorError(
            "device 'cuda' was requested but onnxruntime has no CUDAExecutionProvider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu matching your "
            "CUDA version, or use --device cpu")
    if device == "cpu" or not has_cuda:
        return ["CPUExecutionProvider"]
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def create_session(path: Path, device: str = "cpu", threads: int | None = None):
    """An InferenceSession for one model file.

    ``threads`` sets onnxruntime's intra-op pool (cores / workers when a process pool runs
    several detectors side by side); None: one per core. Inter-op parallelism is off
    (the detector nets are chains: nothing runs side by side), graph optimisation at its
    highest level, and idle pool threads sleep instead of spinning: on a machine shared
    with a decoder thread, other workers or other jobs, spinning threads burn the cores
    the others need.
    """
    import os

    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # keep onnxruntime's warnings off the user's terminal
    options.intra_op_num_threads = threads if threads is not None else (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    wanted = providers(device)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise DetectorError(f"cannot load the ONNX model {path}: {exc}") from exc
    if device == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        raise DetectorError(
            f"device 'cuda' was requested but onnxruntime could not start CUDA for {path} "
            "(check the CUDA/cuDNN libraries onnxruntime-gpu needs), or use --device cpu")
    return session


def uses_cuda(session) -> bool:
    return "CUDAExecutionProvider" in session.get_providers()
