"""The benchmark trainer: one fold, or DFEW's five-fold protocol (DESIGN.md §8).

Library entry points (the CLI's `train` calls :func:`dfew_build.bench.protocol.train`):

* :func:`train_one_epoch` and :func:`evaluate` take explicit arguments and return dicts;
* :func:`train_fold` runs one fold into a run folder, resumable from its ``last.pt``.

Reproducibility: the model is initialised from ``torch.manual_seed(seed)``; the sampling
order and augmentation come from generators seeded by ``(seed, epoch, …)`` (see
``bench.data``); ``last.pt`` holds the model, optimiser, scheduler, scaler and torch RNG
states after each epoch, so a resumed run continues exactly where an uninterrupted one
would be. Deterministic algorithms are requested (warn-only where an operation has none).
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dfew_build.bench import checkpoint as ckpt
from dfew_build.bench import runs
from dfew_build.bench.config import TrainConfig, input_size
from dfew_build.bench.data import (Augment, EpochSampler, FrameClipDataset, TensorClipDataset,
                                   frame_files, open_tensor_store, store_paths)
from dfew_build.bench.metrics import summarize
from dfew_build.emotions import NUM_EMOTIONS
from dfew_build.errors import TrainingError


class TrainStep(nn.Module):
    """Model + loss as one module, so DistributedDataParallel also syncs the loss's own
    parameters (the centre-loss centres) and sees every forward through its hooks."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, clips, labels, votes):
        features = self.model.forward_features(clips)
        logits = self.model.head(features)
        total, parts = self.loss_fn(logits, features, labels, votes)
        return total, parts, logits


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


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return nullcontext()


def _batches(loader, progress: bool, desc: str):
    if not progress:
        return loader
    from tqdm import tqdm

    return tqdm(loader, desc=desc, leave=False, unit="batch")


def train_one_epoch(step: nn.Module, loader, optimizer: torch.optim.Optimizer, *,
                    device: torch.device, scaler=None, amp: bool = False,
                    max_steps: int | None = None, progress: bool = False,
                    desc: str = "train") -> dict:
    """One pass over ``loader``; returns the clip-weighted mean loss and loss parts,
    ``clips``, ``seconds`` and ``clips_per_s``."""
    step.train()
    totals: dict[str, float] = {}
    clips, started = 0, time.perf_counter()
    for i, (x, labels, votes, _ids) in enumerate(_batches(loader, progress, desc)):
        if max_steps is not None and i >= max_steps:
            break
        x = x.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        votes = votes.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            total, parts, _ = step(x, labels, votes)
        if not torch.isfinite(total):
            raise TrainingError(f"the training loss became {total.item()} at batch {i + 1}; "
                                "lower --lr (or use --optimizer adam)")
        if scaler is not None and scaler.is_enabled():
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            total.backward()
            optimizer.step()
        n = len(labels)
        clips += n
        totals["loss"] = totals.get("loss", 0.0) + float(total.detach()) * n
        for key, value in parts.items():
            totals[key] = totals.get(key, 0.0) + float(value) * n
    if clips == 0:
        raise TrainingError("the training loader gave no batch (empty training set)")
    seconds = time.perf_counter() - started
    return {**{k: v / clips for k, v in totals.items()}, "clips": clips,
            "seconds": seconds, "clips_per_s": clips / seconds if seconds else float("nan")}


