"""The parts of a run built from its TrainConfig: model, loss, optimiser, lr schedule,
deterministic mode, and the check that they can be built at all (before a run folder
exists)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from dfew_build.bench import checkpoint as ckpt
from dfew_build.bench import runs
from dfew_build.bench.config import TrainConfig
from dfew_build.emotions import NUM_EMOTIONS
from dfew_build.errors import TrainingError


def build_model(config: TrainConfig) -> nn.Module:
    from dfew_build.bench.models import create_model, list_models

    try:
        return create_model(config.model, num_classes=NUM_EMOTIONS, **config.model_kwargs)
    except (ValueError, TypeError) as exc:
        raise TrainingError(f"cannot build model {config.model!r}: {exc} (models: "
                            f"{', '.join(list_models())})") from None


def build_loss(config: TrainConfig, feature_dim: int) -> nn.Module:
    from dfew_build.bench.losses import create_loss, list_losses

    try:
        return create_loss(config.loss, NUM_EMOTIONS, feature_dim, lambda_=config.lambda_,
                           ldl=config.ldl, ldl_weight=config.ldl_weight,
                           alpha=config.combo_alpha, beta=config.combo_beta)
    except ValueError as exc:
        raise TrainingError(f"cannot build loss {config.loss!r}: {exc} (losses: "
                            f"{', '.join(list_losses())})") from None


def make_optimizer(config: TrainConfig, parameters) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.learning_rate,
                                weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.learning_rate, momentum=config.momentum,
                           weight_decay=config.weight_decay)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    """``plateau`` (DFEW: lr × γ = 0.1 when the epoch's training loss has not fallen for
    ``patience`` epochs), ``exponential`` (lr × γ every epoch, NR-DFERNet) or ``step``
    (lr × γ every ``lr_step`` epochs, Former-DFER, LFER-LDL). Stepped once per epoch by
    :func:`step_scheduler`."""
    if config.scheduler == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.gamma)
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step,
                                               gamma=config.gamma)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.gamma, patience=config.patience,
        min_lr=config.min_lr)


def step_scheduler(scheduler, epoch_loss: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(epoch_loss)
    else:
        scheduler.step()


def snippet_filter_on(model: nn.Module, config: TrainConfig) -> bool:
    """Whether predictions go through the model's decision stage (NR-DFERNet's snippet-based
    filter): ``config.snippet_filter``, or the model's default when it is None. TrainingError
    when the filter is asked of a model that has none."""
    has = hasattr(model, "forward_decision")
    if config.snippet_filter and not has:
        raise TrainingError(f"--snippet-filter: {config.model} has no snippet-based filter "
                            "(nr_dfernet has one)")
    if not has:
        return False
    if config.snippet_filter is None:
        return bool(getattr(model, "snippet_filter_default", True))
    return bool(config.snippet_filter)


@contextmanager
def deterministic(enabled: bool = True):
    """Deterministic algorithms for the duration of a run (warn-only where none exists)."""
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark)
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark = previous[2]


def init_weights(model: nn.Module, source: str, workspace, config: TrainConfig) -> None:
    """Load ``--init-from``: a checkpoint file, or a run's best.pt (else last.pt).
    TrainingError when it is missing, unreadable, of another model or does not fit."""
    path = Path(source)
    if not path.is_file() and (path.suffix == ".pt" or len(path.parts) > 2
                               or path.is_absolute()):
        raise TrainingError(f"--init-from {source}: no such checkpoint file (give a .pt "
                            f"file, or the name of a run in {workspace.runs_dir})")
    if not path.is_file():  # a run name (NAME or NAME/foldK): its kept checkpoint
        path = runs.kept_checkpoint(workspace, source)
    state = ckpt.load_checkpoint(path, model_name=config.model)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise TrainingError(f"checkpoint {path} does not fit model {config.model!r} with "
                            f"these options: {str(exc).splitlines()[0]}") from None


def check_buildable(workspace, config: TrainConfig) -> None:
    """Build the model and loss on PyTorch's meta device (shapes only, no memory, a few ms)
    and fit ``--init-from`` into it: every TrainingError of :func:`build_model`,
    :func:`build_loss`, :func:`snippet_filter_on` and :func:`init_weights` is raised here,
    before a run folder is made."""
    with torch.device("meta"):
        model = build_model(config)
        build_loss(config, model.feature_dim)
        snippet_filter_on(model, config)
        if config.init_from:
            init_weights(model, config.init_from, workspace, config)
