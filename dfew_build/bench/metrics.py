"""Benchmark metrics (DESIGN.md §8, DFEW §4.1): WAR, UAR, per-class recall, confusion matrix.

* **WAR** (weighted average recall) is plain accuracy: correct / all.
* **UAR** (unweighted average recall) is the mean of the per-class recalls.

Classes absent from ``y_true``: their recall is undefined (0/0). :func:`per_class_recall`
reports it as NaN and :func:`uar` averages over the classes *present* in ``y_true``, which
is exactly what scikit-learn's ``balanced_accuracy_score`` does — without its
"y_pred contains classes not in y_true" warning, since nothing here divides by zero.
A prediction of an absent class still counts as a miss of the true class.

Labels are 0-based class indices (0..num_classes-1). Pure numpy; no torch import.
"""

from __future__ import annotations

import numpy as np

from dfew_build.emotions import NAMES


def _as_labels(values, num_classes: int, what: str) -> np.ndarray:
    array = np.asarray(values).reshape(-1)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        if not np.all(np.equal(np.mod(array, 1), 0)):
            raise ValueError(f"{what} must hold integer class indices")
        array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        bad = array[(array < 0) | (array >= num_classes)][0]
        raise ValueError(f"{what} holds class {bad}, outside 0..{num_classes - 1}")
    return array.astype(np.int64)


def confusion_matrix(y_true, y_pred, num_classes: int = len(NAMES)) -> np.ndarray:
    """Counts ``[num_classes, num_classes]``: row = true class, column = predicted class."""
    t = _as_labels(y_true, num_classes, "y_true")
    p = _as_labels(y_pred, num_classes, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true labels but {p.size} predictions")
    return np.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(
        num_classes, num_classes)


def per_class_recall(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class from a confusion matrix; NaN for classes with no true sample."""
    confusion = np.asarray(confusion)
    support = confusion.sum(axis=1)
    recall = np.full(len(confusion), np.nan)
    present = support > 0
    recall[present] = np.diag(confusion)[present] / support[present]
    return recall


def war(confusion: np.ndarray) -> float:
    """Weighted average recall = accuracy. NaN for an empty matrix."""
    confusion = np.asarray(confusion)
    total = confusion.sum()
    return float(np.trace(confusion) / total) if total else float("nan")


def uar(confusion: np.ndarray) -> float:
    """Unweighted average recall: mean recall over the classes present in y_true."""
    recall = per_class_recall(confusion)
    present = ~np.isnan(recall)
    return float(recall[present].mean()) if present.any() else float("nan")


def summarize(y_true, y_pred, num_classes: int = len(NAMES),
              class_names: tuple[str, ...] = NAMES) -> dict:
    """All metrics of one prediction set as a JSON-able dict (fractions, not percent).

    ``{"war", "uar", "n", "per_class_recall": {name: recall or None}, "confusion": [[...]]}``
    """
    confusion = confusion_matrix(y_true, y_pred, num_classes)
    recall = per_class_recall(confusion)
    names = class_names if len(class_names) == num_classes else tuple(map(str, range(num_classes)))
    return {
        "war": war(confusion),
        "uar": uar(confusion),
        "n": int(confusion.sum()),
        "per_class_recall": {name: (None if np.isnan(r) else float(r))
                             for name, r in zip(names, recall)},
        "confusion": confusion.tolist(),
    }


def mean_over_folds(fold_metrics: list[dict]) -> dict:
    """Mean of WAR, UAR and each class's recall over folds (classes absent from a fold's
    test set are averaged over the folds where they are present)."""
    if not fold_metrics:
        raise ValueError("no fold metrics to average")
    names = list(fold_metrics[0]["per_class_recall"])
    out = {"war": float(np.mean([m["war"] for m in fold_metrics])),
           "uar": float(np.mean([m["uar"] for m in fold_metrics])),
           "n": int(sum(m["n"] for m in fold_metrics)), "per_class_recall": {}}
    for name in names:
        values = [m["per_class_recall"][name] for m in fold_metrics
                  if m["per_class_recall"][name] is not None]
        out["per_class_recall"][name] = float(np.mean(values)) if values else None
    return out