@torch.no_grad()
def evaluate(model: nn.Module, loader, *, device: torch.device, amp: bool = False,
             num_classes: int = NUM_EMOTIONS, collect_features: bool = False,
             progress: bool = False, snippet_filter: bool | None = None) -> dict:
    """Predictions of ``model`` on ``loader``: the metrics of :func:`bench.metrics.summarize`
    plus ``loss`` (cross-entropy), ``y_true``, ``y_pred``, ``probs``, ``clip_ids``,
    ``features`` (penultimate, when ``collect_features``), ``seconds``, ``clips_per_s``.

    A model with a decision stage (``forward_decision`` and ``decide``: NR-DFERNet's
    snippet-based filter) is scored both ways; ``snippet_filter`` (None: the model's
    default) says which predictions are the result, and ``snippet_filter`` in the returned
    dict reports the other (:func:`filter_effect`). ``loss`` is always the cross-entropy of
    the sequence logits (the filtered probabilities can hold an exact 0)."""
    model.eval()
    decision = hasattr(model, "forward_decision")
    use_filter = decision and (getattr(model, "snippet_filter_default", True)
                               if snippet_filter is None else bool(snippet_filter))
    y_true, y_pred, probs, ids, feats = [], [], [], [], []
    other_pred, zeroed = [], []  # decision stage: the predictions not reported, zeroed clips
    loss_sum, started = 0.0, time.perf_counter()
    for x, labels, _votes, clip_ids in _batches(loader, progress, "evaluate"):
        x = x.to(device, non_blocking=True)
        with _autocast(device, amp):
            if decision:
                logits, extra, features = model.forward_decision(x, with_features=True)
            else:
                features = model.forward_features(x)
                logits = model.head(features)
        logits = logits.float()
        labels_d = labels.to(device)
        loss_sum += float(F.cross_entropy(logits, labels_d, reduction="sum"))
        p = logits.softmax(dim=1)
        if decision:
            filtered_p, filtered = model.decide(logits, extra)
            reported, other = (filtered_p, p) if use_filter else (p, filtered_p)
            p = reported
            other_pred.append(other.argmax(dim=1).cpu().numpy())
            zeroed.append(filtered.cpu().numpy())
        y_true.append(labels.numpy())
        y_pred.append(p.argmax(dim=1).cpu().numpy())
        probs.append(p.cpu().numpy())
        ids.append(np.asarray(clip_ids))
        if collect_features:
            feats.append(features.float().cpu().numpy())
    seconds = time.perf_counter() - started
    y_true_a = np.concatenate(y_true) if y_true else np.zeros(0, np.int64)
    y_pred_a = np.concatenate(y_pred) if y_pred else np.zeros(0, np.int64)
    n = len(y_true_a)
    result = {**summarize(y_true_a, y_pred_a, num_classes),
              "loss": loss_sum / n if n else float("nan"),
              "y_true": y_true_a, "y_pred": y_pred_a,
              "probs": np.concatenate(probs) if probs else np.zeros((0, num_classes)),
              "clip_ids": np.concatenate(ids) if ids else np.zeros(0, np.int64),
              "features": np.concatenate(feats) if feats else None,
              "seconds": seconds, "clips_per_s": n / seconds if seconds else float("nan")}
    if decision:
        other = np.concatenate(other_pred) if other_pred else np.zeros(0, np.int64)
        result["snippet_filter"] = filter_effect(
            y_true_a, y_pred_a, other, np.concatenate(zeroed) if zeroed else np.zeros(0, bool),
            on=use_filter, settings=model.filter_settings(), num_classes=num_classes)
    return result


def filter_effect(y_true, y_pred, y_other, zeroed, *, on: bool, settings: dict,
                  num_classes: int = NUM_EMOTIONS) -> dict:
    """What the snippet-based filter did on one prediction set. ``y_pred``: the reported
    predictions (filtered when ``on``), ``y_other``: the other ones; ``zeroed``: the clips
    whose neutral probability the filter set to zero. Returns ``{"on", settings…,
    "filtered": {war, uar, uar_classes}, "unfiltered": {…}, "neutral_zeroed", "changed",
    "fixed" (wrong → right with the filter), "broken" (right → wrong), "n"}``."""
    filtered, unfiltered = (y_pred, y_other) if on else (y_other, y_pred)
    y_true = np.asarray(y_true)

    def brief(pred):
        m = summarize(y_true, pred, num_classes)
        return {k: m[k] for k in ("war", "uar", "uar_classes", "per_class_recall")}

    changed = np.asarray(filtered) != np.asarray(unfiltered)
    return {"on": bool(on), **settings, "n": int(len(y_true)),
            "filtered": brief(filtered), "unfiltered": brief(unfiltered),
            "neutral_zeroed": int(np.asarray(zeroed).sum()), "changed": int(changed.sum()),
            "fixed": int((changed & (np.asarray(filtered) == y_true)).sum()),
            "broken": int((changed & (np.asarray(unfiltered) == y_true)).sum())}


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


