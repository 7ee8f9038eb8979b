"""One training epoch and one evaluation pass (DESIGN.md §10 rule 7: explicit arguments in,
dicts out), and what NR-DFERNet's snippet-based filter changed in a prediction set."""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

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
