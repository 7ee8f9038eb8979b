"""The single-label subset described as DFEW's Table 2: clips per emotion x duration bin."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from dfew_build.db.models import Clip
from dfew_build.emotions import EMOTIONS
from dfew_build.errors import LabelsError
from dfew_build.labels.matrix import fetch_array

# DFEW's bins: [0, 2), [2, 5), [5, inf) seconds; a clip of exactly 2 s is in 2-5s.
DURATION_BINS = (("0-2s", 0.0), ("2-5s", 2.0), ("5s+", 5.0))
BIN_NAMES = tuple(name for name, _ in DURATION_BINS)
TOTAL = "Total"


def clip_durations(session: Session) -> pd.Series:
    """clip.duration_s for every clip, indexed by clip id."""
    data = fetch_array(session, select(Clip.id, Clip.duration_s), 2, dtype=float)
    return pd.Series(data[:, 1], name="duration_s",
                     index=pd.Index(data[:, 0].astype(np.int64), name="clip_id"))


def duration_bins(durations) -> np.ndarray:
    """Bin index 0..2 for each duration (seconds)."""
    edges = np.array([start for _, start in DURATION_BINS[1:]])
    return np.searchsorted(edges, np.asarray(durations, dtype=float), side="right")


def table2(labels: pd.Series, durations: pd.Series) -> pd.DataFrame:
    """Counts per emotion (rows, DFEW order, then Total) x duration bin, with a Total column
    and Percent (of all single-labelled clips), as in DFEW's Table 2."""
    known = durations.reindex(labels.index).to_numpy()
    if np.isnan(known).any():
        missing = labels.index[np.isnan(known)][:5].tolist()
        raise LabelsError(f"no duration for clip(s) {missing}; the clip table is incomplete")
    bins = duration_bins(known)
    counts = np.zeros((len(EMOTIONS), len(DURATION_BINS)), dtype=np.int64)
    np.add.at(counts, (labels.to_numpy() - 1, bins), 1)
    frame = pd.DataFrame(counts, columns=list(BIN_NAMES),
                         index=pd.Index([e.name for e in EMOTIONS], name="emotion"))
    frame.loc[TOTAL] = frame.sum(axis=0)
    frame[TOTAL] = frame[list(BIN_NAMES)].sum(axis=1)
    total = int(frame.loc[TOTAL, TOTAL])
    frame["Percent"] = (frame[TOTAL] / total * 100).round(2) if total else 0.0
    return frame


def table2_records(frame: pd.DataFrame) -> list[dict]:
    """Table 2 as JSON-able rows: emotion, code (None for Total), bins, total, percent."""
    codes = {e.name: e.code for e in EMOTIONS}
    return [{"emotion": name, "code": codes.get(name),
             **{b: int(row[b]) for b in BIN_NAMES},
             "total": int(row[TOTAL]), "percent": float(row["Percent"])}
            for name, row in frame.iterrows()]