# -- data -----------------------------------------------------------------------------------

def missing_store_message(workspace, model: str, size: int, frames: int) -> str | None:
    """The error for a run whose tensor store ``{size}px_{frames}f`` is not there (None when
    it is): which `preprocess` makes it, whether ``size`` is the model's reference input
    size, and which stores the workspace has (to train on one of them with --size)."""
    from dfew_build.bench.models import model_input_size

    path, index = store_paths(workspace.tensors_dir, size, frames)
    if path.is_file() and index.is_file():
        return None
    missing = path if not path.is_file() else index
    reference = model_input_size(model)
    message = (f"no tensor store for {size}px × {frames} frames ({missing} not found): run "
               f"`dfew-build preprocess --size {size} --frames {frames}` first")
    if size == reference:
        message += (f"; {size} px is {model}'s reference input size (DFEW's "
                    "configuration)")
    else:
        message += f"; {model}'s reference input size is {reference} px"
    others = sorted(
        int(match.group(1)) for match in
        (re.fullmatch(rf"(\d+)px_{frames}f\.npy", p.name)
         for p in Path(workspace.tensors_dir).glob(f"*px_{frames}f.npy"))
        if match and store_paths(workspace.tensors_dir, int(match.group(1)), frames)[1].is_file())
    if others:
        listed = ", ".join(f"{n}px" for n in others)
        message += f" (stores here: {listed}; --size N trains on one of them)"
    return message


def dataset_factory(workspace, config: TrainConfig):
    """(has(table) -> bool mask of clips with data, make(table, train) -> dataset, source)."""
    size = input_size(config)
    common = {"size": size, "seed": config.seed}
    augment = Augment(crop_scale=config.crop_scale, flip=config.flip)
    if config.input == "tensors":
        message = missing_store_message(workspace, config.model, size, config.frames)
        if message is not None:
            raise TrainingError(message)
        store = open_tensor_store(workspace.tensors_dir, size, config.frames)

        def has(table):
            return table.index.isin(list(store.rows))

        def make(table, train):
            return TensorClipDataset(store, table, train=train, augment=augment, **common)

        return has, make, f"the tensor store {store.path.name}"

    def has(table):
        return np.array([bool(frame_files(workspace.frames_dir, int(c))) for c in table.index],
                        dtype=bool)

    def make(table, train):
        return FrameClipDataset(workspace.frames_dir, table, segments=config.segments,
                                per_segment=config.per_segment, train=train, augment=augment,
                                **common)

    return has, make, f"the aligned frames in {workspace.frames_dir}"


def build_datasets(workspace, config: TrainConfig, train_table, test_table):
    """The two datasets of a fold; clips without tensors/frames are left out and counted."""
    has, make, source = dataset_factory(workspace, config)
    train_keep, test_keep = has(train_table), has(test_table)
    info = {"train_clips": int(train_keep.sum()), "test_clips": int(test_keep.sum()),
            "left_out_no_faces": int((~train_keep).sum() + (~test_keep).sum())}
    if not train_keep.any():
        hint = ""
        if config.input == "frames":
            from dfew_build.bench.config import model_train_defaults

            store, index = store_paths(workspace.tensors_dir, input_size(config), config.frames)
            paper = model_train_defaults(config.model).get("input") == "frames"
            hint = ((f" ({config.model} samples U × V aligned frames by default, as its "
                     "paper)" if paper else "")
                    + (f", or pass --input tensors to train on {store.name}"
                       if store.is_file() and index.is_file() else ""))
        raise TrainingError(
            f"empty training set: none of the {len(train_table)} single-labelled clips of the "
            f"training folds (scheme {config.scheme!r}, test fold {config.fold}) is in "
            f"{source}; run `dfew-build preprocess` first{hint}")
    if not test_keep.any():
        raise TrainingError(f"empty test set: none of the {len(test_table)} clips of fold "
                            f"{config.fold} is in {source}; run `dfew-build preprocess` first")
    return make(train_table[train_keep], True), make(test_table[test_keep], False), info


