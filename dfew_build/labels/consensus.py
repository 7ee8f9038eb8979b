"""The single-label subset: emotion k when l_k > r (DFEW: r = 6, i.e. at least 7 of 10)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dfew_build.errors import LabelsError

DEFAULT_THRESHOLD = 6


def single_labels(matrix: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.Series:
    """Clip id -> emotion code 1..7 for the clips where one emotion has more than
    `threshold` votes; clips without such a majority are left out.

    The columns are the 7 emotions in DFEW order (as `vote_matrix` returns them). With
    more votes than 2 (threshold + 1) two emotions could both pass; such a clip has no
    single label.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) \
            or threshold < 0:
        raise LabelsError(f"the single-label threshold must be a whole number >= 0, "
                          f"not {threshold!r}")
    values = np.asarray(matrix.to_numpy(), dtype=np.int64)
    if values.ndim != 2 or (len(values) and values.shape[1] != 7):
        raise LabelsError(f"a vote matrix has 7 emotion columns, not {values.shape[-1]}")
    passing = values > threshold
    chosen = passing.sum(axis=1) == 1
    top = passing.argmax(axis=1)
    return pd.Series(top[chosen] + 1, index=matrix.index[chosen], name="label",
                     dtype="int64")
