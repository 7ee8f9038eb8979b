"""DFEW's protocol around the trainer: one fold or all of them, resuming, aggregating,
dry runs, and re-scoring a trained checkpoint (`dfew-build train` / `evaluate`).

Multi-GPU: launched by ``torchrun --nproc_per_node N -m dfew_build.cli train …`` (or the
``dfew-build`` script), every process sees ``WORLD_SIZE`` > 1; :func:`train` then joins the
process group (NCCL on CUDA, Gloo on CPU), each rank trains on its shard of every epoch
(DistributedDataParallel averages the gradients) and only rank 0 evaluates and writes the
run folder and the ``run`` table.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from dfew_build.bench import runs
from dfew_build.bench.config import TrainConfig, validate
from dfew_build.bench.data import load_labelled_clips, missing_folds_hint, split_fold
from dfew_build.bench.metrics import absent_note, fold_headline, headline_text, summarize
from dfew_build.errors import TrainingError
from dfew_build.tempfiles import temp_path

# Settings a resumed run may change: they do not change what is computed.
RESUME_OVERRIDES = ("epochs", "device", "workers", "amp")


def _distributed(config: TrainConfig) -> tuple[int, int, int]:
    """(rank, world_size, local_rank); joins the process group under torchrun."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return 0, 1, 0
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if config.device == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if config.device == "cuda" else "gloo")
    return dist.get_rank(), world_size, local_rank


def _from_rank0(value, world_size: int):
    if world_size <= 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _labelled(workspace, config: TrainConfig) -> pd.DataFrame:
    table = load_labelled_clips(workspace, config.scheme, config.threshold,
                                plurality=config.plurality)
    if table.empty:
        raise TrainingError(
            f"no single-labelled clips in the folds of scheme {config.scheme!r} (a clip needs "
            f"more than {config.threshold} votes for one emotion): import votes with "
            "`dfew-build votes import`, then run `dfew-build folds`")
    return table


def _resumed_config(workspace, name: str, overrides: dict) -> TrainConfig:
    saved = runs.run_config(workspace, name, action="to resume")
    saved.setdefault("keep", "both")  # a run from before --keep kept both: it still does
    config = TrainConfig.from_dict(saved)
    changes = {k: v for k, v in overrides.items() if k in RESUME_OVERRIDES and v is not None}
    return replace(config, **changes)


def train(workspace, config: TrainConfig | None = None, *, resume: str | None = None,
          overrides: dict | None = None, progress: bool = False,
          on_epoch_end: Callable[[int, dict], None] | None = None) -> dict:
    """Train one fold (``config.fold`` = k) or all folds (``"all"``) into a new run folder,
    or continue the run named ``resume`` (its config.json, with ``overrides`` among
    epochs/device/workers/amp). Returns ``{"run", "run_dir", "metrics"}``."""
    if resume:
        config = _resumed_config(workspace, resume, overrides or {})
    if config is None:
        raise TrainingError("give a TrainConfig, or the name of a run to resume")
    config = validate(config)
    rank, world_size, local_rank = _distributed(config)
    try:
        return _train(workspace, config, resume, (rank, world_size, local_rank), progress,
                      on_epoch_end)
    finally:
        if world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


def _train(workspace, config, resume, dist, progress, on_epoch_end) -> dict:
    from dfew_build.bench.train import check_buildable, check_fold

    rank, world_size, _local_rank = dist
    table = _labelled(workspace, config)
    folds = sorted(int(f) for f in table["fold"].unique()) if config.fold == "all" \
        else [config.fold]
    if config.fold == "all":
        # A fold left empty by the label rule would silently turn a k-fold scheme into a
        # (k-1)-fold headline: refuse, naming the fix.
        absent = [f for f in table.attrs.get("scheme_folds", []) if f not in folds]
        hint = missing_folds_hint(table, absent)
        if hint:
            raise TrainingError(f"--fold all: {hint}")
    splits = {k: split_fold(table, k) for k in folds}
    name = resume or (runs.new_run_name(workspace.runs_dir, config.model,
                                        config.loss_name.replace("+", "-"), config.fold)
                      if rank == 0 else None)
    name = _from_rank0(name, world_size)
    base = runs.run_dir(workspace, name)
    # Everything a run can be refused for is checked before its folder exists (every fold's
    # data, the model, loss and --init-from), so a refused run leaves nothing behind.
    check_buildable(workspace, config)
    for k in folds:
        check_fold(workspace, replace(config, fold=k), *splits[k],
                   run_dir=base if config.fold != "all" else base / f"fold{k}",
                   resume=bool(resume))
    if rank == 0:
        runs.remove_stale_temporaries(workspace)  # what a killed train or evaluate left
        base.mkdir(parents=True, exist_ok=True)
    try:
        return _run_folds(workspace, config, name, base, folds, splits, resume, dist,
                          progress, on_epoch_end)
    except KeyboardInterrupt:
        raise _interrupted(workspace, config, name, base, folds, created=not resume,
                           writer=rank == 0) from None