def make_loaders(train_ds, test_ds, config: TrainConfig, *, rank: int = 0, world_size: int = 1,
                 device: torch.device = torch.device("cpu")):
    from torch.utils.data import DataLoader

    sampler = EpochSampler(train_ds.labels, shuffle=True, balanced=config.balanced,
                           seed=config.seed, rank=rank, world_size=world_size)
    common = {"num_workers": config.workers, "pin_memory": device.type == "cuda",
              # A private generator: loader start-up must not consume the global RNG.
              "generator": torch.Generator().manual_seed(config.seed)}
    train_loader = DataLoader(train_ds, batch_size=config.batch_size, sampler=sampler,
                              drop_last=False, **common)
    test_loader = DataLoader(test_ds, batch_size=config.batch_size, shuffle=False, **common)
    return train_loader, test_loader, sampler


# -- one fold -------------------------------------------------------------------------------

def _init_weights(model: nn.Module, source: str, workspace, config: TrainConfig) -> None:
    path = Path(source)
    if not path.is_file():  # a run name: its selected checkpoint
        run = runs.run_dir(workspace, source)
        path = run / ("best.pt" if (run / "best.pt").is_file() else "last.pt")
    state = ckpt.load_checkpoint(path, model_name=config.model)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise TrainingError(f"checkpoint {path} does not fit model {config.model!r} with "
                            f"these options: {str(exc).splitlines()[0]}") from None


