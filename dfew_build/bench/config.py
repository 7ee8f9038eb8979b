"""The settings of a benchmark run, validated once, saved as the run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from dfew_build.errors import TrainingError

OPTIMIZERS = ("sgd", "adam")
INPUTS = ("tensors", "frames")
SELECT = ("last", "best")
DEVICES = ("cpu", "cuda")
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-4}


def default_workers() -> int:
    """Data-loader processes: half the cores, at most 4. On a 2-core machine two workers
    beside the model's two compute threads made each step 19 % slower than a batch already
    in memory; one worker keeps it within noise (benchmarks/train_throughput.py)."""
    import os

    return max(1, min(4, (os.cpu_count() or 2) // 2))


@dataclass
class TrainConfig:
    """Defaults follow DFEW §4.1 where it says (batch 24, λ, lr ×0.1 on a plateau)."""

    model: str
    loss: str = "ce"
    lambda_: float | None = None        # center 1e-4, ecstfl 10 when None
    fold: int | str = 1                 # 1..k or "all"
    scheme: str = "default"
    epochs: int = 30
    batch_size: int = 24
    lr: float | None = None             # sgd 0.01, adam 1e-4 when None
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    patience: int = 3                   # epochs without a lower training loss before lr × 0.1
    min_lr: float = 1e-6
    device: str = "cpu"
    amp: bool = False                   # float16 autocast + GradScaler, CUDA only
    input: str = "tensors"              # tensors (TIM store) | frames (U × V sampling)
    size: int | None = None             # frame side; None: the model's reference input size
    frames: int = 16
    segments: int = 8                   # U
    per_segment: int = 2                # V
    workers: int = field(default_factory=default_workers)
    seed: int = 0
    balanced: bool = False              # class-balanced oversampling
    crop_scale: float = 0.875
    flip: bool = True
    threshold: int = 6                  # single label: l_k > threshold
    # Also train on the scheme's clips that have no single label, by their plurality vote
    # (schemes made with `folds --subset all`).
    plurality: bool = False
    select: str = "last"                # the epoch whose predictions are reported
    init_from: str | None = None
    model_kwargs: dict = field(default_factory=dict)
    deterministic: bool = True
    tsne: bool = True

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def input_size(config: TrainConfig) -> int:
    """The frame side a run uses: ``config.size``, or the model's reference input size
    (DFEW's configurations: P3D 160, I3D 224, the others 112) when it is None."""
    from dfew_build.bench.models import model_input_size

    return int(config.size) if config.size is not None else model_input_size(config.model)


def validate(config: TrainConfig) -> TrainConfig:
    """Raise TrainingError naming the bad value and the choices; returns the config with
    ``size`` resolved (the model's reference input size when it was None)."""
    from dfew_build.bench.losses import list_losses
    from dfew_build.bench.models import is_model, list_models

    if not is_model(config.model):
        raise TrainingError(f"unknown model {config.model!r}; choose one of: "
                            f"{', '.join(list_models())} (see `dfew-build models`)")
    if config.size is None:
        config = replace(config, size=input_size(config))
    if config.loss not in list_losses():
        raise TrainingError(f"unknown loss {config.loss!r}; choose one of: "
                            f"{', '.join(list_losses())}")
    if config.fold != "all" and not (isinstance(config.fold, int) and config.fold >= 1):
        raise TrainingError(f"--fold must be a fold number 1..k or 'all', got {config.fold!r}")
    for name, choices in (("optimizer", OPTIMIZERS), ("input", INPUTS), ("select", SELECT),
                          ("device", DEVICES)):
        if getattr(config, name) not in choices:
            raise TrainingError(f"--{name} must be one of {', '.join(choices)}, got "
                                f"{getattr(config, name)!r}")
    for name in ("epochs", "batch_size", "size", "frames", "segments", "per_segment"):
        if int(getattr(config, name)) < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be at least 1, got "
                                f"{getattr(config, name)}")
    if config.workers < 0:
        raise TrainingError(f"--workers must be >= 0, got {config.workers}")
    if config.lr is not None and not config.lr > 0:
        raise TrainingError(f"--lr must be positive, got {config.lr}")
    if not 0 < config.crop_scale <= 1:
        raise TrainingError(f"crop_scale must be in (0, 1], got {config.crop_scale}")
    if config.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise TrainingError("--device cuda: no CUDA device is available to this PyTorch "
                                f"({torch.__version__}); use --device cpu")
    return config
