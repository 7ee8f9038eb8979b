"""The single-label rule l_k > r and DFEW's Table 2."""

import numpy as np
import pandas as pd
import pytest

from dfew_build.errors import LabelsError
from dfew_build.labels.consensus import single_labels
from dfew_build.labels.matrix import matrix_from_counts
from dfew_build.labels.subset import duration_bins, table2, table2_records


def test_threshold_boundary_six_is_not_single_seven_is():
    matrix = matrix_from_counts([(1, 1, 6), (1, 2, 4),      # 6 of 10: not single-labelled
                                 (2, 7, 7), (2, 5, 3),      # 7 of 10: fear
                                 (3, 3, 10)])               # unanimous neutral
    labels = single_labels(matrix)
    assert labels.to_dict() == {2: 7, 3: 3}
    assert labels.dtype == np.int64 and labels.name == "label"
    assert single_labels(matrix, threshold=5).to_dict() == {1: 1, 2: 7, 3: 3}
    assert single_labels(matrix, threshold=9).to_dict() == {3: 3}


def test_two_emotions_over_the_threshold_is_no_single_label():
    matrix = matrix_from_counts([(1, 1, 7), (1, 2, 7)])  # 14 votes, threshold 6
    assert single_labels(matrix).empty


@pytest.mark.parametrize("bad", [-1, 1.5, True, "6"])
def test_bad_threshold(bad):
    with pytest.raises(LabelsError, match="the single-label threshold must be a whole number"):
        single_labels(matrix_from_counts([(1, 1, 1)]), bad)


def test_empty_matrix():
    assert single_labels(matrix_from_counts([])).empty


def test_duration_bins_follow_dfew():
    assert duration_bins([0.0, 1.99, 2.0, 4.999, 5.0, 30.0]).tolist() == [0, 0, 1, 1, 2, 2]


def test_table2_counts_totals_and_percent():
    labels = pd.Series([1, 1, 7, 3, 1], index=[10, 11, 12, 13, 14])
    durations = pd.Series([1.0, 2.5, 6.0, 2.0, 5.0, 9.9], index=[10, 11, 12, 13, 14, 15])
    frame = table2(labels, durations)
    assert list(frame.index) == ["happy", "sad", "neutral", "angry", "surprise", "disgust",
                                 "fear", "Total"]
    assert list(frame.columns) == ["0-2s", "2-5s", "5s+", "Total", "Percent"]
    assert frame.loc["happy"].tolist() == [1, 1, 1, 3, 60.0]
    assert frame.loc["neutral"].tolist() == [0, 1, 0, 1, 20.0]
    assert frame.loc["fear"].tolist() == [0, 0, 1, 1, 20.0]
    assert frame.loc["Total"].tolist() == [1, 2, 2, 5, 100.0]
    records = table2_records(frame)
    assert records[0] == {"emotion": "happy", "code": 1, "0-2s": 1, "2-5s": 1, "5s+": 1,
                          "total": 3, "percent": 60.0}
    assert records[-1]["code"] is None
    with pytest.raises(LabelsError, match=r"no duration for clip\(s\) \[99\]"):
        table2(pd.Series([1], index=[99]), durations)
