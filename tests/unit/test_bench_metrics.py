"""WAR, UAR, per-class recall and the confusion matrix against scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,
                             confusion_matrix as sk_confusion, recall_score)

from dfew_build.bench.metrics import (confusion_matrix, mean_over_folds, per_class_recall,
                                      summarize, uar, war)
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
