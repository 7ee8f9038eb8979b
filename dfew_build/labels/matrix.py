"""The vote matrix n_ij (clips x 7): DFEW's l_1..l_7 per clip, derived from `vote` rows.

One grouped query; nothing stores a copy that could drift (DESIGN.md §3).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Vote
from dfew_build.emotions import NAMES, NUM_EMOTIONS


def vote_matrix(session: Session, clip_ids=None) -> pd.DataFrame:
    """Vote counts per clip and emotion: index `clip_id`, columns the 7 names in DFEW order.

    Only clips with at least one vote appear (optionally restricted to `clip_ids`).
    """
    query = (select(Vote.clip_id, Vote.emotion, func.count())
             .group_by(Vote.clip_id, Vote.emotion))
    if clip_ids is not None:
        query = query.where(Vote.clip_id.in_(list(clip_ids)))
    rows = session.execute(query).all()
    return matrix_from_counts(rows)


def matrix_from_counts(rows) -> pd.DataFrame:
    """(clip_id, emotion code 1..7, count) triples -> the clips x 7 matrix."""
    if not rows:
        return pd.DataFrame(np.zeros((0, NUM_EMOTIONS), dtype=np.int64), columns=list(NAMES),
                            index=pd.Index([], name="clip_id", dtype=np.int64))
    data = np.asarray(rows, dtype=np.int64)
    clip_ids, inverse = np.unique(data[:, 0], return_inverse=True)
    counts = np.zeros((len(clip_ids), NUM_EMOTIONS), dtype=np.int64)
    np.add.at(counts, (inverse, data[:, 1] - 1), data[:, 2])
    return pd.DataFrame(counts, columns=list(NAMES),
                        index=pd.Index(clip_ids, name="clip_id"))