def _run_folds(workspace, config, name, base, folds, splits, resume, dist, progress,
               on_epoch_end) -> dict:
    from dfew_build.bench.train import deterministic, train_fold

    rank = dist[0]
    kwargs = {"progress": progress, "on_epoch_end": on_epoch_end, "dist": dist,
              "resume": bool(resume)}
    with deterministic(config.deterministic):
        if config.fold != "all":
            train_table, test_table = splits[config.fold]
            metrics = train_fold(workspace, config, train_table, test_table, run_dir=base,
                                 run_name=name, **kwargs)
            return {"run": name, "run_dir": base, "metrics": metrics}
        if rank == 0:
            runs.write_json(base / "config.json", {**config.to_dict(), "run": name,
                                                   "folds": folds})
            runs.record_run(workspace, name, model=config.model, loss=config.loss_name,
                            fold=None, scheme=config.scheme, config=config.to_dict())
        results = []
        for k in folds:
            train_table, test_table = splits[k]
            (base / f"fold{k}").mkdir(exist_ok=True)
            results.append(train_fold(workspace, replace(config, fold=k), train_table,
                                      test_table, run_dir=base / f"fold{k}",
                                      run_name=f"{name}/fold{k}", **kwargs))
    metrics = aggregate(workspace, base, name, config, folds) if rank == 0 else {}
    return {"run": name, "run_dir": base, "metrics": metrics}


def _fold_state(folder: Path) -> tuple[bool, int]:
    """(finished, epochs saved in last.pt) of one fold's run folder."""
    if (folder / "metrics.json").is_file():
        return True, 0
    if not (folder / "last.pt").is_file():
        return False, 0
    import torch

    try:  # mmap: only the epoch number is read, not the weights
        state = torch.load(folder / "last.pt", map_location="cpu", weights_only=True,
                           mmap=True)
        return False, int(state.get("epoch", 0))
    except Exception:  # a checkpoint torch cannot read: resuming will say so
        return False, 0


def _interrupted(workspace, config: TrainConfig, name: str, base: Path, folds: list[int], *,
                 created: bool, writer: bool):
    """The Interrupted error of a Ctrl-C in `train`: folds finished, epochs saved, and the
    `train --resume` that continues. A new run that saved nothing is removed (it would
    only be a folder that `evaluate` cannot use); the same command starts it again."""
    import shutil

    from dfew_build.errors import Interrupted

    single = config.fold != "all"
    states = {k: _fold_state(base if single else base / f"fold{k}") for k in folds}
    finished = [k for k in folds if states[k][0]]
    current = next((k for k in folds if not states[k][0]), None)
    saved = states[current][1] if current is not None else 0
    if created and writer and not finished and not saved:
        shutil.rmtree(base, ignore_errors=True)
        return Interrupted(f"stopped in epoch 1 of {config.epochs}"
                           + ("" if single else f" of fold {current}")
                           + f", before any epoch finished: nothing to keep, so the run "
                             f"folder {base} is removed")
    epochs = f"epochs 1-{saved} of {config.epochs}" if saved > 1 else \
        f"epoch 1 of {config.epochs}" if saved else f"no epoch of {config.epochs}"
    if single:
        done = f"stopped in epoch {saved + 1} of {config.epochs}: {epochs} saved in {base}"
    else:
        done = (f"stopped in fold {current} of folds {', '.join(map(str, folds))}: "
                + (f"fold{'s' if len(finished) > 1 else ''} "
                   f"{', '.join(map(str, finished))} finished, " if finished else "")
                + f"fold {current} has {epochs} saved, in {base}")
    return Interrupted(done, resume=["train", "--resume", name])


