"""WAR, UAR, per-class recall and the confusion matrix against scikit-learn; classes without
a test sample; the k-fold headline (mean ± sd over folds, pooled second)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,
                             confusion_matrix as sk_confusion, recall_score)

from dfew_build.bench.metrics import (absent_note, confusion_matrix, fold_headline,
                                      headline_text, mean_over_folds, per_class_recall,
                                      sd_over_folds, summarize, uar, uar_label, uar_scope, war)
from dfew_build.emotions import NAMES


@pytest.mark.parametrize("seed", range(5))
def test_against_sklearn_on_random_predictions(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.choice(7, size=300, p=[0.3, 0.15, 0.2, 0.15, 0.1, 0.02, 0.08])
    y_pred = np.where(rng.random(300) < 0.5, y_true, rng.integers(0, 7, 300))
    cm = confusion_matrix(y_true, y_pred)
    assert (cm == sk_confusion(y_true, y_pred, labels=range(7))).all()
    assert war(cm) == pytest.approx(accuracy_score(y_true, y_pred))
    assert uar(cm) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    expected = recall_score(y_true, y_pred, labels=range(7), average=None, zero_division=0)
    assert np.allclose(per_class_recall(cm), expected)


def test_hand_computed_example():
    y_true = [0, 0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 0, 1, 1, 0, 2]
    cm = confusion_matrix(y_true, y_pred, num_classes=3)
    assert cm.tolist() == [[3, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert war(cm) == pytest.approx(5 / 7)
    assert uar(cm) == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)


def test_absent_class_is_left_out_of_uar_like_sklearn_without_a_warning():
    # Class 6 (fear) is never true but is predicted once; class 5 is absent altogether.
    y_true = np.array([0, 0, 1, 1, 2, 3, 4])
    y_pred = np.array([0, 6, 1, 1, 2, 3, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = summarize(y_true, y_pred)
    assert result["per_class_recall"]["disgust"] is None
    assert result["per_class_recall"]["fear"] is None
    assert result["per_class_recall"]["happy"] == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about the predicted absent class
        expected = balanced_accuracy_score(y_true, y_pred)
    assert result["uar"] == pytest.approx(expected) == pytest.approx((0.5 + 1 + 1 + 1 + 1) / 5)
    assert result["war"] == pytest.approx(6 / 7)
    assert result["n"] == 7


def test_summarize_is_json_friendly_and_named():
    result = summarize([0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5, 5])
    assert list(result["per_class_recall"]) == list(NAMES)
    assert result["per_class_recall"]["fear"] == 0.0
    assert result["confusion"][6][5] == 1
    assert all(isinstance(row, list) for row in result["confusion"])


def test_empty_predictions_give_nan_not_an_error():
    cm = confusion_matrix([], [])
    assert cm.shape == (7, 7) and cm.sum() == 0
    assert math.isnan(war(cm)) and math.isnan(uar(cm))


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 7], [0, 1], "y_true holds class 7, outside 0..6"),
    ([0, 1], [0, -1], "y_pred holds class -1, outside 0..6"),
    ([0, 1, 2], [0, 1], "3 true labels but 2 predictions"),
    ([0.5], [0], "y_true must hold integer class indices"),
])
def test_bad_input_is_refused_with_a_clear_message(y_true, y_pred, message):
    with pytest.raises(ValueError) as excinfo:
        confusion_matrix(y_true, y_pred)
    assert str(excinfo.value) == message


def test_mean_over_folds_skips_folds_without_a_class():
    a = summarize([0, 0, 1], [0, 1, 1])           # happy 0.5, sad 1
    b = summarize([0, 2], [0, 0])                 # happy 1, neutral 0, no sad
    mean = mean_over_folds([a, b])
    assert mean["per_class_recall"]["happy"] == pytest.approx(0.75)
    assert mean["per_class_recall"]["sad"] == pytest.approx(1.0)      # only fold a
    assert mean["per_class_recall"]["neutral"] == pytest.approx(0.0)  # only fold b
    assert mean["per_class_recall"]["fear"] is None
    assert mean["war"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert mean["uar"] == pytest.approx((a["uar"] + b["uar"]) / 2)
    assert mean["n"] == 5


# -- classes without a test sample (issue 16, item 10) --------------------------------

def dfew_official_uar(y_true, y_pred):
    """DFEW's official get_UAR: scikit-learn's confusion matrix over the labels seen in
    y_true or y_pred, each row's diagonal over the row sum, averaged."""
    cm = sk_confusion(y_true, y_pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.mean([cm[i, i] / cm[i].sum() for i in range(len(cm))]))


