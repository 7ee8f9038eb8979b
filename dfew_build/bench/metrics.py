"""Benchmark metrics (DESIGN.md §8, DFEW §4.1): WAR, UAR, per-class recall, confusion matrix,
and the k-fold headline.

* **WAR** (weighted average recall) is plain accuracy: correct / all.
* **UAR** (unweighted average recall) is the mean of the per-class recalls.

Classes absent from ``y_true`` (no test sample): their recall is **undefined** (0/0).
:func:`per_class_recall` reports it as NaN (``None`` in :func:`summarize`, "–" in tables
and figures) and :func:`uar` averages over the classes *present* in ``y_true`` — what
scikit-learn's ``balanced_accuracy_score`` does, without its "y_pred contains classes not
in y_true" warning — and every output says so ("UAR over 4 present classes",
:func:`uar_label`). A prediction of an absent class still counts as a miss of the true
class. Other code differs here: DFEW's official ``get_UAR`` builds scikit-learn's confusion
matrix over the labels seen in y_true *or* y_pred and divides each row by its sum, so a
class that is predicted but has no test sample gives 0/0 and its UAR is NaN. Example:
y = [0, 0, 1, 1, 2, 2, 3], p = [0, 6, 1, 1, 2, 0, 3] gives UAR 0.75 over the 4 present
classes here (classes 4, 5, 6 undefined), NaN there.

The k-fold headline (:func:`fold_headline`) is the mean of the folds' UAR and WAR with
their standard deviation over folds, as DFEW's official code, DFER-CLIP and MAE-DFER
report; scoring all folds' predictions together ("pooled") is the second line. The two
agree when the folds have equal sizes and class mixes (DFEW's folds: 49.9487 vs 49.9521)
and can be far apart otherwise (a fold of 200 clips at 90 % and one of 2000 at 50 %).

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

    ``{"war", "uar", "n", "per_class_recall": {name: recall or None}, "confusion": [[...]],
    "uar_classes": number of classes present (the UAR's denominator),
    "absent_classes": [names of the classes without a test sample]}``
    """
    confusion = confusion_matrix(y_true, y_pred, num_classes)
    recall = per_class_recall(confusion)
    names = class_names if len(class_names) == num_classes else tuple(map(str, range(num_classes)))
    absent = [name for name, r in zip(names, recall) if np.isnan(r)]
    return {
        "war": war(confusion),
        "uar": uar(confusion),
        "n": int(confusion.sum()),
        "per_class_recall": {name: (None if np.isnan(r) else float(r))
                             for name, r in zip(names, recall)},
        "confusion": confusion.tolist(),
        "uar_classes": len(names) - len(absent),
        "absent_classes": absent,
    }


def uar_label(metrics: dict) -> str:
    """"UAR", or "UAR over K present classes" when some class had no test sample."""
    return "UAR" + uar_scope(metrics)


def uar_scope(metrics: dict) -> str:
    """'' or " over K present classes": what the UAR averages, to put after its value."""
    absent = metrics.get("absent_classes") or []
    if not absent:
        return ""
    present = metrics.get("uar_classes", len(metrics["per_class_recall"]) - len(absent))
    return f" over {present} present class{'' if present == 1 else 'es'}"


def absent_note(metrics: dict) -> str:
    """A sentence naming the classes without a test sample ('' when there are none)."""
    absent = metrics.get("absent_classes") or []
    if not absent:
        return ""
    return (f"no test clip of {', '.join(absent)}: recall undefined (–), left out of the "
            "UAR")


def mean_over_folds(fold_metrics: list[dict]) -> dict:
    """Mean of WAR, UAR and each class's recall over folds (classes absent from a fold's
    test set are averaged over the folds where they are present)."""
    return _over_folds(fold_metrics, np.mean)


def sd_over_folds(fold_metrics: list[dict]) -> dict:
    """Standard deviation over folds (sample sd, ddof = 1) of WAR, UAR and each class's
    recall, in the layout of :func:`mean_over_folds`; None where fewer than two folds
    have the value."""
    return _over_folds(fold_metrics, lambda v: np.std(v, ddof=1), minimum=2)


def _over_folds(fold_metrics: list[dict], reduce, minimum: int = 1) -> dict:
    if not fold_metrics:
        raise ValueError("no fold metrics to average")

    def of(values):
        values = [v for v in values if v is not None and not np.isnan(v)]
        return float(reduce(values)) if len(values) >= minimum else None

    names = list(fold_metrics[0]["per_class_recall"])
    return {"war": of([m["war"] for m in fold_metrics]),
            "uar": of([m["uar"] for m in fold_metrics]),
            "n": int(sum(m["n"] for m in fold_metrics)),
            "per_class_recall": {name: of([m["per_class_recall"][name] for m in fold_metrics])
                                 for name in names}}


def fold_headline(fold_metrics: list[dict], pooled: dict) -> dict:
    """The k-fold result: ``uar``/``war`` = the mean over folds (the headline),
    ``uar_sd``/``war_sd`` their standard deviation over folds (ddof = 1; None for one fold),
    ``per_class_recall`` the per-class mean, ``n`` all test clips, ``folds`` k, and
    ``pooled``: :func:`summarize` of all the folds' predictions together (second line)."""
    mean, sd = mean_over_folds(fold_metrics), sd_over_folds(fold_metrics)
    return {"war": mean["war"], "uar": mean["uar"], "war_sd": sd["war"], "uar_sd": sd["uar"],
            "n": mean["n"], "folds": len(fold_metrics),
            "per_class_recall": mean["per_class_recall"], "mean": mean, "sd": sd,
            "pooled": pooled}


def headline_text(result: dict) -> str:
    """Two lines, in percent: the mean ± sd over folds, then the pooled figures."""
    def pct(value):
        return "–" if value is None or value != value else f"{100 * value:.2f}"

    def pm(value, sd):
        return pct(value) + ("" if sd is None else f" ± {pct(sd)}")

    pooled = result["pooled"]
    folds = f"{result['folds']} fold{'' if result['folds'] == 1 else 's'}"
    return (f"mean over {folds} (± sd): UAR {pm(result['uar'], result['uar_sd'])}"
            f", WAR {pm(result['war'], result['war_sd'])}\n"
            f"pooled over all {pooled['n']} test predictions: UAR {pct(pooled['uar'])}"
            f"{uar_scope(pooled)}, WAR {pct(pooled['war'])}")