def aggregate(workspace, base: Path, name: str, config: TrainConfig, folds: list[int]) -> dict:
    """The k-fold result as summary.csv/summary.md in the layout of the paper's Tables 4–6:
    each fold, their **mean** — the headline, as DFEW's official code, DFER-CLIP and
    MAE-DFER report it — and standard deviation over folds, and **pooled** over all
    predictions as a second line (see ``bench.metrics.fold_headline``)."""
    from dfew_build.bench import viz

    per_fold = [runs.read_json(base / f"fold{k}" / "metrics.json") for k in folds]
    pooled_predictions = pd.concat([runs.read_predictions(base / f"fold{k}" / "predictions.csv")
                                    for k in folds], ignore_index=True)
    tmp = temp_path(base / "predictions.csv")
    pooled_predictions.to_csv(tmp, index=False)
    os.replace(tmp, base / "predictions.csv")
    pooled = summarize(pooled_predictions["label"] - 1, pooled_predictions["prediction"] - 1)
    result = fold_headline(per_fold, pooled)
    label = runs.model_label(config.model, config.loss_name)
    table = runs.paper_table([(label, m) for m in per_fold]
                             + [(label, result["mean"]), (label, result["sd"]), (label, pooled)])
    table.insert(1, "Split", [f"fd{k}" for k in folds] + ["mean", "sd", "pooled"])
    tmp = temp_path(base / "summary.csv")
    table.to_csv(tmp, index=False)
    os.replace(tmp, base / "summary.csv")
    notes = [f"fd{m['fold']}: {absent_note(m)}" for m in per_fold if absent_note(m)]
    (base / "summary.md").write_text(
        f"# {label} on scheme {config.scheme!r}, {len(folds)}-fold\n\n"
        "Recall per emotion, UAR and WAR in percent. `mean` (the headline, as DFEW's "
        "official code, DFER-CLIP and MAE-DFER report) averages the folds and `sd` is the "
        "standard deviation over folds; `pooled` scores all test predictions together. "
        "A class without a test clip in a fold has no recall there (–) and is left out of "
        "that fold's UAR.\n\n"
        + runs.to_markdown(table) + "\n" + headline_text(result).replace("\n", "  \n") + "\n"
        + "".join(f"\n{note}" for note in notes) + ("\n" if notes else ""),
        encoding="utf-8")
    viz.plot_confusion(pooled["confusion"], base / "confusion.png", f"{label}, pooled over "
                       f"{len(folds)} folds")
    metrics = {key: result[key] for key in ("war", "uar", "war_sd", "uar_sd", "n",
                                            "per_class_recall", "mean", "sd", "pooled")}
    metrics.update({"headline": "mean over folds", "confusion": pooled["confusion"],
                    "run": name, "model": config.model, "loss": config.loss_name, "fold": "all",
                    "scheme": config.scheme, "folds": folds,
                    "per_fold": [{k: m.get(k) for k in ("fold", "war", "uar", "n",
                                                        "per_class_recall", "uar_classes",
                                                        "absent_classes")}
                                 for m in per_fold], "finished": runs.utc_now_iso()})
    runs.write_json(base / "metrics.json", metrics)
    runs.record_run(workspace, name, model=config.model, loss=config.loss_name, fold=None,
                    scheme=config.scheme, config=config.to_dict(), metrics=metrics,
                    finished=True)
    return metrics


def dry_run(workspace, config: TrainConfig) -> dict:
    """One tiny batch (2 clips) through the real data path, forward and backward, nothing
    written: a quick check for CI that the workspace, data and model fit together."""
    import torch

    from dfew_build.bench.train import (TrainStep, build_datasets, build_loss, build_model,
                                        make_optimizer, train_one_epoch)

    config = validate(config)
    fold = 1 if config.fold == "all" else config.fold
    config = replace(config, fold=fold, batch_size=min(2, config.batch_size), workers=0)
    train_table, test_table = split_fold(_labelled(workspace, config), fold)
    train_ds, _test_ds, info = build_datasets(workspace, config, train_table, test_table)
    torch.manual_seed(config.seed)
    model = build_model(config)
    step = TrainStep(model, build_loss(config, model.feature_dim))
    device = torch.device("cuda" if config.device == "cuda" else "cpu")
    step.to(device)
    loader = torch.utils.data.DataLoader(train_ds, batch_size=config.batch_size, shuffle=False)
    out = train_one_epoch(step, loader, make_optimizer(config, step.parameters()),
                          device=device, max_steps=1, amp=config.amp)
    shape = list(train_ds[0][0].shape)
    return {"model": config.model, "loss_name": config.loss_name, "fold": fold,
            "batch": [out["clips"], *shape], **{k: out[k] for k in out if k != "clips_per_s"},
            **info}


