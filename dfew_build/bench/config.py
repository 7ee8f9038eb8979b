"""The settings of a benchmark run, validated once, saved as the run's config.json."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from dfew_build.errors import TrainingError

OPTIMIZERS = ("sgd", "adam")
INPUTS = ("tensors", "frames")
SELECT = ("last", "best")
KEEP = ("best", "last", "both")
DEVICES = ("cpu", "cuda")
SCHEDULERS = ("plateau", "exponential", "step")
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-4}
#: lr factor γ when --lr-gamma is not given: per epoch (exponential), per --lr-step epochs
#: (step), on a plateau (plateau: DFEW's ×0.1).
DEFAULT_GAMMA = {"plateau": 0.1, "exponential": 0.9, "step": 0.1}

#: The training recipes of the DFER papers, the defaults of `train --model NAME` for their
#: models (any option given on the command line wins). Not stated by a paper, and chosen:
#: NR-DFERNet's decay rate (γ = 0.9 per epoch: lr × 6e-4 after 70 epochs; the lab's sibling
#: code halves the rate every 7 epochs, ≈ 0.906 per epoch) and its weight decay (that of
#: Former-DFER's released code, 1e-4, which NR-DFERNet follows for AFEW pre-training).
MODEL_TRAIN_DEFAULTS = {
    # NR-DFERNet §4.2: SGD, batch 32, lr 1e-3 "decreased at an exponential rate in 70
    # epochs", U = 8 × V = 2 dynamic sampling; no oversampling in its headline row
    # (Table 5: 54.21 / 68.19; --balanced for the oversampled 55.77 / 68.01).
    "nr_dfernet": {"optimizer": "sgd", "lr": 1e-3, "batch_size": 32, "epochs": 70,
                   "scheduler": "exponential", "lr_gamma": 0.9, "weight_decay": 1e-4,
                   "input": "frames"},
    # Former-DFER's released training script: SGD (momentum 0.9, weight decay 1e-4), lr
    # 0.01 × 0.1 every 40 epochs, 100 epochs, batch 32, 8 × 2 dynamic sampling.
    "former_dfer": {"optimizer": "sgd", "lr": 0.01, "batch_size": 32, "epochs": 100,
                    "scheduler": "step", "lr_step": 40, "lr_gamma": 0.1,
                    "weight_decay": 1e-4, "input": "frames"},
    # LFER-LDL §2.3 (RAF-DB): SGD, lr 0.01, momentum 0.9, weight decay 1e-4, 120 epochs,
    # batch 32, lr × 0.1 every 30 epochs. It trained images; clips come from the store.
    "lfer_ldl": {"optimizer": "sgd", "lr": 0.01, "batch_size": 32, "epochs": 120,
                 "scheduler": "step", "lr_step": 30, "lr_gamma": 0.1, "weight_decay": 1e-4},
}


def model_train_defaults(model: str) -> dict:
    """The paper's training settings for ``model`` (:data:`MODEL_TRAIN_DEFAULTS`; ``{}``
    for the DFEW baselines, whose defaults are TrainConfig's)."""
    return dict(MODEL_TRAIN_DEFAULTS.get(model, {}))


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
    scheduler: str = "plateau"          # plateau (DFEW) | exponential | step
    lr_gamma: float | None = None       # see DEFAULT_GAMMA when None
    lr_step: int = 30                   # epochs per step of the step scheduler
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
    # The epoch whose predictions are reported; None: --keep's when it is best or last,
    # else last.
    select: str | None = None
    # The checkpoints that stay once a fold has finished: best, last or both; None: the
    # one `select` reports (a reported result can always be re-scored).
    keep: str | None = None
    ldl: bool = False                   # + KL to the clip's vote distribution (losses.WithLDL)
    ldl_weight: float | None = None     # its weight: 1 (1/C with combo) when None
    combo_alpha: float = 0.5            # LFER-LDL combo loss α and β
    combo_beta: float = 0.2
    # NR-DFERNet's snippet-based filter at evaluation: None = the model's default (on for
    # nr_dfernet; models without a decision stage have no filter).
    snippet_filter: bool | None = None
    init_from: str | None = None
    model_kwargs: dict = field(default_factory=dict)
    deterministic: bool = True
    tsne: bool = True

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else float(self.lr)

    @property
    def gamma(self) -> float:
        return DEFAULT_GAMMA[self.scheduler] if self.lr_gamma is None else float(self.lr_gamma)

    @property
    def loss_name(self) -> str:
        """The loss as recorded and shown: ``combo+ldl`` for ``--loss combo --ldl``."""
        return f"{self.loss}+ldl" if self.ldl else self.loss

    @classmethod
    def for_model(cls, model: str, **given) -> "TrainConfig":
        """A config for ``model`` with its paper's training defaults
        (:func:`model_train_defaults`) under the settings ``given`` (None values are
        treated as not given)."""
        given = {k: v for k, v in given.items() if v is not None}
        defaults = model_train_defaults(model)
        if given.get("scheduler", defaults.get("scheduler")) != defaults.get("scheduler"):
            defaults.pop("lr_gamma", None)  # the paper's γ belongs to the paper's schedule
            defaults.pop("lr_step", None)
        if given.get("optimizer", defaults.get("optimizer")) != defaults.get("optimizer"):
            defaults.pop("lr", None)        # and its lr to its optimizer
        return cls(model=model, **{**defaults, **given})

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


