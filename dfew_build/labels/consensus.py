"""The single-label subset: emotion k when l_k / n_i > r / n (DFEW: r = 6 of n = 10).

DFEW keeps emotion k as a clip's label when more than r = 6 of its n = 10 votes are k
(Jiang et al. 2020, §3.2). A clip with another number n_i of counted votes (a vendor file
with 9 or 11 votes, an annotator excluded, a replacement added) is judged by the same
share: l_k / n_i > r / n, evaluated in integers as l_k * n > r * n_i (no float rounding at
the boundary). With exactly n votes that is DFEW's l_k > r.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfew_build.errors import LabelsError
from dfew_build.labels.matrix import MIN_COUNTED_VOTES

DEFAULT_THRESHOLD = 6
DEFAULT_RATERS = 10


def _whole(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise LabelsError(f"the single-label {name} must be a whole number >= {minimum}, "
                          f"not {value!r}")
    return int(value)


def single_labels(matrix: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD,
                  raters: int = DEFAULT_RATERS,
                  min_votes: int = MIN_COUNTED_VOTES) -> pd.Series:
    """Clip id -> emotion code 1..7 for the clips where one emotion k has
    l_k * raters > threshold * n_i (n_i: the clip's votes, at least `min_votes`); other
    clips are left out.

    matrix: clips x 7 int counts, columns in DFEW order (as `vote_matrix` returns them).
    threshold r, raters n: DFEW's r = 6 of n = 10 (more than 60 %). When r / n < 1/2 two
    emotions could both pass; such a clip has no single label. Raises LabelsError for a
    threshold or raters that is not a whole number (threshold >= 0, raters >= 1).
    """
    threshold = _whole(threshold, "threshold", 0)
    raters = _whole(raters, "number of raters", 1)
    values = np.asarray(matrix.to_numpy(), dtype=np.int64)
    if values.ndim != 2 or (len(values) and values.shape[1] != 7):
        raise LabelsError(f"a vote matrix has 7 emotion columns, not {values.shape[-1]}")
    totals = values.sum(axis=1, keepdims=True)
    passing = values * raters > threshold * totals
    chosen = (passing.sum(axis=1) == 1) & (totals[:, 0] >= min_votes)
    top = passing.argmax(axis=1)
    return pd.Series(top[chosen] + 1, index=matrix.index[chosen], name="label",
                     dtype="int64")


def share_text(threshold: int, raters: int) -> str:
    """r / n as a percentage: '60 %'."""
    return f"{100 * threshold / raters:.4g} %"


def rule_text(threshold: int, raters: int) -> str:
    """'more than 6 of 10 votes for one emotion (more than 60 % of its counted votes)'."""
    return (f"more than {threshold} of {raters} votes for one emotion (more than "
            f"{share_text(threshold, raters)} of its counted votes)")
