"""The benchmark trainer for one fold (DESIGN.md §8); DFEW's protocol around it (all folds,
resuming, aggregating) is ``bench.protocol``.

* :func:`check_fold` raises every error a fold's run can be refused for (data, model,
  loss, ``--init-from``), so ``protocol.train`` calls it for every fold before it makes
  the run folder: a refused run leaves nothing behind;
* :func:`train_fold` runs one fold into a run folder, resumable from its ``last.pt``;
  the epoch loop's parts are ``bench.loop`` (:func:`train_one_epoch`, :func:`evaluate`)
  and ``bench.build`` (model, loss, optimiser, schedule).

Reproducibility: the model is initialised from ``torch.manual_seed(seed)``; the sampling
order and augmentation come from generators seeded by ``(seed, epoch, …)`` (see
``bench.data``); ``last.pt`` holds the model, optimiser, scheduler, scaler and torch RNG
states after each epoch, so a resumed run continues exactly where an uninterrupted one
would be. Deterministic algorithms are requested (warn-only where an operation has none).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from dfew_build.bench import checkpoint as ckpt
from dfew_build.bench import runs
from dfew_build.bench.build import (build_loss, build_model,  # noqa: F401
                                    check_buildable, deterministic, init_weights,
                                    make_optimizer, make_scheduler, snippet_filter_on,
                                    step_scheduler)
from dfew_build.bench.config import TrainConfig, input_size
from dfew_build.bench.data import (Augment, EpochSampler, FrameClipDataset, TensorClipDataset,
                                   frame_files, open_tensor_store, store_paths)
from dfew_build.bench.loop import (TrainStep, evaluate, filter_effect,  # noqa: F401
                                   train_one_epoch)
from dfew_build.emotions import NUM_EMOTIONS
from dfew_build.errors import TrainingError


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

def check_fold(workspace, config: TrainConfig, train_table, test_table, *, run_dir: Path,
               resume: bool = False) -> None:
    """Raise the TrainingError that :func:`train_fold` would raise on its data (no tensor
    store, empty training or test set) or, resuming, on its state: a finished fold asked
    for more epochs whose ``last.pt`` was removed by ``--keep best``. Model, loss and
    ``--init-from`` are ``bench.build.check_buildable``'s (the same for every fold)."""
    build_datasets(workspace, config, train_table, test_table)
    if not resume or not (run_dir / "metrics.json").is_file():
        return
    done = runs.read_json(run_dir / "metrics.json")
    if done.get("epochs_done", 0) < config.epochs and not (run_dir / "last.pt").is_file():
        raise TrainingError(
            f"{run_dir.relative_to(workspace.runs_dir)} finished {done.get('epochs_done')} "
            f"epochs and kept only best.pt (--keep {config.keep}): without last.pt (the "
            f"optimiser state) it cannot go on to {config.epochs} epochs; train a new run "
            f"with --init-from {run_dir / 'best.pt'} (weights only), or train again with "
            "--keep both")


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
        init_weights(model, config.init_from, workspace, config)
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
    # best.pt is written only if it is to stay, or the result it holds is reported.
    keeps = ckpt.kept_files(config.keep or "both") + (
        ("best.pt",) if config.select == "best" else ())
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
                if "best.pt" in keeps:  # weights only: no optimiser state (RESUME_KEYS)
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
    ckpt.apply_keep(run_dir, config.keep or "both")  # after metrics.json: the fold is done
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