def evaluate_run(workspace, name: str, *, on=None, fold: int | None = None,
                 scheme: str | None = None, checkpoint: str | None = None,
                 device: str = "cpu", workers: int | None = None,
                 snippet_filter: bool | None = None, progress: bool = False) -> dict:
    """Re-score a run's checkpoint: on its own test fold, on fold k of a scheme, or — with
    ``on`` (another workspace) and no fold — on every single-labelled clip there (transfer).
    Writes ``{run}/evaluations/{stamp}/`` (metrics.json, predictions.csv, confusion.png).

    For a model with NR-DFERNet's snippet-based filter, ``snippet_filter`` (None: the run's
    setting, else the model's default) chooses the reported predictions and the metrics'
    ``snippet_filter`` entry gives both, with what changed (``train.filter_effect``)."""
    import torch

    from dfew_build.bench import checkpoint as ckpt, viz
    from dfew_build.bench.train import build_model, dataset_factory, evaluate, snippet_filter_on

    folder = runs.run_dir(workspace, name)
    config = TrainConfig.from_dict(runs.run_config(workspace, name))
    if config.fold == "all":
        raise TrainingError(f"{name!r} is a run over all folds: evaluate one fold's run, "
                            f"e.g. {name}/fold1")
    which = checkpoint or config.select or "last"
    if which not in ("best", "last"):
        raise TrainingError(f"--checkpoint must be best or last, got {which!r}")
    runs.remove_stale_temporaries(workspace)
    state = ckpt.load_checkpoint(runs.checkpoint_path(workspace, name, which, config.keep),
                                 model_name=config.model)
    target = on or workspace
    config = replace(config, device=device, workers=config.workers if workers is None else workers,
                     snippet_filter=config.snippet_filter if snippet_filter is None
                     else snippet_filter)
    config = validate(config)
    if on is not None and fold is None:
        table, where = load_labelled_clips(target, None, config.threshold), "all clips"
    else:
        scheme = scheme or config.scheme
        fold = fold or config.fold
        _, table = split_fold(load_labelled_clips(target, scheme, config.threshold,
                                                  plurality=config.plurality), fold)
        where = f"fold {fold} of scheme {scheme!r}"
    has, make, source = dataset_factory(target, config)
    keep = has(table)
    if not keep.any():
        raise TrainingError(f"nothing to evaluate: none of the {len(table)} single-labelled "
                            f"clips ({where}) is in {source}; run `dfew-build preprocess` first")
    loader = torch.utils.data.DataLoader(make(table[keep], False), batch_size=config.batch_size,
                                         num_workers=config.workers)
    model = build_model(config)
    model.load_state_dict(state["model"])
    use_filter = snippet_filter_on(model, config)
    dev = torch.device("cuda" if device == "cuda" else "cpu")
    result = evaluate(model.to(dev), loader, device=dev, amp=config.amp, progress=progress,
                      snippet_filter=use_filter)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out, n = folder / "evaluations" / stamp, 1
    while out.exists():
        n += 1
        out = folder / "evaluations" / f"{stamp}-{n}"
    out.mkdir(parents=True)
    runs.write_predictions(out / "predictions.csv", result, fold_of=fold or 0)
    viz.plot_confusion(result["confusion"], out / "confusion.png",
                       f"{runs.model_label(config.model, config.loss_name)} on {where}")
    metrics = {k: result[k] for k in ("war", "uar", "n", "per_class_recall", "confusion",
                                      "uar_classes", "absent_classes")}
    if "snippet_filter" in result:
        metrics["snippet_filter"] = result["snippet_filter"]
    metrics.update({"run": name, "checkpoint": which, "epoch": int(state["epoch"]),
                    "workspace": str(target.root), "on": where,
                    "left_out_no_faces": int((~np.asarray(keep)).sum()),
                    "output": str(out)})
    runs.write_json(out / "metrics.json", metrics)
    return metrics