def train_fold(workspace, config: TrainConfig, train_table, test_table, *, run_dir: Path,
               run_name: str, resume: bool = False, progress: bool = False,
               on_epoch_end: Callable[[int, dict], None] | None = None,
               dist: tuple[int, int, int] = (0, 1, 0)) -> dict:
    """Train ``config.model`` on one fold into ``run_dir``; returns the run's metrics.json."""
    rank, world_size, local_rank = dist
    writer = rank == 0
    metrics_path = run_dir / "metrics.json"
    if resume and metrics_path.is_file():
        done = runs.read_json(metrics_path)
        if done.get("epochs_done", 0) >= config.epochs:
            return done
    device = torch.device(f"cuda:{local_rank}" if config.device == "cuda" else "cpu")
    use_amp = config.amp and device.type == "cuda"
    train_ds, test_ds, info = build_datasets(workspace, config, train_table, test_table)

    torch.manual_seed(config.seed)
    model = build_model(config)
    loss_fn = build_loss(config, model.feature_dim)
    if config.init_from:  # a resumed run then overwrites these weights from last.pt
        _init_weights(model, config.init_from, workspace, config)
    use_filter = snippet_filter_on(model, config)
    step = TrainStep(model, loss_fn).to(device)
    optimizer = make_optimizer(config, step.parameters())
    scheduler = make_scheduler(config, optimizer)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start, best = 0, None
    last_path = run_dir / "last.pt"
    if resume and last_path.is_file():
        state = ckpt.load_checkpoint(last_path, model_name=config.model)
        model.load_state_dict(state["model"])
        loss_fn.load_state_dict(state["loss"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        start, best = int(state["epoch"]), state.get("best")
        ckpt.set_rng_state(state["rng"])
        if writer:
            runs.truncate_metrics(run_dir / "metrics.csv", start)
    train_loader, test_loader, sampler = make_loaders(train_ds, test_ds, config, rank=rank,
                                                      world_size=world_size, device=device)
    trainer = step
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        trainer = DistributedDataParallel(
            step, device_ids=[local_rank] if device.type == "cuda" else None)
    if writer:
        runs.write_json(run_dir / "config.json", {
            **config.to_dict(), "run": run_name, "lr_initial": config.learning_rate,
            "world_size": world_size, "torch": torch.__version__, **info})
        runs.record_run(workspace, run_name, model=config.model, loss=config.loss_name,
                        fold=config.fold, scheme=config.scheme, config=config.to_dict())
    base = {"model_name": config.model, "model_kwargs": config.model_kwargs,
            "num_classes": NUM_EMOTIONS, "loss_name": config.loss_name}
    for epoch in range(start + 1, config.epochs + 1):
        sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        trained = train_one_epoch(trainer, train_loader, optimizer, device=device,
                                  scaler=scaler, amp=use_amp, progress=progress,
                                  desc=f"fold {config.fold} epoch {epoch}/{config.epochs}")
        epoch_loss = _mean_over_ranks(trained["loss"], world_size, device)
        step_scheduler(scheduler, epoch_loss)
        row = None
        if writer:
            tested = evaluate(model, test_loader, device=device, amp=use_amp,
                              snippet_filter=use_filter)
            row = {"epoch": epoch, "fold": config.fold, "lr": lr, "train_loss": epoch_loss,
                   **{f"train_{k}": v for k, v in trained.items()
                      if k not in ("loss", "clips", "seconds", "clips_per_s")},
                   "train_clips_per_s": trained["clips_per_s"], "test_loss": tested["loss"],
                   "test_war": tested["war"], "test_uar": tested["uar"],
                   "test_uar_classes": tested["uar_classes"]}
            if "snippet_filter" in tested:  # the reported result is the one of the switch
                effect = tested["snippet_filter"]
                row.update({f"test_{k}_{way}": effect[way][k] for way in ("filtered", "unfiltered")
                            for k in ("war", "uar")})
            if best is None or (tested["uar"], tested["war"]) > (best["uar"], best["war"]):
                best = {"epoch": epoch, "uar": tested["uar"], "war": tested["war"]}
                ckpt.save_checkpoint({**base, "epoch": epoch, "model": model.state_dict(),
                                      "row": row}, run_dir / "best.pt")
            runs.append_metrics_row(run_dir / "metrics.csv", row)
            ckpt.save_checkpoint({
                **base, "epoch": epoch, "model": model.state_dict(),
                "loss": loss_fn.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "rng": ckpt.rng_state(), "best": best, "row": row}, last_path)
        _barrier(world_size)
        if on_epoch_end is not None:
            on_epoch_end(epoch, row)
    if not writer:
        return {}
    return finish_fold(workspace, config, model, test_loader, run_dir=run_dir,
                       run_name=run_name, device=device, amp=use_amp, best=best, info=info,
                       snippet_filter=use_filter)


def finish_fold(workspace, config, model, test_loader, *, run_dir, run_name, device, amp,
                best, info, snippet_filter: bool | None = None) -> dict:
    """Score the selected checkpoint: predictions.csv, confusion.png, tsne.png, metrics.json."""
    from dfew_build.bench import viz

    chosen = run_dir / ("best.pt" if config.select == "best" else "last.pt")
    state = ckpt.load_checkpoint(chosen, model_name=config.model)
    model.load_state_dict(state["model"])
    result = evaluate(model, test_loader, device=device, amp=amp,
                      collect_features=config.tsne, snippet_filter=snippet_filter)
    runs.write_predictions(run_dir / "predictions.csv", result, fold_of=config.fold)
    title = f"{runs.model_label(config.model, config.loss_name)}, fold {config.fold}"
    viz.plot_confusion(result["confusion"], run_dir / "confusion.png", title)
    method = None
    if config.tsne and result["features"] is not None:
        method = viz.plot_features(result["features"], result["y_true"], run_dir / "tsne.png",
                                   title=title, seed=config.seed)
    metrics = {key: result[key] for key in ("war", "uar", "n", "per_class_recall", "confusion",
                                            "uar_classes", "absent_classes")}
    if "snippet_filter" in result:
        metrics["snippet_filter"] = result["snippet_filter"]
    metrics.update({"run": run_name, "model": config.model, "loss": config.loss_name,
                    "fold": config.fold, "scheme": config.scheme, "select": config.select,
                    "epoch": int(state["epoch"]), "epochs_done": config.epochs,
                    "best": best, "feature_map": method, **info,
                    "finished": runs.utc_now_iso()})
    runs.write_json(run_dir / "metrics.json", metrics)
    runs.record_run(workspace, run_name, model=config.model, loss=config.loss_name,
                    fold=config.fold, scheme=config.scheme, config=config.to_dict(),
                    metrics=metrics, checkpoint=chosen, finished=True)
    return metrics


def _mean_over_ranks(value: float, world_size: int, device) -> float:
    if world_size <= 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item() / world_size)


def _barrier(world_size: int) -> None:
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()
