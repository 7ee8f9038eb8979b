"""The single-label subset: emotion k when l_k > r (DFEW: r = 6, i.e. at least 7 of 10)."""

from __future__ import annotations

import pandas as pd

DEFAULT_THRESHOLD = 6


def single_labels(matrix: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD) -> pd.Series:
    """Clip id -> emotion code 1..7 for the clips where one emotion has more than
    `threshold` votes; clips without such a majority are left out."""
    if threshold < 0:
        raise ValueError(f"threshold must be >= 0, got {threshold}")
    values = matrix.to_numpy()
    top = values.argmax(axis=1) if len(values) else values.sum(axis=1)
    chosen = values.max(axis=1) > threshold if len(values) else values.sum(axis=1) > 0
    labels = pd.Series(top[chosen] + 1, index=matrix.index[chosen], name="label")
    return labels.astype("int64")