def resolve_keep(config: TrainConfig) -> TrainConfig:
    """``select`` and ``keep`` filled in from each other (see TrainConfig); TrainingError
    when ``keep`` would delete the checkpoint ``select`` reports."""
    if config.keep is not None and config.keep not in KEEP:
        raise TrainingError(f"--keep must be one of {', '.join(KEEP)}, got {config.keep!r}")
    select = config.select or (config.keep if config.keep in SELECT else "last")
    if select not in SELECT:
        raise TrainingError(f"--select must be one of {', '.join(SELECT)}, got {select!r}")
    keep = config.keep or select
    if keep not in ("both", select):
        raise TrainingError(
            f"--keep {keep} would delete {select}.pt, the checkpoint whose result --select "
            f"{select} reports: use --select {keep}, or --keep both")
    return replace(config, select=select, keep=keep)


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
    config = resolve_keep(config)
    for name, choices in (("optimizer", OPTIMIZERS), ("input", INPUTS), ("select", SELECT),
                          ("device", DEVICES), ("scheduler", SCHEDULERS)):
        if getattr(config, name) not in choices:
            raise TrainingError(f"--{name} must be one of {', '.join(choices)}, got "
                                f"{getattr(config, name)!r}")
    for name in ("epochs", "batch_size", "size", "frames", "segments", "per_segment", "lr_step"):
        if int(getattr(config, name)) < 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be at least 1, got "
                                f"{getattr(config, name)}")
    if config.workers < 0:
        raise TrainingError(f"--workers must be >= 0, got {config.workers}")
    if config.lr is not None and not config.lr > 0:
        raise TrainingError(f"--lr must be positive, got {config.lr}")
    if config.lr_gamma is not None and not 0 < config.lr_gamma <= 1:
        raise TrainingError(f"--lr-gamma must be in (0, 1], got {config.lr_gamma}")
    if config.ldl and config.loss == "ldl":
        raise TrainingError("--loss ldl already is the KL divergence to the vote distribution; "
                            "--ldl adds it to another loss (e.g. --loss combo --ldl)")
    if config.ldl_weight is not None and not config.ldl:
        raise TrainingError("--ldl-weight applies with --ldl only")
    if config.ldl_weight is not None and not config.ldl_weight >= 0:
        raise TrainingError(f"--ldl-weight must be >= 0, got {config.ldl_weight}")
    for name in ("combo_alpha", "combo_beta"):
        if not 0 <= getattr(config, name) <= 1:
            raise TrainingError(f"--{name.replace('_', '-')} must be in [0, 1], got "
                                f"{getattr(config, name)}")
    if config.snippet_filter:
        import torch

        from dfew_build.bench.models import create_model

        with torch.device("meta"):  # shapes only: cheap
            has_filter = hasattr(create_model(config.model, **config.model_kwargs),
                                 "forward_decision")
        if not has_filter:
            raise TrainingError(f"--snippet-filter: {config.model} has no snippet-based "
                                "filter (nr_dfernet has one)")
    if not 0 < config.crop_scale <= 1:
        raise TrainingError(f"crop_scale must be in (0, 1], got {config.crop_scale}")
    if config.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise TrainingError("--device cuda: no CUDA device is available to this PyTorch "
                                f"({torch.__version__}); use --device cpu")
    return config
