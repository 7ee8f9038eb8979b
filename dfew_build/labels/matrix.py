"""The vote matrix n_ij (clips x 7): DFEW's l_1..l_7 per clip, derived from `vote` rows.

One grouped query; nothing stores a copy that could drift (DESIGN.md §3). The query
returns one row per clip with the seven counts (conditional sums), so 10M votes come
back as 1M short rows rather than ~2-3M (clip, emotion, count) triples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from dfew_build.db.models import Vote
from dfew_build.emotions import EMOTIONS, NAMES, NUM_EMOTIONS
from dfew_build.errors import LabelsError

# Above this many ids the filter is applied in numpy after one full query: an SQL IN list
# binds one parameter per id, and SQLite allows at most 32,766.
MAX_IN_LIST = 10_000


def fetch_array(session: Session, query, columns: int, dtype=np.int64) -> np.ndarray:
    """A numeric query's rows as an array [rows, columns], read through the DBAPI cursor:
    SQLAlchemy Row objects cost ~10x more per row than plain tuples at this scale. Only
    for queries whose parameters are numbers (they are rendered as literals)."""
    connection = session.connection()
    sql = str(query.compile(dialect=connection.dialect,
                            compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        chunks = []
        while True:
            rows = cursor.fetchmany(200_000)
            if not rows:
                break
            chunks.append(np.array(rows, dtype=dtype).reshape(len(rows), columns))
    finally:
        cursor.close()
    return np.concatenate(chunks) if chunks else np.zeros((0, columns), dtype=dtype)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(np.zeros((0, NUM_EMOTIONS), dtype=np.int64), columns=list(NAMES),
                        index=pd.Index([], name="clip_id", dtype=np.int64))


def _frame(clip_ids: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(counts, columns=list(NAMES), index=pd.Index(clip_ids, name="clip_id"))


def vote_matrix(session: Session, clip_ids=None) -> pd.DataFrame:
    """Vote counts per clip and emotion: index `clip_id` (ascending), columns the 7 names in
    DFEW order, int64.

    Only clips with at least one vote appear (optionally restricted to `clip_ids`).
    """
    counts = [func.sum(case((Vote.emotion == e.code, 1), else_=0)) for e in EMOTIONS]
    query = select(Vote.clip_id, *counts).group_by(Vote.clip_id).order_by(Vote.clip_id)
    wanted = None
    if clip_ids is not None:
        wanted = np.unique(np.asarray(list(clip_ids), dtype=np.int64))
        if not len(wanted):
            return _empty()
        if len(wanted) <= MAX_IN_LIST:
            query = query.where(Vote.clip_id.in_(wanted.tolist()))
        else:
            query = query.where(Vote.clip_id.between(int(wanted[0]), int(wanted[-1])))
    data = fetch_array(session, query, 1 + NUM_EMOTIONS)
    if not len(data):
        return _empty()
    if wanted is not None and len(wanted) > MAX_IN_LIST:
        data = data[np.isin(data[:, 0], wanted)]
    return _frame(data[:, 0], data[:, 1:])


def matrix_from_counts(rows) -> pd.DataFrame:
    """(clip_id, emotion code 1..7, count) triples -> the clips x 7 matrix (rows of the same
    clip and emotion add up)."""
    if not hasattr(rows, "__len__"):
        rows = list(rows)
    data = np.asarray(rows if len(rows) else np.zeros((0, 3)), dtype=np.int64)
    if not len(data):
        return _empty()
    if data.ndim != 2 or data.shape[1] != 3:
        raise LabelsError(f"vote counts must be (clip_id, emotion, count) triples, "
                          f"got an array of shape {data.shape}")
    bad = (data[:, 1] < 1) | (data[:, 1] > NUM_EMOTIONS)
    if bad.any():
        raise LabelsError(f"emotion code {int(data[bad, 1][0])} for clip "
                          f"{int(data[bad, 0][0])} is not in 1..{NUM_EMOTIONS}")
    clip_ids, inverse = np.unique(data[:, 0], return_inverse=True)
    counts = np.zeros((len(clip_ids), NUM_EMOTIONS), dtype=np.int64)
    np.add.at(counts, (inverse, data[:, 1] - 1), data[:, 2])
    return _frame(clip_ids, counts)


def complete_rows(matrix: pd.DataFrame, raters: int) -> tuple[pd.DataFrame, int]:
    """The clips with exactly `raters` votes, and how many clips have fewer (left out).

    Clips with more votes than raters break the n-raters model behind Fleiss' kappa and the
    l_k > r rule: LabelsError naming them.
    """
    if raters < 1:
        raise LabelsError(f"the number of raters per clip must be at least 1, not {raters}")
    totals = matrix.to_numpy().sum(axis=1)
    over = totals > raters
    if over.any():
        ids = matrix.index[over]
        shown = ", ".join(f"clip {cid}: {int(t)} votes"
                          for cid, t in zip(ids[:5], totals[over][:5]))
        more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
        raise LabelsError(
            f"{len(ids)} clip(s) have more votes than the {raters} raters per clip "
            f"({shown}{more}); set [annotation] raters_per_clip in dfew.toml (or pass "
            f"--raters) to the number of votes every clip gets")
    full = totals == raters
    return matrix[full], int((~full).sum())