def test_a_class_without_test_samples_is_undefined_and_the_uar_says_over_how_many():
    y_true = [0, 0, 1, 1, 2, 2, 3]
    y_pred = [0, 6, 1, 1, 2, 0, 3]          # fear (6) predicted, never true
    result = summarize(y_true, y_pred)
    assert result["uar"] == pytest.approx((0.5 + 1 + 0.5 + 1) / 4) == 0.75
    assert result["uar_classes"] == 4
    assert result["absent_classes"] == ["surprise", "disgust", "fear"]
    assert [result["per_class_recall"][n] for n in ("surprise", "disgust", "fear")] == \
        [None, None, None]
    assert uar_label(result) == "UAR over 4 present classes"
    assert uar_scope(result) == " over 4 present classes"
    assert absent_note(result) == ("no test clip of surprise, disgust, fear: recall "
                                   "undefined (–), left out of the UAR")
    # the peers' figure for the same predictions: 0/0 for fear, so NaN
    assert math.isnan(dfew_official_uar(y_true, y_pred))
    full = summarize(range(7), range(7))
    assert full["uar_classes"] == 7 and full["absent_classes"] == []
    assert uar_label(full) == "UAR" and absent_note(full) == ""


def test_confusion_figure_marks_classes_without_test_clips(tmp_path):
    from dfew_build.bench.viz import plot_confusion

    result = summarize([0, 0, 1, 1, 2, 2, 3], [0, 6, 1, 1, 2, 0, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # no 0/0 division anywhere
        plot_confusion(result["confusion"], tmp_path / "confusion.png", "absent classes")
    assert (tmp_path / "confusion.png").stat().st_size > 0


def test_confusion_figure_draws_dashes_not_zeros_for_absent_classes(tmp_path, monkeypatch):
    """Issue 17 item 6: the texts and masked cells the figure draws, not only a file."""
    from dfew_build.bench import viz

    drawn = []
    original = viz._save
    monkeypatch.setattr(viz, "_save", lambda fig, path: (drawn.append(fig), original(fig, path)))
    result = summarize([0, 0, 1, 1, 2, 2, 3], [0, 6, 1, 1, 2, 0, 3])
    viz.plot_confusion(result["confusion"], tmp_path / "confusion.png")
    axes = drawn[0].axes[0]
    texts = [t.get_text() for t in axes.texts]        # row by row, 7 cells each
    assert texts[4 * 7:] == ["–"] * 21                 # surprise, disgust, fear: no test clip
    assert texts[0] == "50.0\n(1)" and texts[7 + 1] == "100.0\n(2)"
    assert axes.images[0].get_array().mask[4:].all()
    assert [t.get_text() for t in axes.get_yticklabels()][4:] == [
        "surprise (no test clip)", "disgust (no test clip)", "fear (no test clip)"]


# -- the k-fold headline (issue 16, item 9) ---------------------------------------------

def predictions(sizes, correct):
    """Labels and predictions with ``sizes[k]`` clips of class k, the first ``correct[k]``
    of them right and the others predicted as the next class."""
    y_true, y_pred = [], []
    for k, (n, c) in enumerate(zip(sizes, correct)):
        y_true += [k] * n
        y_pred += [k] * c + [(k + 1) % 7] * (n - c)
    return np.array(y_true), np.array(y_pred)


# A fold of 200 clips at 181 right and one of 2000 at 999 right, class mixes chosen so
# that the figures are issue 16's: mean 70.31 / 70.23 against pooled 53.39 / 53.64.
SMALL_FOLD = ([14, 43, 41, 24, 39, 14, 25], [14, 37, 33, 23, 38, 12, 24])
LARGE_FOLD = ([295, 191, 111, 577, 387, 193, 246], [147, 88, 56, 311, 188, 81, 128])


def test_unequal_folds_mean_and_pooled_differ_and_both_are_reported():
    folds = [predictions(*SMALL_FOLD), predictions(*LARGE_FOLD)]
    per_fold = [summarize(t, p) for t, p in folds]
    assert [m["n"] for m in per_fold] == [200, 2000]
    assert per_fold[0]["war"] == 181 / 200 and per_fold[1]["war"] == 999 / 2000
    pooled = summarize(np.concatenate([t for t, _ in folds]),
                       np.concatenate([p for _, p in folds]))
    result = fold_headline(per_fold, pooled)
    # headline: the mean of the two folds
    assert result["war"] == pytest.approx((181 / 200 + 999 / 2000) / 2)
    uar_small = np.mean(np.divide(SMALL_FOLD[1], SMALL_FOLD[0]))
    uar_large = np.mean(np.divide(LARGE_FOLD[1], LARGE_FOLD[0]))
    assert result["uar"] == pytest.approx((uar_small + uar_large) / 2)
    assert (f"{100 * result['uar']:.2f}", f"{100 * result['war']:.2f}") == ("70.31", "70.23")
    # with the sd over folds (ddof 1: |a - b| / sqrt 2 for two folds)
    assert result["war_sd"] == pytest.approx(abs(181 / 200 - 999 / 2000) / math.sqrt(2))
    assert result["uar_sd"] == pytest.approx(abs(uar_small - uar_large) / math.sqrt(2))
    # second line: every prediction together
    assert result["pooled"]["war"] == pytest.approx((181 + 999) / 2200)
    pooled_uar = np.mean(np.divide(np.add(SMALL_FOLD[1], LARGE_FOLD[1]),
                                   np.add(SMALL_FOLD[0], LARGE_FOLD[0])))
    assert result["pooled"]["uar"] == pytest.approx(pooled_uar)
    assert (f"{100 * pooled['uar']:.2f}", f"{100 * pooled['war']:.2f}") == ("53.39", "53.64")
    assert headline_text(result) == (
        f"mean over 2 folds (± sd): UAR 70.31 ± {100 * result['uar_sd']:.2f}, WAR 70.23 ± "
        f"{100 * result['war_sd']:.2f}\npooled over all 2200 test predictions: UAR 53.39, "
        "WAR 53.64")


def test_equal_folds_give_nearly_equal_mean_and_pooled():
    rng = np.random.default_rng(0)
    per_fold, all_true, all_pred = [], [], []
    for _ in range(5):
        y_true = rng.choice(7, size=400, p=[0.3, 0.15, 0.2, 0.15, 0.1, 0.02, 0.08])
        y_pred = np.where(rng.random(400) < 0.55, y_true, rng.integers(0, 7, 400))
        per_fold.append(summarize(y_true, y_pred))
        all_true.append(y_true)
        all_pred.append(y_pred)
    result = fold_headline(per_fold, summarize(np.concatenate(all_true),
                                               np.concatenate(all_pred)))
    assert result["war"] == pytest.approx(result["pooled"]["war"], abs=1e-12)  # same n
    assert result["uar"] == pytest.approx(result["pooled"]["uar"], abs=0.005)
    assert result["folds"] == 5 and result["n"] == 2000


def test_sd_needs_two_folds():
    one = summarize([0, 1], [0, 0])
    assert sd_over_folds([one])["war"] is None
    result = fold_headline([one], one)
    assert result["war_sd"] is None
    assert headline_text(result) == (
        "mean over 1 fold (± sd): UAR 50.00, WAR 50.00\n"
        "pooled over all 2 test predictions: UAR 50.00 over 2 present classes, WAR 50.00")
