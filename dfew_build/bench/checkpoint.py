"""Checkpoints: plain dicts of tensors and numbers, written atomically, read with weights_only.

Both hold ``format``, ``model_name``, ``model_kwargs``, ``num_classes``, ``loss_name``,
``epoch`` (completed epochs), ``model`` (state dict) and ``row`` (that epoch's metrics).
``last.pt`` also holds what resuming needs (:data:`RESUME_KEYS`): ``loss`` (the loss's state,
e.g. the centre-loss centres), ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (torch
CPU/CUDA generator states) and ``best``; ``best.pt`` holds none of it (an SGD momentum
buffer is as large as the weights). Nothing needs unpickling arbitrary objects:
``torch.load(path, weights_only=True)`` reads them.

``--keep best|last|both`` (:func:`apply_keep`) says which of the two stay once a fold has
finished. Temporaries are ``.{name}.{pid}.tmp`` (``dfew_build.tempfiles``): a killed
writer's are removed by the next ``train`` or ``evaluate``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from dfew_build.errors import TrainingError
from dfew_build.tempfiles import temp_path

FORMAT = "dfew-build-checkpoint-v1"
#: The entries of last.pt that only resuming needs; best.pt has none of them.
RESUME_KEYS = ("loss", "optimizer", "scheduler", "scaler", "rng", "best")
KEEP = ("best", "last", "both")


def save_checkpoint(state: dict, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then os.replace: a crash never
    leaves a half-written checkpoint under the real name."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        torch.save({"format": FORMAT, **state}, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: Path, *, model_name: str | None = None) -> dict:
    """Read a checkpoint on the CPU; with ``model_name``, refuse one of another model."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"checkpoint {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds for corrupt or foreign files
        raise TrainingError(f"cannot read the checkpoint {path}: {str(exc).splitlines()[0]}"
                            ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT or "model" not in state:
        raise TrainingError(f"{path} is not a dfew-build checkpoint (no {FORMAT!r} format tag)")
    if model_name is not None and state.get("model_name") != model_name:
        raise TrainingError(f"checkpoint {path} holds model {state.get('model_name')!r}, not "
                            f"{model_name!r}; pass --model {state.get('model_name')} or "
                            "another checkpoint")
    return state


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def kept_files(keep: str) -> tuple[str, ...]:
    """The checkpoint files that stay after a finished fold under ``--keep``."""
    return {"best": ("best.pt",), "last": ("last.pt",), "both": ("best.pt", "last.pt")}[keep]


def apply_keep(run_dir: Path, keep: str) -> list[Path]:
    """Delete the checkpoints of a finished fold that ``keep`` does not keep (called after
    its metrics.json is written); returns what was deleted. ``--keep best`` deletes
    ``last.pt``, so the finished run can no longer be continued for more epochs."""
    removed = []
    for name in ("best.pt", "last.pt"):
        path = Path(run_dir) / name
        if name not in kept_files(keep) and path.is_file():
            path.unlink()
            removed.append(path)
    return removed
